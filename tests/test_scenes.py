"""Every scene's construct() runs in Manim's dry-run mode: no video, every
animation skipped to its end, and the scene looked at after each play.

An exception, or anything drawn past the frame's edge, fails here, in the fast
suite, instead of in a render.  The lookups each scene makes are the ones the
render gate verifies.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import chapters
from nnmath.checker.checks import plan
from publishing.dryrun import dry_run, dry_run_chapters
from publishing.gate import _beyond

#: the book's known layout violations (``nnbook lint``), one per line: the work
#: list of the pass over the scenes.  A new violation fails; so does a listed one
#: that is fixed, until it is struck from the list (``NNBOOK_UPDATE_LINT=1``).
LINT_BASELINE = Path(__file__).parent / "data" / "lint-baseline.txt"

ALL = chapters.all_chapters()
SCENES = [(ch.id, scene) for ch in ALL for scene in ch.scenes]


@pytest.fixture(scope="session")
def dry_runs(request):
    """Every scene of the book, dry-run once per session, a chapter per process.

    Typeset equations are kept in pytest's cache folder between sessions.
    """
    tex = request.config.cache.mkdir("manim-tex")
    return dry_run_chapters(ALL, workers=min(4, os.cpu_count() or 1), tex_dir=tex)


@pytest.mark.parametrize(
    "chapter_id, scene", SCENES, ids=[f"{c}-{s}" for c, s in SCENES]
)
def test_scene_runs_and_stays_inside_the_frame(dry_runs, chapter_id, scene):
    run = dry_runs[(chapter_id, scene)]
    assert run.problems == []
    assert run.plays > 0
    assert any(kind == "formula" for kind, _, _ in run.uses), (
        "it shows no nnmath number"
    )


def test_a_label_past_the_edge_is_reported(tmp_path):
    (tmp_path / "edge.py").write_text(
        textwrap.dedent("""
        from manim import RIGHT, FadeIn, Scene, Text
        from chapters import Chapter

        class EdgeScene(Scene):
            def construct(self):
                inside = Text("inside", font_size=30)
                outside = Text("too far right", font_size=30).move_to(RIGHT * 6.5)
                self.play(FadeIn(inside))
                self.play(FadeIn(outside))

        CHAPTER = Chapter(number=93, slug="edge", title="Edge", module=__name__,
                          formulas=(), claims=(), scenes=("EdgeScene",))
    """)
    )
    run = dry_run(chapters.get(str(tmp_path / "edge.py")), "EdgeScene")
    assert run.plays == 2
    (problem,) = run.problems
    assert problem.startswith(
        "after play 2: Text 'too far right' is cut off at the right by "
    )


def test_a_scene_that_raises_is_reported_by_name(tmp_path):
    (tmp_path / "broken.py").write_text(
        textwrap.dedent("""
        from manim import Scene
        from chapters import Chapter
        from nnmath import formula

        class BrokenScene(Scene):
            def construct(self):
                formula("sigmoid").numpy(z=[1.0, 2.0])  # one axis short

        CHAPTER = Chapter(number=94, slug="broken", title="Broken", module=__name__,
                          formulas=(), claims=(), scenes=("BrokenScene",))
    """)
    )
    ch = chapters.get(str(tmp_path / "broken.py"))
    (run,) = dry_run_chapters([ch]).values()
    (problem,) = run.problems
    assert problem.startswith(
        "raised ShapeError: sigmoid: z has shape (2,) but must be"
    )


def test_the_gate_verifies_the_adam_chapter_8_trains_its_cnn_with(dry_runs):
    # chapter 8 shows 96.4% from a CNN trained with Adam, but lists no Adam
    ch8 = chapters.get("8")
    assert not any(n.startswith("adam") for n in ch8.formulas)
    uses = {s: dry_runs[(ch8.id, s)].uses for s in ch8.scenes}
    formulas, claims, users = _beyond(ch8, uses)
    labels = [label for label, _ in plan(formulas, claims)]
    assert "adam(learning_rate=0.01) keras-trajectory" in labels
    assert "adam_m(learning_rate=0.01) keras-trajectory" in labels
    assert users["adam(learning_rate=0.01)"]  # named by the scenes that looked it up


def test_the_book_breaks_no_layout_rule_beyond_the_listed_ones(dry_runs):
    found = sorted(
        {f"{cid} {v.key}" for (cid, _), run in dry_runs.items() for v in run.layout}
    )
    if os.environ.get("NNBOOK_UPDATE_LINT"):
        LINT_BASELINE.write_text("".join(f"{line}\n" for line in found))
        pytest.skip(f"wrote {len(found)} lines to {LINT_BASELINE.name}")
    listed = set(LINT_BASELINE.read_text().splitlines())
    new = [line for line in found if line not in listed]
    fixed = sorted(listed - set(found))
    assert not new, "new layout violations:\n" + "\n".join(new)
    assert not fixed, "fixed; strike from the list:\n" + "\n".join(fixed)
