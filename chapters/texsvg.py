"""LaTeX → SVG with the toolchain Manim uses (latex + dvisvgm), for the web book.

All equations of a page go through one LaTeX run: the ``preview`` package cuts
each into its own page and dvisvgm reports its depth below the baseline, so an
inline equation sits on the line of text like a glyph.  Each SVG is cached under
the hash of its source; only new equations are typeset.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .cache import atomic_copy, atomic_write
from .render import check_latex

__all__ = ["Svg", "TexError", "typeset"]

PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\usepackage[active,tightpage]{preview}
\begin{document}
"""
#: LaTeX typesets at 10 pt; drawn a little larger than the page's serif text
#: (whose x-height is smaller than Computer Modern's), 9 pt ↦ 1 em
PT_PER_EM = 9.0
_SIZE = re.compile(r"width=([\d.]+)pt, height=([\d.]+)pt, depth=([\d.]+)pt")


class TexError(RuntimeError):
    """An equation LaTeX cannot typeset; the message names it."""


@dataclass(frozen=True)
class Svg:
    path: Path
    width: float  # em
    height: float  # em, above and below the baseline together
    depth: float  # em below the baseline


def _key(latex: str, display: bool) -> str:
    return hashlib.sha256(f"{display}:{latex}".encode()).hexdigest()[:20]


def _page(latex: str, display: bool) -> str:
    style = r"\displaystyle " if display else ""
    return rf"\begin{{preview}}${style}{latex}$\end{{preview}}" + "\n"


def _run(tex: str, folder: Path) -> list[tuple[float, float, float]]:
    """Typeset ``tex`` in ``folder``: one SVG per page, and the size of each."""
    (folder / "eq.tex").write_text(tex, encoding="utf-8")
    done = subprocess.run(["latex", "-interaction=nonstopmode", "-halt-on-error", "eq.tex"],
                          cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        error = next((line for line in done.stdout.splitlines() if line.startswith("!")),
                     "LaTeX error")
        raise TexError(error)
    done = subprocess.run(["dvisvgm", "--no-fonts", "--bbox=preview", "--page=1-",
                           "-o", "eq-%p.svg", "eq.dvi"],
                          cwd=folder, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise TexError(f"dvisvgm failed: {last}")
    return [tuple(float(v) / PT_PER_EM for v in m) for m in _SIZE.findall(done.stderr)]


def typeset(equations: list[tuple[str, bool]], cache: Path) -> dict[tuple[str, bool], Svg]:
    """SVGs of ``(latex, display)`` pairs, typeset once and kept in ``cache``.

    Raises :class:`chapters.render.RenderError` if LaTeX is not installed and
    :class:`TexError` for an equation it cannot typeset."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = sorted({e for e in equations if not (cache / f"{_key(*e)}.svg").is_file()})
    if todo:
        check_latex("typeset equations")
        with tempfile.TemporaryDirectory(prefix="nnbook-tex-") as tmp:
            body = "".join(_page(latex, display) for latex, display in todo)
            try:
                sizes = _run(PREAMBLE + body + r"\end{document}", Path(tmp))
            except TexError as exc:  # find the equation at fault, for the message
                for latex, display in todo:
                    try:
                        _run(PREAMBLE + _page(latex, display) + r"\end{document}", Path(tmp))
                    except TexError as one:
                        raise TexError(f"cannot typeset ${latex}$: {one}") from None
                raise exc
            # dvisvgm pads the page numbers (eq-01.svg …) to the widest one
            pages = sorted(Path(tmp).glob("eq-*.svg"), key=lambda p: int(p.stem[3:]))
            for page, (latex, display), size in zip(pages, todo, sizes, strict=True):
                key = _key(latex, display)
                atomic_copy(page, cache / f"{key}.svg")
                atomic_write(cache / f"{key}.size", " ".join(f"{v:.4f}" for v in size))
    found = {}
    for latex, display in equations:
        key = _key(latex, display)
        w, h, d = (float(v) for v in (cache / f"{key}.size").read_text().split())
        found[(latex, display)] = Svg(cache / f"{key}.svg", w, h + d, d)
    return found
