"""``nnbook slides``: a chapter's scenes as a deck that advances a step per click.

The decks are made from the lecturer's example (``examples/gelu.py``, one short
scene with two teaching pauses) at -ql: the HTML deck in headless Chromium from
``file://``, the PPTX deck opened with python-pptx.
"""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import time
from pathlib import Path

import pytest

from chapters.blocks import teaching_pause

REPO = Path(__file__).resolve().parent.parent
GELU = REPO / "examples" / "gelu.py"


# -- the hook: nothing in a video, a slide's end in a deck ----------------------
def test_teaching_pause_does_nothing_to_a_plain_scene_and_ends_a_slide_else():
    from manim import Scene

    scene = Scene()
    teaching_pause(scene)  # a plain render: no method called, nothing recorded
    assert not hasattr(scene, "next_slide")

    class Recorder:
        calls = 0

        def next_slide(self):
            self.calls += 1

    slide = Recorder()
    teaching_pause(slide)
    teaching_pause(slide)
    assert slide.calls == 2


def _pauses(scene_class) -> int:
    """The teaching_pause calls in a scene's construct() (no loops around them)."""
    tree = ast.parse(inspect.getsource(scene_class.construct).lstrip())
    return sum(
        isinstance(n, ast.Call) and getattr(n.func, "id", "") == "teaching_pause"
        for n in ast.walk(tree)
    )


def _gelu_slides() -> int:
    """How many slides GeluScene makes: one more than its pauses."""
    from chapters import load_file, load_module

    ch = load_file(str(GELU))
    scene = getattr(load_module(ch.module, ch.path), "GeluScene")
    return _pauses(scene) + 1


def test_doctor_finds_manim_slides_after_it_was_imported():
    """manim-slides replaces its module in sys.modules by one without __spec__,
    on which importlib's find_spec raises ValueError."""
    import manim_slides  # noqa: F401

    from publishing.doctor import diagnose

    found = {f.name: f.found for f in diagnose()}
    assert found["manim-slides"] is True


# -- bad input: one line, its exit code, nothing written ------------------------
def test_unknown_target_is_a_usage_error(nnbook, tmp_path):
    done = nnbook("slides", "chapter1", "--to", "pdf", "-o", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "'html', 'pptx'" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_manim_slides_is_one_line_exit_1(nnbook, tmp_path):
    # a manim_slides that cannot be imported, first on the path
    fake = tmp_path / "fake" / "manim_slides"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not here')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(fake.parent), str(REPO), env.get("PYTHONPATH", "")]
    )
    done = nnbook("slides", "chapter1", "-o", tmp_path / "out", env=env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1
    assert "manim-slides is not installed" in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_revealjs_is_one_line_exit_1(nnbook, tmp_path):
    env = dict(os.environ, NNBOOK_REVEALJS=str(tmp_path / "nowhere"))
    done = nnbook("slides", "chapter1", "-o", tmp_path / "out", env=env)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "reveal.js" in done.stderr
    # PowerPoint needs no reveal.js: the check is for HTML only
    from publishing.slides import check_slides_tools

    check_slides_tools("pptx")


def test_unwritable_output_folder_is_one_line_exit_1(nnbook, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os_can_write(locked):  # root ignores permissions: use a file's child
            target = tmp_path / "a-file" / "out"
            (tmp_path / "a-file").write_text("")
        else:
            target = locked / "out"
        done = nnbook("slides", "chapter1", "-o", target)
    finally:
        locked.chmod(0o700)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "-o DIR" in done.stderr
    assert "Traceback" not in done.stderr


def os_can_write(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def test_a_killed_runs_staging_folder_is_removed_by_the_next(tmp_path):
    import subprocess
    import sys

    from publishing.cache import _HOST
    from publishing.slides import sweep_staging

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dead = tmp_path / f".chapter1.{_HOST}.{gone}.partial"
    live = tmp_path / f".chapter1.{_HOST}.{os.getpid()}.partial"
    other = tmp_path / f".chapter1.elsewhere.{gone}.partial"  # another machine's
    for folder in (dead, live, other):
        (folder / "chapter1_assets").mkdir(parents=True)
        (folder / "chapter1.html").write_text("<html>")
    assert sweep_staging(tmp_path) == [dead]
    assert not dead.exists() and live.is_dir() and other.is_dir()


# -- real decks ----------------------------------------------------------------
@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """One media folder (and render cache) for the module: GeluScene is rendered
    as slides once; later decks take it from the cache."""
    return tmp_path_factory.mktemp("slides-media")


def _slides(nnbook, out: Path, media: Path, *args) -> Path:
    done = nnbook(
        "slides", GELU, "-o", out, "--media", media, "-q", "l", *args, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.mark.render
def test_pptx_deck_has_a_slide_per_step_each_with_its_video(nnbook, media, tmp_path):
    from pptx import Presentation

    deck = _slides(nnbook, tmp_path / "out", media, "--to", "pptx")
    assert deck == tmp_path / "out" / "chapter101.pptx"
    slides = list(Presentation(deck).slides)
    assert len(slides) == _gelu_slides() == 3
    for slide in slides:
        videos = [
            r.target_part
            for r in slide.part.rels.values()
            if r.reltype.endswith("/video")
        ]
        assert len(videos) == 1
        assert videos[0].content_type == "video/mp4"
        assert len(videos[0].blob) > 1000  # the video itself, embedded
    # nothing but the deck: no staging folder left behind
    assert sorted(p.name for p in deck.parent.iterdir()) == ["chapter101.pptx"]


@pytest.mark.render
def test_a_chapter_whose_claims_fail_makes_no_slides(nnbook, media, tmp_path):
    folder = tmp_path / "ch"
    folder.mkdir()
    shutil.copy(REPO / "tests" / "data" / "unverified_chapter.py", folder / "u.py")
    out = tmp_path / "out"
    done = nnbook("slides", folder / "u.py", "-o", out, "--media", media)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert list(out.glob("*.html")) == []
    deck = _slides(nnbook, out, media, "--no-verify")
    assert deck.name.endswith(".html") and deck.is_file()


@pytest.mark.render
def test_an_interrupted_deck_leaves_the_old_one_whole(media, tmp_path, monkeypatch):
    """Ctrl-C while the converter writes: no half-written deck, the old one and
    its assets untouched, no staging folder left."""
    from manim_slides.convert import RevealJS

    import chapters
    from publishing import slides
    from publishing.render import SLIDES, scene_job

    ch = chapters.load_file(str(GELU))
    pack = Path(scene_job(ch, "GeluScene", fmt=SLIDES, out_dir=media).target)
    if not pack.is_file():  # rendered by an earlier test; else render it now
        slides.build_slides([ch], to="pptx", out_dir=tmp_path / "x", media_dir=media)
    out = tmp_path / "out"
    old = slides._deck(ch, [pack], "html", out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def interrupted(self, dest):
        dest.write_text("<html><head>")  # half a page
        raise KeyboardInterrupt

    monkeypatch.setattr(RevealJS, "convert_to", interrupted)
    with pytest.raises(KeyboardInterrupt):
        slides._deck(ch, [pack], "html", out)
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before and old in after
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


@pytest.mark.render
@pytest.mark.browser
def test_html_deck_works_offline_in_chromium(nnbook, media, tmp_path):
    from test_site import _chrome

    deck = _slides(nnbook, tmp_path / "out", media, "--to", "html")
    html = deck.read_text()
    assert "cdn." not in html and "://" not in html.replace(
        "https://revealjs.com/plugins/", ""
    )  # nothing to fetch: reveal.js and the videos are beside the page
    driver = _chrome()
    try:
        driver.get(deck.as_uri())
        deadline = time.monotonic() + 30
        while not driver.execute_script("return !!(window.Reveal && Reveal.isReady())"):
            assert time.monotonic() < deadline, "reveal.js did not start"
            time.sleep(0.1)
        assert driver.execute_script("return Reveal.getTotalSlides()") == 3
        assert driver.execute_script("return Reveal.getIndices().h") == 0
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        ActionChains(driver).send_keys(Keys.ARROW_RIGHT).perform()  # a click
        deadline = time.monotonic() + 10
        while driver.execute_script("return Reveal.getIndices().h") != 1:
            assert time.monotonic() < deadline, "the right arrow did not advance"
            time.sleep(0.1)
        sources = driver.execute_script(
            "return [...document.querySelectorAll('[data-background-video]')]"
            ".map(s => new URL(s.dataset.backgroundVideo, location.href).href)"
        )
        assert len(sources) == 3
        for url in sources:
            assert url.startswith("file://")
            assert Path(url.removeprefix("file://")).is_file(), url
        deadline = time.monotonic() + 30
        while True:  # the background videos reveal.js made learn their duration
            videos = driver.execute_script(
                "return [...document.querySelectorAll('.slide-background video')]"
                ".map(v => [v.currentSrc, v.readyState, v.duration, v.error])"
            )
            if (videos and all(v[1] >= 1 for v in videos)) or (
                time.monotonic() > deadline
            ):
                break
            time.sleep(0.2)
        assert videos
        for src, ready, duration, error in videos:
            assert error is None and ready >= 1 and duration > 0, src
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    finally:
        driver.quit()
