"""The render gate verifies what the scenes really look up, not only what their
chapter declares, and every way to render goes through it.

A chapter file's scene looks up a wrong claim its CHAPTER does not list
(``tests/data/unverified_chapter.py``): the declared lists verify, the scene
renders, and the gate must still keep it out of ``media/``.  Each run is a
subprocess, so the wrong claim is never registered in the test process.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import run_python
from nnmath import registry
from publishing.cache import Dependencies, recorded_dependencies

DATA = Path(__file__).resolve().parent / "data"
WRONG = "sigmoid'.at_activation"


def test_a_cache_entry_gives_back_the_lookups_it_recorded():
    with registry.recording() as used:
        registry.formula("conv2d", stride=2, padding="same")
        registry.claim("sigmoid'")
    deps = recorded_dependencies(used)
    again = Dependencies(deps.modules, deps.formulas, deps.claims)
    assert again.uses() == used
    # the registry notes the checked value: stride=2 is the pair (2, 2)
    assert ("formula", "conv2d", (("padding", "same"), ("stride", (2, 2)))) in used


@pytest.fixture
def work(tmp_path):
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(DATA / "unverified_chapter.py", folder / "unverified.py")
    shutil.copy(DATA / "tiny_chapter.py", folder / "tiny.py")
    return folder


@pytest.mark.render
def test_render_refuses_a_scene_that_looks_up_an_unverified_claim(work, nnbook):
    done = nnbook("render", "unverified.py", "-o", "media", cwd=work)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "chapter92: 7 checks passed" in done.stderr  # the declared lists are fine
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"Error: not rendering chapter92: verification failed for "
        f"{WRONG} [symbolic exact]"
    )
    assert "(looked up by SlopeScene)" in last and "--no-verify" in last
    assert not (work / "media" / "chapter92").exists()

    anyway = nnbook("render", "unverified.py", "-o", "media", "--no-verify", cwd=work)
    assert anyway.returncode == 0, anyway.stderr
    assert (work / "media" / "chapter92" / "SlopeScene.mp4").is_file()


@pytest.mark.render
def test_no_python_caller_gets_an_ungated_render(work):
    script = textwrap.dedent("""
        from pathlib import Path
        import chapters
        from publishing.render import render_chapters, render_scene
        from publishing.site import build_site
        from publishing.pdf import build_pdf
        from publishing.gate import GateError

        ch = chapters.load_file("unverified.py")
        calls = {
            "render_chapters": lambda: render_chapters([ch], out_dir=Path("a")),
            "render_scene": lambda: render_scene(ch, "SlopeScene", out_dir=Path("b"),
                                                 cache=False),
            "build_site": lambda: build_site([ch], Path("site"), media=Path("c"),
                                             cache=Path("c/.cache")),
            "build_pdf": lambda: build_pdf([ch], Path("pdf"), media=Path("d"),
                                           cache=Path("d/.cache")),
        }
        for name, call in calls.items():
            try:
                call()
                print(name, "rendered")
            except GateError as exc:
                print(name, "refused:", str(exc).split(":")[0])
    """)
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{name} refused: not rendering chapter92"
        for name in ("render_chapters", "render_scene", "build_site", "build_pdf")
    ]
    placed = [
        p
        for p in work.rglob("*")
        if p.is_file() and ".cache" not in p.parts and p.suffix != ".py"
    ]
    assert placed == [], placed  # nothing in a/, b/ (not even a staged file), site/


@pytest.mark.render
def test_a_rerender_verifies_nothing_again(work, nnbook):
    first = nnbook("render", "tiny.py", "-o", "media", cwd=work)
    assert first.returncode == 0, first.stderr
    # tiny.py declares nothing: all it is checked on is what its scenes look up
    assert (
        "chapter90: 6 more checks passed, for what its scenes looked up" in first.stderr
    )
    again = nnbook("render", "tiny.py", "-o", "media", cwd=work)
    assert again.returncode == 0, again.stderr
    lines = [ln for ln in again.stderr.splitlines() if ln.startswith("chapter90:")]
    assert len(lines) == 2 and all(
        "verified before: not re-checked" in ln for ln in lines
    )
    assert again.stderr.count(": cached") == 2


def test_a_chapter_names_a_bptt_claim_as_it_names_a_cell_claim():
    """The unrolled networks' claims are in the claim registry: a chapter that
    declares ``lstm/dc0`` verifies the BPTT claim and its network (before, the
    name was unknown and only a whole-library verify reached these claims)."""
    from chapters.base import Chapter
    from nnmath.recurrence import BPTTClaim, Unrolled
    from publishing.gate import subjects

    ch = Chapter(
        number=99,
        slug="x",
        title="x",
        module=__name__,
        formulas=("lstm_cell",),
        claims=("lstm/dc0", "lstm_cell/dc"),
        scenes=(),
    )
    formulas, claims = subjects([ch])
    assert [type(c) for c in claims][0] is BPTTClaim
    assert claims[0].wrt == "c0"
    assert any(isinstance(f, Unrolled) and f.name == "lstm" for f in formulas)
    assert "rnn/dW" in registry.claim_names()


def test_looked_up_claims_whose_formula_is_checked_elsewhere_are_reused(tmp_path):
    """A scene that looks up ``tanh'`` in a chapter that declares ``tanh``: the
    looked-up run checks the claim and names its formula, whose checks are the
    chapter's.  Its filed result was never reused (every unchanged build of
    chapter 9 ran 62 checks again, twice): reuse asked for a check of every
    subject named, ``tanh`` included."""
    from publishing.gate import verify_cached

    claim = registry.claim("tanh'")
    checks, cached = verify_cached([], [claim], tmp_path, oracle=False)
    assert not cached and all(c.passed for c in checks)
    assert {c.subject for c in checks} == {"tanh'"}
    again, cached = verify_cached([], [claim], tmp_path, oracle=False)
    assert cached
    assert [c.as_dict() for c in again] == [c.as_dict() for c in checks]


_APART = """
import sys
from nnmath import registry
from publishing.gate import book_and_library
chs = book_and_library()
assert "manim" not in sys.modules, "the chapters were loaded in this process"
built = sorted(registry._CLAIMS)  # the library, built here
assert len(built) > 100, len(built)
import chapters
here = chapters.all_chapters()
for a, b in zip(chs, here):
    assert (a.id, a.module, a.formulas, a.claims, a.scenes) == (
        b.id, b.module, b.formulas, b.claims, b.scenes
    ), a.id
assert len(chs) == len(here) == len(chapters.CHAPTER_MODULES)
print("apart", len(chs))
"""


def test_verify_of_the_book_loads_its_chapters_beside_the_library_build():
    """``verify -j`` of the whole book: the chapters load in a fork while this
    process builds the library, and come back as the chapters they are."""
    done = run_python(_APART)
    assert done.returncode == 0, done.stderr
    assert "apart 12" in done.stdout


def test_a_book_chapter_registers_no_formula_or_claim():
    """What book_and_library relies on: the library a process builds before
    loading the book's chapters is all they use."""
    done = run_python(
        """
from nnmath import registry
formulas, claims = registry.names(), registry.claim_names()
import chapters
chapters.all_chapters()
assert registry.names() == formulas
assert registry.claim_names() == claims
print("none")
"""
    )
    assert done.returncode == 0, done.stderr
    assert "none" in done.stdout


def test_where_a_fork_is_unsafe_the_chapters_load_here(monkeypatch):
    import publishing.processes as processes
    from publishing.gate import book_and_library

    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not processes.can_fork()
    import chapters

    assert [c.id for c in book_and_library()] == [c.id for c in chapters.all_chapters()]
