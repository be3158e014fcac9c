"""``nnbook build``: equations as SVG, badges from verification, embed bundles, and
the built site opened in Debian's Chromium (headless, through Selenium)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from nnmath.checker.checks import Check
from publishing.bundle import bundle_scene, snippets
from publishing.site import _math_html, badges
from publishing.texsvg import TexError, typeset

REPO = Path(__file__).resolve().parent.parent


def test_prose_math_becomes_svg_images_inline_and_displayed(tmp_path):
    site = tmp_path / "site"
    body = _math_html(
        "Weights $w_j$, and a bias $b$.\n\n$$z = \\sum_j w_j x_j + b$$\n",
        site / "eq",
        site,
        tmp_path / "cache",
    )
    assert body.count('<img class="math"') == 3
    assert '<div class="equation"><img class="math"' in body
    assert (
        '<span class="nowrap"><img class="math" src="eq/' in body
    )  # "$b$." kept whole
    for src in __import__("re").findall(r'src="([^"]+)"', body):
        svg = (site / src).read_text()
        assert svg.startswith("<?xml") and "<path" in svg
    assert 'alt="w_j"' in body
    # an inline equation may wrap in the source; a paragraph break ends the search
    body = _math_html(
        "its own $\\partial L /\n\\partial w$: a $5 bill\n\nand $2.",
        site / "eq",
        site,
        tmp_path / "cache",
    )
    assert body.count('<img class="math"') == 1 and "$5 bill" in body and "$2." in body


def test_equations_are_typeset_once_and_errors_name_the_equation(tmp_path):
    first = typeset([("x^2", False)], tmp_path)
    stamp = first[("x^2", False)].path.stat().st_mtime_ns
    again = typeset([("x^2", False), ("y", True)], tmp_path)
    assert again[("x^2", False)].path.stat().st_mtime_ns == stamp
    assert again[("y", True)].depth >= 0 and again[("x^2", False)].width > 0
    with pytest.raises(
        TexError, match=r"cannot typeset \$\\nosuchmacro\$: ! Undefined"
    ):
        typeset([("y", True), (r"\nosuchmacro", True)], tmp_path)


def test_one_badge_per_subject_fails_if_any_check_failed():
    rows = [
        Check("sigmoid'", "claim", "symbolic", "exact", True),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float64", True, 2e-16),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float32", True, 3e-8),
        Check("relu'", "claim", "symbolic", "exact", True),
        Check("relu'", "claim", "finite-differences", "float64", False, 0.5),
    ]
    sig, relu = badges(rows)
    assert (sig.subject, sig.passed, sig.error64, sig.error32, sig.checks) == (
        "sigmoid'",
        True,
        2e-16,
        3e-8,
        3,
    )
    assert sig.oracles == ("symbolic", "TensorFlow")
    assert (relu.passed, relu.error64, relu.error32) == (False, 0.5, None)


# -- with real renders -----------------------------------------------------------
@pytest.fixture(scope="module")
def gelu_video(tmp_path_factory, nnbook):
    out = tmp_path_factory.mktemp("gelu")
    done = nnbook("render", REPO / "examples" / "gelu.py", "-o", out, "--no-verify")
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.mark.render
def test_bundle_has_webm_poster_and_gif_and_snippets_point_at_them(
    gelu_video, tmp_path
):
    import av
    import numpy as np
    from PIL import Image

    mp4 = tmp_path / gelu_video.name
    shutil.copy(gelu_video, mp4)
    b = bundle_scene(mp4, gif=True, cache=tmp_path / "cache")
    for path in (b.webm, b.gif):
        with av.open(str(path)) as container:
            assert container.streams.video[0].codec_context.width > 0
            frames = sum(1 for _ in container.decode(video=0))
        assert frames > 10, path
    poster = np.asarray(Image.open(b.poster).convert("L"), dtype=float)
    assert poster.shape == (480, 854) and poster.std() > 20, "the poster is blank"
    embed = snippets(b)
    assert all(b.mp4.name in text for text in embed.values())
    assert b.poster.name in embed["html"] and b.poster.name in embed["jupyter"]
    assert 'type="video/webm"' in embed["html"] and b.webm.name in embed["html"]
    assert embed["jupyter"].startswith("from IPython.display import Video")
    # a second bundle of the same video is made from the cache, not by ffmpeg
    start = time.perf_counter()
    bundle_scene(mp4, gif=True, cache=tmp_path / "cache")
    assert time.perf_counter() - start < 2


def _chrome():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert browser and driver, (
        "Debian's chromium and chromium-driver are needed (./run.sh)"
    )
    options = Options()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--mute-audio",
        "--window-size=1200,900",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.mark.render
@pytest.mark.browser
def test_built_site_works_in_chromium_from_file_urls(tmp_path, nnbook):
    out, media = tmp_path / "site", tmp_path / "media"
    import chapters

    book = [ch.id for ch in chapters.all_chapters()]
    # the whole book, and a lecturer's chapter beside it
    done = nnbook(
        "build",
        *book,
        REPO / "examples" / "gelu.py",
        "-o",
        out,
        "--media",
        media,
        "--jobs",
        2,
        timeout=2400,
    )
    assert done.returncode == 0, done.stderr
    pages = ["index.html", *(f"{c}.html" for c in book), "chapter101.html"]
    assert sorted(p.name for p in out.glob("*.html")) == sorted(pages)

    driver = _chrome()
    try:
        for page in pages:
            driver.get((out / page).as_uri())
            errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == [], f"{page}: {errors}"
            sources = driver.execute_script(
                "return [...document.querySelectorAll('video source, video[poster]')]"
                ".map(e => e.src || e.poster)"
            )
            for url in sources:
                assert url.startswith("file://")
                assert Path(url.removeprefix("file://")).is_file(), url
            deadline = time.monotonic() + 60
            while True:  # preload=metadata: every video learns its duration
                videos = driver.execute_script(
                    "return [...document.querySelectorAll('video')]"
                    ".map(v => [v.currentSrc, v.readyState, v.duration, v.error])"
                )
                if all(v[1] >= 1 for v in videos) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            for src, ready, duration, error in videos:
                assert error is None and ready >= 1 and duration > 0, (page, src)
            equations = driver.execute_script(
                "return [...document.querySelectorAll('img.math')].map(i => "
                "[i.alt, i.complete && i.naturalWidth > 0, "
                "i.getBoundingClientRect().width, i.getBoundingClientRect().height])"
            )
            for alt, loaded, width, height in equations:
                assert loaded and width > 1 and height > 1, (page, alt)
            if page != "index.html":
                assert videos and equations, page
                badges_shown = driver.execute_script(
                    "return document.querySelectorAll('.badge.pass').length"
                )
                assert badges_shown > 0
    finally:
        driver.quit()


def test_poster_is_a_still_frame_not_the_inkiest_cross_fade(tmp_path):
    import av
    import numpy as np
    from PIL import Image

    from publishing.bundle import poster_frame

    a = np.zeros((96, 160, 3), np.uint8)
    a[:, :40] = 255  # a quarter of the picture
    b = np.zeros_like(a)
    b[:, 100:] = 255  # three eighths: the richer still picture
    fade = [np.maximum(a, b) for _ in range(6)]  # both at once: the most ink, moving
    frames = [a] * 15 + fade + [b] * 15
    video = tmp_path / "fade.mp4"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())
    poster_frame(video, tmp_path / "poster.png")
    got = np.asarray(Image.open(tmp_path / "poster.png").convert("L"), dtype=float)
    assert got[:, 100:].mean() > 200 and got[:, :40].mean() < 50


def test_typesetting_without_latex_is_the_render_error_naming_the_packages(
    tmp_path, monkeypatch
):
    from publishing import tools
    from publishing.render import RenderError

    monkeypatch.setattr(tools.shutil, "which", lambda tool: None)
    with pytest.raises(
        RenderError,
        match=r"cannot typeset equations: latex, dvisvgm "
        r"not found on PATH; install it \(apt-get",
    ):
        typeset([("x", False)], tmp_path)


# -- issue 11: prose is content, not a way in --------------------------------------
@pytest.mark.parametrize(
    "latex",
    [
        r"\input{/etc/hostname}",  # an absolute path: the machine's name on a page
        r"\input{../../../../../../etc/hostname}",
        r'\input|"kpsewhich -var-value=TEXMFMAIN" \relax',  # a command (shell escape)
    ],
)
def test_latex_in_prose_reads_no_file_outside_its_folder_and_runs_no_command(
    tmp_path, latex
):
    with pytest.raises(TexError) as info:
        typeset([(latex, False)], tmp_path / "cache")
    assert "\n" not in str(info.value)
    assert not list((tmp_path / "cache").glob("*.svg"))


def test_typeset_svgs_carry_no_raw_svg_from_the_prose(tmp_path):
    special = (
        r"x \special{dvisvgm:raw <script>alert(1)</script>}"
        r'\special{html:<a href="javascript:alert(2)">}y\special{html:</a>}'
    )
    svg = typeset([(special, False)], tmp_path)[(special, False)]
    text = svg.path.read_text()
    assert "<path" in text and "script" not in text and "<a" not in text


PROSE = """# A page

Raw HTML: <span onclick="alert(1)">click</span>, <script>alert(2)</script>

<details><summary>more</summary>hidden</details>

A [link](javascript:alert(3)) and an equation $a < b$.
"""


def test_raw_html_passes_through_unless_safe(tmp_path):
    from publishing.site import _markdown, _stash_math

    text, _ = _stash_math(PROSE)
    passed, has_html = _markdown(text)
    assert has_html
    assert "<script>alert(2)</script>" in passed and "<details>" in passed
    safe, _ = _markdown(text, safe=True)
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in safe  # shown as text
    for gone in ("<script", "<span onclick", 'href="javascript:', "<details"):
        assert gone not in safe, gone
    assert "@@MATH0@@" in safe  # the equation is still placed
    # an equation's "<" is not HTML
    assert not _markdown(_stash_math("Only $a < b$ and $$c<d$$ here.")[0])[1]


def test_build_says_when_prose_has_raw_html_and_escapes_it_with_safe(
    tmp_path, monkeypatch
):
    from chapters import Chapter
    from publishing import site

    (tmp_path / "p.md").write_text(PROSE)
    ch = Chapter(
        number=97,
        slug="p",
        title="<b>Bold</b> title",
        module="p",
        formulas=(),
        claims=(),
        scenes=(),
        prose_file=str(tmp_path / "p.md"),
    )
    monkeypatch.setattr(site, "render_chapters", lambda *a, **k: [])
    monkeypatch.setattr(site, "chapter_checks", lambda *a, **k: [])
    steps = []
    for safe in (False, True):
        out = tmp_path / f"site-{safe}"
        site.build_site(
            [ch, ch],
            out,
            media=tmp_path / "m",
            cache=tmp_path / "c",
            safe=safe,
            on_step=lambda c, s: steps.append(s),
        )
        page = (out / "chapter97.html").read_text()
        assert ("<script>alert(2)</script>" in page) is not safe
        assert "<b>Bold</b> title" not in page  # a title is text, in the links too
    assert (
        "its prose has raw HTML, passed through to the page (build --safe "
        "escapes it)" in steps
    )
    assert "its prose has raw HTML, escaped (--safe)" in steps


def test_latex_that_loops_forever_is_stopped_with_one_line(tmp_path, monkeypatch):
    from publishing import texsvg

    monkeypatch.setattr(texsvg, "TEX_SECONDS", 3)
    with pytest.raises(TexError) as info:
        typeset([(r"\def\x{\x}\x", False)], tmp_path)
    assert "did not finish in 3 s" in str(info.value) and "\n" not in str(info.value)
