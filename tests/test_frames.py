"""Reference frames: a few moments of each chapter, drawn by Manim and compared
with stored images, as Manim's own tests compare frames.

Each frame is drawn in-process at 480p by the dry run (Cairo, no video), halved
to 427x240 by averaging 2x2 blocks, and compared with
``tests/data/frames/<chapter>-<scene>-<moment>.png``.  After a deliberate change
to a scene, write new references with ``NNBOOK_UPDATE_FRAMES=1`` and look at them.

Tolerance, measured on this machine (``test_the_tolerance_*``): the same scene
drawn twice is identical to the bit.  A pixel counts as changed when a channel
moves by more than 48 of 255: shifting a label by a third of a pixel (as
another release of Cairo or Pango may place glyphs) moves up to about 190
pixels by more than 32 but none by more than 48.  A frame matches while at most
4 of its 102 480 pixels changed: one digit changed from 3 to 8 in 18-point type,
the smallest the scenes use, changes 5; a label moved by 3 pixels, over 100.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import chapters
from publishing.dryrun import dry_run_chapters

REFERENCES = Path(__file__).resolve().parent / "data" / "frames"
#: (chapter, scene) → moments: play numbers, or -1 for the end of the scene
FRAMES = {
    ("chapter1", "NeuronScene"): (-1,),
    ("chapter1", "ForwardPassScene"): (-1,),
    ("chapter2", "SigmoidScene"): (-1,),
    ("chapter2", "SoftmaxScene"): (-1,),
    ("chapter3", "ClippingScene"): (-1,),
    ("chapter3", "TutorialLossScene"): (-1,),
    ("chapter4", "TrapScene"): (-1,),
    ("chapter4", "TutorialLoopScene"): (-1,),
    ("chapter5", "ChainRuleScene"): (-1,),
    ("chapter5", "SigmoidSlipScene"): (3, -1),
    ("chapter6", "RaceScene"): (-1,),
    ("chapter6", "AdamStepScene"): (-1,),
    ("chapter7", "SlidingWindowScene"): (-1,),
    ("chapter7", "EdgeScene"): (-1,),
    ("chapter8", "PoolingScene"): (-1,),
    ("chapter8", "CNNForwardScene"): (-1,),
    ("chapter9", "BatchNormBackwardScene"): (-1,),
    ("chapter9", "WeightDecayScene"): (-1,),
    ("chapter10", "UnrolledScene"): (-1,),
    ("chapter10", "BackThroughTimeScene"): (-1,),
    ("chapter11", "LSTMStepScene"): (-1,),
    ("chapter11", "GRUScene"): (-1,),
    ("chapter12", "PatternScene"): (-1,),
    ("chapter12", "CausalMaskScene"): (-1,),
}
MOMENTS = [(c, s, k) for (c, s), ks in FRAMES.items() for k in ks]
#: a pixel has changed when one of its channels moved by more than this (of 255)
CHANGED = 48
#: a frame matches while at most this many of its pixels changed
TOLERANCE = 4


def halve(frame: np.ndarray) -> np.ndarray:
    """A frame at half size: each pixel the mean of a 2x2 block (odd edges dropped)."""
    h, w = (frame.shape[0] // 2) * 2, (frame.shape[1] // 2) * 2
    blocks = frame[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).astype(np.float64)
    return np.rint(blocks.mean(axis=(1, 3))).astype(np.uint8)


def changed_pixels(frame: np.ndarray, reference: np.ndarray) -> int:
    """How many pixels moved by more than :data:`CHANGED` in some channel."""
    if frame.shape != reference.shape:
        return frame.shape[0] * frame.shape[1]
    moved = np.abs(frame.astype(np.int16) - reference.astype(np.int16)).max(axis=2)
    return int((moved > CHANGED).sum())


def _name(chapter: str, scene: str, moment: int) -> str:
    return f"{chapter}-{scene}-{'end' if moment == -1 else moment}.png"


@pytest.fixture(scope="module")
def drawn(request):
    # not test_scenes' folder: the two may run at once on two workers
    tex = request.config.cache.mkdir("manim-tex-frames")
    runs = dry_run_chapters(
        chapters.all_chapters(),
        workers=min(4, os.cpu_count() or 1),
        tex_dir=tex,
        frames=FRAMES,
    )
    return {
        (c, s, k): halve(runs[(c, s)].frames[k])
        for c, s, k in MOMENTS
        if k in runs[(c, s)].frames
    }


@pytest.mark.render
@pytest.mark.parametrize(
    "chapter, scene, moment", MOMENTS, ids=[_name(*m)[:-4] for m in MOMENTS]
)
def test_frame_matches_its_reference(drawn, chapter, scene, moment, tmp_path):
    from PIL import Image

    frame = drawn.get((chapter, scene, moment))
    assert frame is not None, f"{scene} has no play {moment}"
    path = REFERENCES / _name(chapter, scene, moment)
    if os.environ.get("NNBOOK_UPDATE_FRAMES"):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(frame).save(path, optimize=True)
        pytest.skip(f"wrote {path.name}; look at it before committing")
    assert path.is_file(), f"no reference {path.name}: run with NNBOOK_UPDATE_FRAMES=1"
    reference = np.asarray(Image.open(path).convert("RGB"))
    changed = changed_pixels(frame, reference)
    if changed > TOLERANCE:
        Image.fromarray(frame).save(tmp_path / path.name)
    assert changed <= TOLERANCE, (
        f"{changed} pixels of {path.name} changed (tolerance {TOLERANCE}); the new "
        f"frame is {tmp_path / path.name}"
    )


def _draw(text: str, shift: float = 0.0) -> np.ndarray:
    """One line of numbers in the scenes' smallest type, drawn at 480p and halved."""
    from manim import Scene, Text, tempconfig

    with tempconfig({"quality": "low_quality", "dry_run": True, "verbosity": "ERROR"}):
        scene = Scene()
        scene.add(Text(text, font_size=18).shift([shift, 0, 0]))
        scene.renderer.update_frame(scene, ignore_skipping=True)
        return halve(scene.renderer.get_frame()[..., :3])


def test_the_tolerance_catches_a_changed_digit_and_a_moved_label():
    base = _draw("0.240 0.217 0.230")
    assert changed_pixels(_draw("0.240 0.217 0.230"), base) == 0
    assert changed_pixels(_draw("0.240 0.217 0.280"), base) > TOLERANCE
    assert changed_pixels(_draw("0.240 0.217 0.230", shift=0.05), base) > 100


def test_the_tolerance_lets_a_glyph_placed_a_third_of_a_pixel_off_pass():
    base = _draw("0.240 0.217 0.230")
    assert changed_pixels(_draw("0.240 0.217 0.230", shift=0.005), base) <= TOLERANCE
