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

    # chapters that together use every kind of page content (a worked neuron,
    # the chain rule's coloured cards, histograms and a trained network), and a
    # lecturer's chapter beside them.  The whole book (41 scenes, every chapter
    # verified) took 865 s of the suite's 23 minutes; every chapter's prose and
    # scene placement is checked without a browser (test_every_book_scene_…).
    book = ["chapter1", "chapter5", "chapter9"]
    assert set(book) <= {ch.id for ch in chapters.all_chapters()}
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


# -- issue 13: the site reads like a book -------------------------------------------
def _fake_bundles(site: Path, names) -> list:
    """Bundles whose files are only named (page_html links them, reads none)."""
    from publishing.bundle import Bundle

    media = site / "media" / "chapter99"
    return [
        Bundle(
            n,
            media / f"{n}.mp4",
            media / f"{n}.webm",
            media / f"{n}.png",
            None,
            854,
            480,
        )
        for n in names
    ]


def _prose_chapter(tmp_path: Path, prose: str, scenes=("AScene", "BScene")):
    from chapters import Chapter

    (tmp_path / "p.md").write_text(prose)
    (tmp_path / "p.py").write_text(
        'class BScene:\n    """The second picture,\n    in ``two`` lines.\n\n'
        '    Details for authors."""\n'
    )
    return Chapter(
        number=99,
        slug="p",
        title="A page",
        module=f"nnbook_test_page_{abs(hash(str(tmp_path)))}",
        path=str(tmp_path / "p.py"),
        formulas=(),
        claims=(),
        scenes=tuple(scenes),
        prose_file=str(tmp_path / "p.md"),
    )


PLACED = """# A page

Opening words.

## First: $z = Wx + b$

Before the video.

{{scene:AScene}}
A sentence about the video, with $a = \\sigma(z)$ in it.

After the video.

### A detail

## Second
"""


def test_scenes_sit_where_the_prose_places_them_with_sentence_captions(tmp_path):
    from publishing.site import page_html

    ch = _prose_chapter(tmp_path, PLACED)
    site = tmp_path / "site"
    rows = [
        Check("sigmoid'", "claim", "symbolic", "exact", True),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float64", True, 2e-16),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float32", True, 3e-8),
        Check("mse", "formula", "lowering", "float64", False, 0.5),
    ]
    page = page_html(
        ch,
        _fake_bundles(site, ["AScene", "BScene"]),
        rows,
        site,
        tmp_path / "cache",
        '<a class="contents" href="index.html">Contents</a>',
    )
    before, video, after = (
        page.index("Before the video."),
        page.index('<figure class="scene" id="AScene">'),
        page.index("After the video."),
    )
    assert before < video < after
    figure = page[video : page.index("</figure>", video)]
    caption = figure[figure.index("<figcaption>") :]
    assert caption.startswith("<figcaption>A sentence about the video, with <img")
    assert "@@" not in page and "{{scene" not in page
    assert "<p>A sentence about" not in page  # the caption is not also a paragraph
    # the box is taller than the picture: the controls sit below it
    assert 'style="--ratio:0.56206' in figure
    # a scene the prose does not place: after the prose, captioned, never its name
    rest = page[page.index('id="videos"') :]
    assert '<figure class="scene" id="BScene">' in rest
    assert "<figcaption>The second picture, in two lines.</figcaption>" in rest
    # links at the top and at the bottom, a table of sections, anchors on headings
    assert page.count('<a class="contents" href="index.html">Contents</a>') == 2
    assert page.index('<nav class="pages top">') < page.index("<h1")
    assert page.rindex('<nav class="pages bottom">') > page.index('id="verification"')
    toc = page[page.index('<nav class="toc"') : page.index("</nav>", page.index("toc"))]
    for anchor in ("first", "a-detail", "second", "videos", "verification"):
        assert f'href="#{anchor}"' in toc, anchor
        assert f'id="{anchor}"' in page
    assert '<img class="math"' in toc  # the heading's equation, typeset
    assert page.index('<nav class="toc"') < page.index('id="first"')
    assert '<a class="headerlink" href="#second"' in page


def test_verification_speaks_to_readers_first_then_authors(tmp_path):
    from publishing.site import page_html

    ch = _prose_chapter(tmp_path, "# A page\n\nWords.\n", scenes=())
    rows = [
        Check("sigmoid'", "claim", "symbolic", "exact", True),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float64", True, 2e-16),
        Check("sigmoid'", "claim", "tensorflow-gradient", "float32", True, 3e-8),
        Check("sigmoid'", "claim", "finite-differences", "float64", True, 1e-9),
        Check("mse", "formula", "lowering", "float64", False, 0.5),
    ]
    page = page_html(ch, [], rows, tmp_path / "s", tmp_path / "c", "")
    section = page[page.index('id="verification"') :]
    readers, authors = section.split('<details class="authors">')
    # what, in words (the claim's text, the formula's title), and how, as a sentence
    assert "σ&#x27;(z) = σ(z)(1 − σ(z))" in readers
    assert "Mean squared error" in readers
    assert (
        "Proved symbolically by SymPy; its numbers agree with TensorFlow&#x27;s "
        "automatic gradient (float64 and float32) and finite differences (float64)."
        in readers
    )
    assert (
        "Its numbers agree with a 50-digit evaluation of its definition in float64."
        in readers
    )
    assert "<b>1 of 2</b> passed" in readers and "FAILED" in readers
    assert "max abs error" not in readers and "max abs error" in authors
    assert "1e-09" in authors and "3e-08" in authors  # the largest, per dtype


def test_a_scene_placed_twice_is_a_prose_error_before_rendering(tmp_path):
    from chapters.base import ProseError
    from publishing.site import check_scenes

    ch = _prose_chapter(tmp_path, "{{scene:AScene}}\n\nand {{scene: AScene}}\n")
    with pytest.raises(ProseError, match=r"\{\{scene: AScene\}\} is placed twice"):
        check_scenes(ch)
    check_scenes(_prose_chapter(tmp_path, "{{scene:AScene}}\n\n{{scene:BScene}}\n"))


def test_every_book_scene_is_placed_in_its_prose_with_a_sentence_caption():
    import re

    import chapters
    from publishing.site import _PLACED

    for ch in chapters.all_chapters():
        found = {
            m.group(1).strip(): m.group(2).strip() for m in _PLACED.finditer(ch.prose)
        }
        assert sorted(found) == sorted(ch.scenes), ch.id
        for scene, caption in found.items():
            words = re.sub(r"\$[^$]*\$", "x", caption)
            assert caption[:1].isupper() and caption.endswith("."), (ch.id, scene)
            assert len(words.split()) >= 8 and "Scene" not in caption, (ch.id, scene)


def _write_video(path: Path, frames, rate: int = 15) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for f in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        container.mux(stream.encode())


def test_poster_is_the_completed_moment_not_the_richest_or_a_faded_end(tmp_path):
    import numpy as np
    from PIL import Image

    from publishing.bundle import poster_frame

    busy = np.zeros((96, 160, 3), np.uint8)
    busy[:, :70] = 255  # the most ink, mid-scene (on the black background)
    done = np.zeros_like(busy)
    done[:, 110:] = 255  # the completed picture: less ink, but the end of the story
    black = np.zeros_like(busy)
    fade = [(done * (1 - t / 8)).astype(np.uint8) for t in range(8)]
    _write_video(tmp_path / "v.mp4", [busy] * 20 + [done] * 20 + fade + [black] * 10)
    poster_frame(tmp_path / "v.mp4", tmp_path / "poster.png")
    got = np.asarray(Image.open(tmp_path / "poster.png").convert("L"), dtype=float)
    assert got[:, 112:].mean() > 200 and got[:, :70].mean() < 50


def _poster_video(path: Path) -> None:
    """Two seconds of a still 854×480 picture with bright bars along its bottom
    edge, where a player's controls would sit if they covered the picture."""
    import numpy as np

    frame = np.full((480, 854, 3), 20, np.uint8)
    frame[60:120, 100:700] = 230
    for x in range(40, 800, 90):
        frame[420:470, x : x + 60] = (240, 200, 60)
    _write_video(path, [frame] * 30)


@pytest.mark.browser
def test_chapter_page_on_a_phone_and_a_desktop_in_chromium(tmp_path):
    """Chapter 3's real page (its prose and equations; stand-in videos, no render):
    at 390 px its wide equations scroll in their own box and the page does not;
    the controls sit below the poster, not on it; links top and bottom."""
    import io

    import numpy as np
    from PIL import Image

    import chapters
    from publishing.bundle import bundle_scene
    from publishing.site import CSS, page_html

    ch = next(c for c in chapters.all_chapters() if c.id == "chapter3")
    site = tmp_path / "site"
    media = site / "media" / ch.id
    media.mkdir(parents=True)
    _poster_video(media / "still.mp4")
    bundles = []
    for scene in ch.scenes:
        shutil.copy(media / "still.mp4", media / f"{scene}.mp4")
        bundles.append(bundle_scene(media / f"{scene}.mp4", cache=tmp_path / "c"))
    checks = [Check("mse", "formula", "lowering", "float64", True, 1e-17)]
    nav = '<a class="contents" href="index.html">Contents</a>'
    page = site / "chapter3.html"
    page.write_text(page_html(ch, bundles, checks, site, tmp_path / "c", nav))
    (site / "style.css").write_text(CSS)
    poster = Image.open(bundles[0].poster).convert("RGB")

    driver = _chrome()
    try:
        for width in (390, 1200):
            driver.set_window_size(width, 900)
            driver.get(page.as_uri())
            layout = driver.execute_script(
                "const e = document.documentElement;"
                "return {page: [e.scrollWidth, e.clientWidth],"
                " eqs: [...document.querySelectorAll('div.equation')]"
                ".map(d => [d.scrollWidth, d.clientWidth]),"
                " navs: document.querySelectorAll('nav.pages a.contents').length,"
                " toc: document.querySelectorAll('nav.toc a').length,"
                " h2: document.querySelectorAll('h2[id]').length}"
            )
            assert layout["page"][0] <= layout["page"][1], (width, layout["page"])
            wide = [e for e in layout["eqs"] if e[0] > e[1]]
            if width == 390:  # the clipped cross-entropies are wider than a phone
                assert len(wide) >= 2, layout["eqs"]
                moved = driver.execute_script(
                    "const d = [...document.querySelectorAll('div.equation')]"
                    ".find(d => d.scrollWidth > d.clientWidth);"
                    "d.scrollLeft = 10000; d.scrollIntoView(); return d.scrollLeft"
                )
                assert moved > 0  # it scrolls: the rest of the equation is reachable
                driver.save_screenshot(str(tmp_path / "phone.png"))
            assert layout["navs"] == 2 and layout["toc"] == layout["h2"] >= 7
            video = driver.find_element("css selector", "figure.scene video")
            driver.execute_script("arguments[0].scrollIntoView()", video)
            deadline = time.monotonic() + 30
            while driver.execute_script(  # metadata in, and no loading spinner
                "return arguments[0].readyState < 1 || arguments[0].networkState == 2",
                video,
            ):
                assert time.monotonic() < deadline, "the video never loaded"
                time.sleep(0.2)
            time.sleep(0.5)
            shot = Image.open(io.BytesIO(video.screenshot_as_png)).convert("RGB")
            w = shot.width
            h = round(w * 480 / 854)
            assert shot.height >= h + 54, (shot.size, h)  # a band for the controls
            got = np.asarray(shot.crop((0, 0, w, h)), dtype=float)
            want = np.asarray(poster.resize((w, h), Image.BILINEAR), dtype=float)
            # the picture's bottom fifth, where the controls would cover the bars
            diff = np.abs(got - want)[-h // 5 :].mean()
            shot.save(str(tmp_path / f"video-{width}.png"))
            assert diff < 12, (width, diff)
    finally:
        driver.quit()
