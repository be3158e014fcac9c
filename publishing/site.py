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

from .bundle import Bundle, bundle_scene
from .cache import atomic_copy, atomic_write, file_sha
from .gate import Verified, chapter_checks
from .render import render_chapters
from .texsvg import typeset

__all__ = ["build_site", "Badge", "badges", "page_html"]

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

CSS = """
body { font: 18px/1.55 Georgia, 'DejaVu Serif', serif; max-width: 50em;
       margin: 2em auto; padding: 0 1em; color: #1d1d1f; background: #fdfdfb; }
nav { font-family: sans-serif; font-size: 0.85em; margin-bottom: 2em; }
nav a { margin-right: 1.2em; }
h1, h2, h3 { font-family: sans-serif; line-height: 1.2; }
img.math { display: inline-block; }
.nowrap { white-space: nowrap; }
div.equation { text-align: center; margin: 1.2em 0; overflow-x: auto; }
figure { margin: 2em 0; }
video { max-width: 100%; height: auto; background: #000; border-radius: 4px; }
figcaption { font-family: sans-serif; font-size: 0.85em; color: #555; }
table.checks { border-collapse: collapse; font: 0.8em sans-serif; width: 100%; }
table.checks td, table.checks th { border-bottom: 1px solid #ddd; padding: 0.3em 0.5em;
                                   text-align: left; }
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
        md = markdown.Markdown(extensions=["extra", "sane_lists"])
        if not raw_html:  # Python-Markdown's documented way to escape raw HTML
            md.preprocessors.deregister("html_block")
            md.inlinePatterns.deregister("html")
        return md.convert(text)

    passed, escaped = convert(True), convert(False)
    if not safe:
        return passed, passed != escaped
    import nh3

    return nh3.clean(escaped), passed != escaped


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


def _video(b: Bundle, site: Path) -> str:
    rel = lambda p: html.escape(p.relative_to(site).as_posix())  # noqa: E731
    return (
        f'<figure id="{html.escape(b.scene)}"><video controls preload="metadata" '
        f'width="{b.width}" height="{b.height}" poster="{rel(b.poster)}">'
        f'<source src="{rel(b.webm)}" type="video/webm">'
        f'<source src="{rel(b.mp4)}" type="video/mp4"></video>'
        f"<figcaption>{html.escape(b.scene)}</figcaption></figure>"
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
        '<table class="checks"><tr><th></th><th>checked</th><th>kind</th>'
        "<th>max abs error, float64</th><th>float32</th><th>oracles</th>"
        "<th>checks</th></tr>" + "".join(rows) + "</table>"
    )


def _page(title: str, nav: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width">'
        f"<title>{html.escape(title)}"
        '</title><link rel="stylesheet" href="style.css"></head>'
        f"<body><nav>{nav}</nav>{body}</body></html>\n"
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
    """The chapter page: prose with SVG equations, videos, verification badges."""
    placed: set[str] = set()
    by_scene = {b.scene: b for b in bundles}

    def scene(m: re.Match) -> str:
        name = m.group(1).strip()
        if name not in by_scene:
            raise ValueError(
                f"{ch.id} prose places scene {name!r}; valid: " + ", ".join(by_scene)
            )
        placed.add(name)
        return f"\n\n@@VIDEO:{name}@@\n\n"

    prose = _SCENE.sub(scene, ch.prose or f"# {ch.title}\n")
    body = _math_html(prose, site / "eq", site, cache, safe)
    for name in placed:
        body = body.replace(f"<p>@@VIDEO:{name}@@</p>", _video(by_scene[name], site))
    rest = [b for b in bundles if b.scene not in placed]
    if rest:
        body += "<h2>Videos</h2>" + "".join(_video(b, site) for b in rest)
    items = badges(checks)
    passed = sum(b.passed for b in items)
    body += (
        f'<h2 id="verification">Verification</h2><p>{passed} of {len(items)} '
        "claims and formulas verified by <code>nnbook verify</code> for exactly the "
        "maths on this page.</p>" + _badge_table(items)
    )
    return _page(f"{ch.id}: {ch.title}", nav, body)


#: ``on_step(chapter, step)``: what the build is doing
Step = Callable[[Chapter, str], None]


def build_site(
    chapters: list[Chapter],
    out: Path,
    *,
    media: Path,
    cache: Path,
    quality: str = "l",
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
    rendered = render_chapters(
        chapters,
        quality=quality,
        fmt="mp4",
        out_dir=media,
        force=force,
        verify=verify,
        on_verified=on_verified,
        **run,
    )
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "style.css", CSS)
    verified = {}
    for ch in chapters:
        # the gate has just verified all of it (cached): this only reads it back
        uses = {
            r.job.scene: r.uses
            for r in rendered
            if (r.job.module, r.job.path) == (ch.module, ch.path)
        }
        verified[ch.id] = chapter_checks(ch, cache, uses)
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
        links = ['<a href="index.html">Contents</a>']
        if i > 0:
            links.append(
                f'<a href="{chapters[i - 1].id}.html">← '
                f"{html.escape(chapters[i - 1].title)}</a>"
            )
        if i + 1 < len(chapters):
            links.append(
                f'<a href="{chapters[i + 1].id}.html">'
                f"{html.escape(chapters[i + 1].title)} →</a>"
            )
        checks = verified[ch.id]
        atomic_write(
            out / f"{ch.id}.html",
            page_html(ch, bundles, checks, out, cache, " ".join(links), safe),
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
