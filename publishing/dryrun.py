"""Run a scene's ``construct()`` without making a video: Manim's dry run.

Every animation is skipped to its end and no frame is encoded, so a scene runs
in seconds instead of the minute its video takes; exceptions and layout
mistakes show up in the fast tests.  After every ``play`` (and ``wait``) the
scene is looked at: anything that reaches outside the frame is reported.  The
registry lookups the scene makes are recorded, as in a real render, and chosen
moments can be drawn as frames for the reference-frame tests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chapters.base import Chapter

from .lint import Layout, Violation, morphs

__all__ = ["FRAME_MARGIN", "DryRun", "dry_run", "dry_run_chapters", "lint_chapters"]

#: how far (scene units; the frame is 14.2 × 8) a mobject may reach past the
#: frame's edge before it counts as cut off: antialiasing's half pixel at 480p
FRAME_MARGIN = 0.02


@dataclass
class DryRun:
    """What a scene did without a video: how many plays, what it looked up,
    where it left the frame, and the frames asked for (play index → RGB)."""

    scene: str
    plays: int = 0
    uses: set = field(default_factory=set)
    problems: list[str] = field(default_factory=list)
    layout: list[Violation] = field(default_factory=list)
    frames: dict[int, np.ndarray] = field(default_factory=dict)


def _name(m) -> str:
    """A mobject as a problem report names it: its text if it has one."""
    for attr in ("original_text", "tex_string", "text"):
        text = getattr(m, attr, None)
        if isinstance(text, str) and text.strip():
            short = " ".join(text.split())
            return f"{type(m).__name__} {short[:50]!r}"
    texts = [_name(s) for s in m.submobjects[:1]]
    inner = f" holding {texts[0]}" if texts and "'" in texts[0] else ""
    return f"{type(m).__name__}{inner}"


def _drawn(m) -> bool:
    """Whether Cairo paints anything of ``m`` itself (a ValueTracker, an empty
    group or a fully transparent shape paints nothing)."""
    from manim import ImageMobject, VMobject

    if isinstance(m, ImageMobject):
        return True
    if not isinstance(m, VMobject) or not m.has_points():
        return False
    stroke = m.get_stroke_width() > 0 and m.get_stroke_opacity() > 0
    return stroke or m.get_fill_opacity() > 0


def _outside(mobjects: Iterable, width: float, height: float) -> list[str]:
    """Each top-level mobject whose drawn parts reach past the frame, and where."""
    found = []
    for m in mobjects:
        drawn = [s for s in m.get_family() if _drawn(s)]
        if not drawn:
            continue
        points = np.concatenate(
            [s.points for s in drawn if s.has_points()] or [np.zeros((0, 3))]
        )
        if not len(points):  # images only
            points = np.array(
                [s.get_corner(c) for s in drawn for c in ((-1, -1, 0), (1, 1, 0))]
            )
        (x0, y0, _), (x1, y1, _) = points.min(axis=0), points.max(axis=0)
        edges = {
            "left": -x0 - width / 2,
            "right": x1 - width / 2,
            "top": y1 - height / 2,
            "bottom": -y0 - height / 2,
        }
        over = {k: v for k, v in edges.items() if v > FRAME_MARGIN}
        if over:
            where = ", ".join(f"{k} by {v:.2f}" for k, v in over.items())
            found.append(f"{_name(m)} is cut off at the {where}")
    return found


def _renderer(on_play: Callable):
    """Cairo's renderer with every animation skipped to its end, calling
    ``on_play(renderer, scene, animations)`` after each play."""
    from manim.renderer.cairo_renderer import CairoRenderer

    class Looking(CairoRenderer):
        started = 0.0  # the scene's time when the current play began

        def play(self, scene, *args, **kwargs) -> None:
            self.started = self.time
            super().play(scene, *args, **kwargs)
            on_play(self, scene, scene.animations or ())  # as this play compiled

    return Looking(skip_animations=True)


def dry_run(
    chapter: Chapter,
    scene_name: str,
    *,
    frames: Iterable[int] = (),
    quality: str = "l",
    tex_dir: Path | None = None,
) -> DryRun:
    """Run ``scene_name`` of ``chapter`` in Manim's dry-run mode.

    ``frames``: play indices (1 = after the first play; -1 = at the end) to
    draw at ``quality`` and return as RGB arrays.  ``tex_dir`` keeps Manim's
    typeset equations between runs (by default they are thrown away).
    """
    from manim import tempconfig

    from chapters import load_module
    from nnmath import registry

    from .render import QUALITIES

    run = DryRun(scene_name)
    layout = Layout(scene_name)
    wanted = set(frames)

    def look(renderer, scene, animations) -> None:
        run.plays = renderer.num_plays
        for m, target in morphs(animations):
            layout.morphed(m, target, renderer.started)
        frame = renderer.camera.frame_width, renderer.camera.frame_height
        for problem in _outside(scene.mobjects, *frame):
            run.problems.append(f"after play {run.plays}: {problem}")
            layout.report(renderer.time, "offframe", problem)
        layout.look(scene.mobjects, renderer.started, renderer.time)
        if run.plays in wanted:
            run.frames[run.plays] = _draw(renderer, scene)

    with tempfile.TemporaryDirectory(prefix="nnbook-dry-") as media:
        settings = {
            "dry_run": True,
            "quality": QUALITIES[quality],
            "verbosity": "ERROR",
            "progress_bar": "none",
            "log_to_file": False,
            "media_dir": media,
            "disable_caching": True,
            "preview": False,
        }
        if tex_dir is not None:
            settings["tex_dir"] = str(tex_dir)
        with tempconfig(settings), registry.recording() as used:
            scene_class = getattr(load_module(chapter.module, chapter.path), scene_name)
            renderer = _renderer(look)
            scene = scene_class(renderer=renderer)
            scene.render()
            layout.end(renderer.time)
            if -1 in wanted:
                run.frames[-1] = _draw(renderer, scene)
        run.uses = set(used)
    run.layout = layout.violations
    return run


def _draw(renderer, scene) -> np.ndarray:
    """The scene as it stands, drawn by Cairo: height × width × RGB."""
    renderer.static_image = None
    renderer.update_frame(scene, ignore_skipping=True)
    return renderer.get_frame()[..., :3].copy()


def _dry_chapter(
    module: str,
    path: str,
    tex_dir: str,
    frames: dict[str, tuple[int, ...]] | None = None,
) -> dict[str, DryRun]:
    """Worker: every scene of one chapter (or those ``frames`` names, with those
    frames drawn); a scene that raises is reported as a problem of its run, so
    the other scenes still run."""
    import importlib

    from chapters import load_file
    from nnmath.kernels import keep_freed_memory

    keep_freed_memory()  # as a render worker: chapter 8's scenes train a CNN
    chapter = load_file(path) if path else importlib.import_module(module).CHAPTER
    runs = {}
    for scene in chapter.scenes if frames is None else frames:
        try:
            runs[scene] = dry_run(
                chapter,
                scene,
                frames=(frames or {}).get(scene, ()),
                tex_dir=Path(tex_dir) / chapter.id if tex_dir else None,
            )
        except Exception as exc:  # noqa: BLE001 - reported, naming the scene
            first = (str(exc).strip().splitlines() or [""])[0]
            raised = f"{type(exc).__name__}: {first}"
            runs[scene] = DryRun(
                scene,
                problems=[f"raised {raised}"],
                layout=[Violation(scene, 0.0, "raised", raised)],
            )
    return runs


def dry_run_chapters(
    chapters: Iterable[Chapter],
    *,
    workers: int = 1,
    tex_dir: Path | None = None,
    frames: dict[tuple[str, str], tuple[int, ...]] | None = None,
) -> dict[tuple[str, str], DryRun]:
    """``(chapter id, scene) → DryRun`` for every scene of ``chapters`` (or
    only the scenes ``frames`` names, drawing those frames), a chapter per task
    in ``workers`` fresh processes (each chapter keeps its typeset equations in
    its own folder under ``tex_dir``, so no two processes write the same file)."""
    from .processes import FreshProcesses, signals_held

    chapters = list(chapters)
    wanted: dict[str, dict[str, tuple[int, ...]]] | None = None
    if frames is not None:
        wanted = {}
        for (cid, scene), moments in frames.items():
            wanted.setdefault(cid, {})[scene] = tuple(moments)
        chapters = [ch for ch in chapters if ch.id in wanted]
    # as a render's: Ctrl-C stops every worker at once, and what a chapter
    # prints goes to standard error
    pool = FreshProcesses(workers, stdout_to_stderr=True)
    try:
        futures = {
            ch.id: pool.submit(
                _dry_chapter,
                ch.module,
                ch.path,
                str(tex_dir) if tex_dir else "",
                None if wanted is None else wanted[ch.id],
            )
            for ch in chapters
        }
        runs = {
            (cid, scene): run
            for cid, future in futures.items()
            for scene, run in future.result().items()
        }
    except BaseException:
        with signals_held():
            pool.terminate()
        raise
    pool.shutdown(wait=True)
    return runs


def lint_chapters(
    chapters: Iterable[Chapter], *, workers: int = 1, tex_dir: Path | None = None
) -> list[Violation]:
    """Every layout rule (:mod:`publishing.lint`) broken by a scene of
    ``chapters``, in book order; a scene that raises is a violation too."""
    chapters = list(chapters)
    runs = dry_run_chapters(chapters, workers=workers, tex_dir=tex_dir)
    return [v for ch in chapters for s in ch.scenes for v in runs[(ch.id, s)].layout]
