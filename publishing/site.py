"""``nnbook build``: the book as a static HTML site.

Each chapter page has its prose, its equations as SVG typeset by the same LaTeX
toolchain as the videos, its videos (webm and mp4 with a poster), and one badge
per claim and formula from the verification of exactly this content.  Every link
is relative and nothing is fetched from a network, so the folder works from
``file://`` and from any static host.

Raw HTML in the prose passes through to the page, as Markdown intends (a
``<details>`` block, an ``<abbr>``), and the build says so, chapter by
chapter.  With ``safe=True`` (``nnbook build --safe``, for prose from
contributors you do not trust) it is escaped and shown as text, and the page's
HTML is sanitized by nh3 (Ammonia): no script, no event handler attribute, no
``javascript:`` link.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chapters.base import SCENE, Chapter, check_prose
from chapters.theme import DEFAULT as DEFAULT_THEME
from chapters.theme import get as get_theme

from .bundle import Bundle, bundle_scene
from .cache import atomic_copy, atomic_write, file_sha
from .gate import Verified, chapter_checks
from .render import render_chapters
from .texsvg import typeset

__all__ = ["build_site", "Badge", "badges", "page_html", "render_and_check"]

_DISPLAY = re.compile(r"\$\$(.+?)\$\$", re.S)
#: $…$ may wrap onto the next line of the source, but not across a paragraph
_INLINE = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\n]|\n(?!\n))+?)(?<!\\)\$")
_SCENE = SCENE
_METHODS = {
    "symbolic": "symbolic",
    "lowering": "50-digit loop oracle",
    "tensorflow-forward": "TensorFlow",
    "tensorflow-gradient": "TensorFlow",
    "finite-differences": "finite differences",
    "keras-trajectory": "Keras optimizer",
    "keras-layer": "Keras layer",
}


def site_css(theme: str = DEFAULT_THEME) -> str:
    """The site's style sheet: the page is light in both themes; the band
    around a video is the videos' background (black, or white in the light
    theme), so a light video sits on no black frame."""
    background = get_theme(theme).background
    if theme == DEFAULT_THEME:
        return CSS
    return CSS + f".player video {{ background: {background}; }}\n"


CSS = """
body { font: 18px/1.55 Georgia, 'DejaVu Serif', serif; max-width: 50em;
       margin: 1em auto; padding: 0 1em; color: #1d1d1f; background: #fdfdfb; }
nav { font-family: sans-serif; font-size: 0.85em; }
nav.pages { display: flex; justify-content: space-between; gap: 1em;
            align-items: baseline; padding: 0.6em 0; }
nav.pages.top { border-bottom: 1px solid #ddd; margin-bottom: 1.5em; }
nav.pages.bottom { border-top: 1px solid #ddd; margin-top: 3em; }
nav.pages .prev, nav.pages .next { flex: 1 1 0; }
nav.pages .next { text-align: right; }
nav.toc { background: #f3f3ef; border-radius: 4px; padding: 0.6em 1em;
          margin: 1.5em 0; }
nav.toc ul { margin: 0.3em 0 0; padding-left: 1.2em; }
nav.toc li.h3 { margin-left: 1.2em; }
h1, h2, h3 { font-family: sans-serif; line-height: 1.2; }
a.headerlink { visibility: hidden; margin-left: 0.3em; color: #999;
               text-decoration: none; font-weight: normal; }
h1:hover a.headerlink, h2:hover a.headerlink, h3:hover a.headerlink,
a.headerlink:focus { visibility: visible; }
img.math { display: inline-block; }
.nowrap { white-space: nowrap; }
/* a display equation wider than the screen scrolls inside its own box */
div.equation { text-align: center; margin: 1.2em 0; overflow-x: auto;
               overflow-y: hidden; max-width: 100%; }
div.equation img.math { max-width: none; }
pre { overflow-x: auto; max-width: 100%; }
div.wide { overflow-x: auto; max-width: 100%; }
figure { margin: 2em 0; }
/* the box is taller than the picture by the controls' height; the picture sits at
   the top, so the controls cover nothing of it (cqw: the player's own width).
   Chromium's controls are 54 px tall at every width, under a shadow gradient
   that reaches 80 px up: on the black band the gradient has nothing to shade. */
.player { container-type: inline-size; }
.player video { display: block; width: 100%; height: auto;
                aspect-ratio: 1 / calc(var(--ratio) + 0.08);
                height: calc(100cqw * var(--ratio) + 58px);
                object-fit: contain; object-position: center top;
                background: #000; border-radius: 4px; }
.player video::-webkit-media-controls-panel { background-image: none; }
figcaption { font-family: sans-serif; font-size: 0.85em; color: #444;
             margin-top: 0.4em; }
table.proofs, table.checks { border-collapse: collapse; font: 0.85em sans-serif;
                             width: 100%; }
table.checks { font-size: 0.8em; }
table.proofs td, table.proofs th, table.checks td, table.checks th {
    border-bottom: 1px solid #ddd; padding: 0.35em 0.5em; text-align: left;
    vertical-align: top; }
table.proofs .kind { color: #666; font-size: 0.85em; }
/* on a phone each row of the readers' table is a short paragraph */
@media (max-width: 40em) {
  table.proofs, table.proofs tbody, table.proofs tr, table.proofs td {
    display: block; }
  table.proofs tr:first-child { display: none; }
  table.proofs td { border: none; padding: 0.15em 0; }
  table.proofs tr { border-bottom: 1px solid #ddd; padding: 0.5em 0; }
}
details.authors { margin-top: 1em; font-family: sans-serif; font-size: 0.9em; }
.badge { display: inline-block; padding: 0.1em 0.6em; border-radius: 1em; color: #fff;
         font: bold 0.8em sans-serif; }
.pass { background: #1b7f3b; } .fail { background: #b3261e; }
code { font-size: 0.9em; }
"""


@dataclass(frozen=True)
class Badge:
    """One claim's or formula's verification, as a page shows it."""

    subject: str
    kind: str
    passed: bool
    error64: float  # largest absolute error of its float64 checks (0 if exact only)
    error32: float | None  # … of its float32 checks, if it had any
    oracles: tuple[str, ...]
    checks: int


def badges(checks) -> list[Badge]:
    """One badge per subject: passed only if all its checks passed; the largest
    absolute errors of its numeric checks; the oracles that checked it."""
    by_subject: dict[str, list] = {}
    for c in checks:
        by_subject.setdefault(c.subject, []).append(c)
    out = []
    for subject, rows in by_subject.items():

        def worst(dtype):
            errs = [
                r.max_abs for r in rows if r.dtype == dtype and r.max_abs is not None
            ]
            return max(errs) if errs else None

        # a row reporting what was not checked names no oracle
        oracles = tuple(
            dict.fromkeys(
                _METHODS.get(r.method, r.method)
                for r in rows
                if getattr(r, "checked", True)
            )
        )
        out.append(
            Badge(
                subject,
                rows[0].kind,
                all(r.passed for r in rows),
                worst("float64") or 0.0,
                worst("float32"),
                oracles,
                len(rows),
            )
        )
    return out


def _markdown(text: str, safe: bool = False) -> tuple[str, bool]:
    """(HTML, whether the text holds raw HTML).  ``safe``: raw HTML escaped as
    text, and the result sanitized."""
    import markdown

    def convert(raw_html: bool) -> str:
        md = markdown.Markdown(
            extensions=["extra", "sane_lists", "toc"],
            extension_configs={"toc": {"permalink": "#", "slugify": _slug}},
        )
        if not raw_html:  # Python-Markdown's documented way to escape raw HTML
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
        return md.convert(text)

    passed, escaped = convert(True), convert(False)
    if not safe:
        return passed, passed != escaped
    import nh3

    # the headings keep their anchors (ids and the "#" links beside them)
    attributes = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}
    for tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        attributes.setdefault(tag, set()).add("id")
    attributes.setdefault("a", set()).add("class")
    return nh3.clean(escaped, attributes=attributes), passed != escaped


def _slug(value: str, separator: str) -> str:
    """A heading's anchor from its words: an equation in it (a placeholder
    until it is typeset) adds nothing."""
    from markdown.extensions.toc import slugify

    return slugify(re.sub(r"@@MATH\d+@@", " ", value), separator)


def _stash_math(text: str) -> tuple[str, list[tuple[str, bool]]]:
    """``text`` with each $…$ and $$…$$ replaced by ``@@MATHn@@``; the equations."""
    found: list[tuple[str, bool]] = []

    def stash(display: bool):
        def repl(m: re.Match) -> str:
            found.append((m.group(1).strip(), display))
            return f"@@MATH{len(found) - 1}@@"

        return repl

    text = _DISPLAY.sub(stash(True), text)
    return _INLINE.sub(stash(False), text), found


def raw_html(ch: Chapter) -> bool:
    """Whether ``ch``'s prose holds raw HTML (passed through unless ``--safe``);
    a ``<`` inside an equation is not HTML."""
    prose = ch.prose
    return bool(prose) and _markdown(_stash_math(prose)[0])[1]


def _math_html(
    text: str, eq_dir: Path, site: Path, cache: Path, safe: bool = False
) -> str:
    """Markdown with $…$ and $$…$$ → HTML with each equation an SVG image."""
    text, found = _stash_math(text)
    body, _ = _markdown(text, safe)
    svgs = typeset(found, cache / "tex")
    for n, (latex, display) in enumerate(found):
        svg = svgs[(latex, display)]
        target = eq_dir / svg.path.name
        if not target.is_file() or file_sha(target) != svg.sha:
            atomic_copy(svg.path, target, sha=svg.sha)
        img = (
            f'<img class="math" src="{target.relative_to(site).as_posix()}" '
            f'alt="{html.escape(latex)}" style="width:{svg.width:.3f}em;'
            f'height:{svg.height:.3f}em;vertical-align:-{svg.depth:.3f}em">'
        )
        if display:
            body = body.replace(
                f"<p>@@MATH{n}@@</p>", f'<div class="equation">{img}</div>'
            )
        # keep "$b$," together: a line must not start with the comma
        body = re.sub(
            rf"@@MATH{n}@@([,.;:!?)]+)",
            lambda m: f'<span class="nowrap">{img}{m.group(1)}</span>',
            body,
        )
        body = body.replace(f"@@MATH{n}@@", img)
    return body


def _video(b: Bundle, site: Path, caption: str) -> str:
    """A figure: the video in a box taller than its picture, the picture at the
    top, so the player's controls sit in the band below it and cover nothing
    of the poster or the frames (``--ratio``: the picture's height/width)."""
    rel = lambda p: html.escape(p.relative_to(site).as_posix())  # noqa: E731
    ratio = b.height / b.width if b.width else 9 / 16
    return (
        f'<figure class="scene" id="{html.escape(b.scene)}">'
        f'<div class="player" style="--ratio:{ratio:.5f};max-width:{b.width or 854}px">'
        f'<video controls preload="metadata" width="{b.width}" height="{b.height}" '
        f'poster="{rel(b.poster)}">'
        f'<source src="{rel(b.webm)}" type="video/webm">'
        f'<source src="{rel(b.mp4)}" type="video/mp4"></video></div>'
        f"<figcaption>{caption}</figcaption></figure>"
    )


#: ``{{scene:NAME}}`` and the lines after it, up to a blank line: its caption
_PLACED = re.compile(r"\{\{scene:([^}]+)\}\}[ \t]*((?:\n?[^\n]*\S[^\n]*)*)")


def check_scenes(ch: Chapter) -> None:
    """Raise :class:`chapters.base.ProseError` for a scene the prose places twice
    (a page holds each video once), before anything is rendered."""
    from chapters.base import ProseError

    seen: set[str] = set()
    for m in _SCENE.finditer(ch.prose if ch.prose_file else ""):
        name = m.group(1).strip()
        if name in seen:
            raise ProseError(
                f"{ch.id} prose {ch.prose_path}: {m.group(0)} is placed twice; "
                "place each scene once"
            )
        seen.add(name)


def _docstring_caption(ch: Chapter, scene: str) -> str:
    """The first paragraph of the scene class's docstring, for a video the prose
    does not place (a sentence about it, not its class name)."""
    import inspect

    from chapters import load_module

    try:
        doc = inspect.getdoc(getattr(load_module(ch.module, ch.path), scene)) or ""
    except Exception:  # a caption is not worth failing a build for
        doc = ""
    first = " ".join(doc.split("\n\n")[0].split())
    return html.escape(first.replace("``", "")) if first else html.escape(scene)


#: how each oracle is named in a sentence for readers
_IN_WORDS = {
    "lowering": "a 50-digit evaluation of its definition",
    "tensorflow-forward": "TensorFlow",
    "tensorflow-gradient": "TensorFlow's automatic gradient",
    "finite-differences": "finite differences",
    "keras-trajectory": "the Keras optimizer, step by step",
    "keras-layer": "the Keras layer",
}


def _what(b: Badge) -> str:
    """What a badge's subject says, in words: a formula's title, a claim's text."""
    from nnmath import registry

    try:
        if b.kind == "formula":
            return registry.formula(b.subject).title
        if b.kind == "claim":
            return registry.claim(b.subject).text
    except Exception:  # a lecturer's subject not in the registry: its name
        pass
    return b.subject


def _how(checks: list[tuple[str, str]]) -> str:
    """How a subject was checked, as a sentence (``checks``: method, dtype)."""
    proved = any(m == "symbolic" for m, _ in checks)
    dtypes: dict[str, list[str]] = {}
    for method, dtype in checks:
        if method != "symbolic":
            kinds = dtypes.setdefault(_IN_WORDS.get(method, method), [])
            if dtype not in kinds and dtype in ("float64", "float32"):
                kinds.append(dtype)
    same = len({tuple(v) for v in dtypes.values()}) == 1

    def named(oracle: str, kinds: list[str]) -> str:
        return f"{oracle} ({' and '.join(kinds)})" if kinds and not same else oracle

    others = [named(o, k) for o, k in dtypes.items()]
    parts = ["Proved symbolically by SymPy"] if proved else []
    if others:
        listed = " and ".join(
            [", ".join(others[:-1]), others[-1]] if others[:-1] else others
        )
        kinds = next(iter(dtypes.values()))
        if same and kinds:
            listed += " in " + " and ".join(kinds)
        agree = f"its numbers agree with {listed}"
        parts.append(agree if proved else agree[0].upper() + agree[1:])
    return ("; ".join(parts) or "Checked by nnbook verify") + "."


def _verification(checks) -> str:
    """For readers: what was proved and how, one row per formula or claim; for
    authors, below and folded: each check's errors and oracles."""
    items = badges(checks)
    methods: dict[str, list[tuple[str, str]]] = {}
    for c in checks:
        if getattr(c, "checked", True):
            methods.setdefault(c.subject, []).append((c.method, c.dtype))
    passed = sum(b.passed for b in items)
    rows = []
    for b in items:
        mark = (
            '<span class="badge pass">verified</span>'
            if b.passed
            else '<span class="badge fail">FAILED</span>'
        )
        what = "A formula" if b.kind == "formula" else "A claim"
        rows.append(
            f"<tr><td>{mark}</td><td>{html.escape(_what(b))}"
            f'<div class="kind">{what}: <code>{html.escape(b.subject)}</code>'
            f"</div></td><td>{html.escape(_how(methods.get(b.subject, [])))}"
            "</td></tr>"
        )
    return (
        '<h2 id="verification">Verification</h2>'
        "<p>Every equation on this page is typeset from the same SymPy object that "
        "computes the numbers in its videos, and <code>nnbook verify</code> checked "
        "each one before this page was built: a derivative is proved symbolically, "
        "then every formula and derivative is computed and compared with "
        f"independent references. <b>{passed} of {len(items)}</b> passed.</p>"
        '<div class="wide"><table class="proofs"><tr><th></th><th>What</th>'
        "<th>How it was checked</th></tr>" + "".join(rows) + "</table></div>"
        '<details class="authors"><summary>Details for authors: the largest '
        "error of each check, its oracles</summary>"
        + _badge_table(items)
        + "</details>"
    )


def _badge_table(items: list[Badge]) -> str:
    rows = []
    for b in items:
        mark = (
            '<span class="badge pass">passed</span>'
            if b.passed
            else '<span class="badge fail">FAILED</span>'
        )
        e32 = "–" if b.error32 is None else f"{b.error32:.2g}"
        rows.append(
            f"<tr><td>{mark}</td><td><code>{html.escape(b.subject)}</code></td>"
            f"<td>{b.kind}</td><td>{b.error64:.2g}</td><td>{e32}</td>"
            f"<td>{html.escape(', '.join(b.oracles))}</td><td>{b.checks}</td></tr>"
        )
    return (
        '<div class="wide"><table class="checks"><tr><th></th><th>checked</th>'
        "<th>kind</th><th>max abs error, float64</th><th>float32</th>"
        "<th>oracles</th><th>checks</th></tr>" + "".join(rows) + "</table></div>"
    )


def _page(title: str, nav: str, body: str) -> str:
    """A page with its links (previous, contents, next) at the top and bottom."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}"
        '</title><link rel="stylesheet" href="style.css"></head>'
        f'<body><nav class="pages top">{nav}</nav><main>{body}</main>'
        f'<nav class="pages bottom">{nav}</nav></body></html>\n'
    )


_HEADING = re.compile(r'<h([23]) id="([^"]+)">(.*?)</h\1>', re.S)


def _contents(body: str) -> str:
    """The page's sections (its h2 and h3 headings), as a list of links."""
    items = []
    for level, anchor, inner in _HEADING.findall(body):
        inner = re.sub(r'<a class="headerlink".*?</a>', "", inner, flags=re.S)
        items.append(f'<li class="h{level}"><a href="#{anchor}">{inner}</a></li>')
    if not items:
        return ""
    return (
        '<nav class="toc" aria-label="Sections"><b>On this page</b><ul>'
        + "".join(items)
        + "</ul></nav>"
    )


def page_html(
    ch: Chapter,
    bundles: list[Bundle],
    checks,
    site: Path,
    cache: Path,
    nav: str,
    safe: bool = False,
) -> str:
    """The chapter page: prose with SVG equations and its videos where it places
    them (``{{scene:NAME}}``, the lines after it its caption), a table of its
    sections, and what verification proved."""
    placed: dict[str, bool] = {}
    by_scene = {b.scene: b for b in bundles}

    def scene(m: re.Match) -> str:
        name, caption = m.group(1).strip(), m.group(2).strip()
        if name not in by_scene:
            raise ValueError(
                f"{ch.id} prose places scene {name!r}; valid: " + ", ".join(by_scene)
            )
        placed[name] = bool(caption)
        out = f"\n\n@@VIDEO:{name}@@\n\n"
        return out + (f"@@CAPTION:{name}@@ {caption}\n\n" if caption else "")

    prose = _PLACED.sub(scene, ch.prose or f"# {ch.title}\n")
    body = _math_html(prose, site / "eq", site, cache, safe)
    for name, has_caption in placed.items():
        caption = r"<p>@@CAPTION:%s@@\s*(.*?)</p>" % re.escape(name)
        found = re.search(caption, body, re.S) if has_caption else None
        text = found.group(1) if found else _docstring_caption(ch, name)
        if found:
            body = body.replace(found.group(0), "")
        body = re.sub(
            r"(?:<p>)?@@VIDEO:%s@@(?:</p>)?" % re.escape(name),
            lambda _m, n=name, t=text: _video(by_scene[n], site, t),
            body,
        )
    rest = [b for b in bundles if b.scene not in placed]
    if rest:
        body += '<h2 id="videos">Videos</h2>' + "".join(
            _video(b, site, _docstring_caption(ch, b.scene)) for b in rest
        )
    body += _verification(checks)
    # the table of sections goes after the title and its opening paragraph
    toc = _contents(body)
    title_end = body.find("</h1>")
    at = body.find("<h2", title_end) if title_end >= 0 else 0
    at = at if at >= 0 else 0
    body = body[:at] + toc + body[at:]
    return _page(f"{ch.id}: {ch.title}", nav, body)


def _links(chapters: list[Chapter], i: int) -> str:
    """Chapter ``i``'s links: the previous chapter, the contents, the next one."""

    def link(j: int, rel: str) -> str:
        if not 0 <= j < len(chapters):
            return f'<span class="{rel}"></span>'  # keeps the contents centred
        title = html.escape(chapters[j].title)
        text = f"← {title}" if rel == "prev" else f"{title} →"
        return f'<a class="{rel}" rel="{rel}" href="{chapters[j].id}.html">{text}</a>'

    return (
        link(i - 1, "prev")
        + '<a class="contents" href="index.html">Contents</a>'
        + link(i + 1, "next")
    )


def render_and_check(
    chapters: list[Chapter],
    *,
    media: Path,
    cache: Path,
    quality: str = "l",
    theme: str = DEFAULT_THEME,
    force: bool = False,
    verify: bool = True,
    on_verified: Verified | None = None,
    **run,
) -> tuple[list, dict[str, list]]:
    """Render every scene of ``chapters`` as mp4 into ``media`` through the gate
    (cached), and read back each chapter's checks: what the site and the PDF show.
    Returns the rendered scenes (book order) and each chapter id's checks."""
    rendered = render_chapters(
        chapters,
        quality=quality,
        theme=theme,
        fmt="mp4",
        out_dir=media,
        force=force,
        verify=verify,
        on_verified=on_verified,
        **run,
    )
    verified = {}
    for ch in chapters:
        # the gate has just verified all of it (cached): this only reads it back
        uses = {
            r.job.scene: r.uses
            for r in rendered
            if (r.job.module, r.job.path) == (ch.module, ch.path)
        }
        verified[ch.id] = chapter_checks(ch, cache, uses)
    return rendered, verified


#: ``on_step(chapter, step)``: what the build is doing
Step = Callable[[Chapter, str], None]


def build_site(
    chapters: list[Chapter],
    out: Path,
    *,
    media: Path,
    cache: Path,
    quality: str = "l",
    theme: str = DEFAULT_THEME,
    force: bool = False,
    gif: bool = False,
    safe: bool = False,
    on_step: Step | None = None,
    verify: bool = True,
    on_verified: Verified | None = None,
    **run,
) -> Path:
    """Verify, render (cached) and write every chapter; return the index page.

    The prose's placeholders are checked first (:class:`chapters.base.ProseError`,
    before anything is rendered).  ``safe`` escapes raw HTML in the prose.
    The renders go through the gate (:func:`publishing.render.render_jobs`): a
    chapter whose declared maths or whose scenes' lookups fail verification
    stops the build, unless ``verify=False``, when its badges say FAILED.
    ``run`` goes to :func:`publishing.render.render_jobs` (``workers``, ``executor``).
    """
    note = on_step or (lambda ch, s: None)
    for ch in chapters:
        check_prose(ch)
        check_scenes(ch)
        if raw_html(ch):
            note(
                ch,
                "its prose has raw HTML, "
                + (
                    "escaped (--safe)"
                    if safe
                    else "passed through to the page (build --safe escapes it)"
                ),
            )
    rendered, verified = render_and_check(
        chapters,
        media=media,
        cache=cache,
        quality=quality,
        theme=theme,
        force=force,
        verify=verify,
        on_verified=on_verified,
        **run,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "style.css", site_css(theme))
    entries = []
    for i, ch in enumerate(chapters):
        note(ch, "writing")
        bundles = []
        for r in rendered:
            if r.path.parent.name != ch.id:
                continue
            mp4 = out / "media" / ch.id / r.path.name
            if not mp4.is_file() or file_sha(mp4) != file_sha(r.path):
                atomic_copy(r.path, mp4)
            bundles.append(bundle_scene(mp4, gif=gif, cache=cache, force=force))
        checks = verified[ch.id]
        atomic_write(
            out / f"{ch.id}.html",
            page_html(ch, bundles, checks, out, cache, _links(chapters, i), safe),
        )
        ok = all(c.passed for c in checks)
        entries.append(
            f'<li><a href="{ch.id}.html">{ch.number}. {html.escape(ch.title)}'
            f"</a> — {len(ch.scenes)} videos, "
            f'<span class="badge {"pass" if ok else "fail"}">'
            f"{sum(c.passed for c in checks)}/{len(checks)} checks</span></li>"
        )
    index = out / "index.html"
    atomic_write(
        index,
        _page(
            "nnbook",
            "<b>nnbook</b>",
            "<h1>The mathematics of neural networks</h1>"
            "<p>Every equation in this book is checked by "
            "<code>nnbook verify</code>: symbolically, against TensorFlow "
            "and by finite differences.</p><ul>" + "".join(entries) + "</ul>",
        ),
    )
    return index
