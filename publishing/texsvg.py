r"""LaTeX → SVG with the toolchain Manim uses (latex + dvisvgm), for the web book.

All equations of a page go through one LaTeX run: the ``preview`` package cuts
each into its own page and dvisvgm reports its depth below the baseline, so an
inline equation sits on the line of text like a glyph.  Each SVG is cached under
the hash of its source, with its size and the SHA-256 of its content (checked
before use: a damaged SVG is typeset again); only new equations are typeset.

Prose is content, not a way in: LaTeX runs with TeX's file access limited to
its working folder (``openin_any=p``, ``openout_any=p``: no absolute paths, no
``..``) and without shell escape, so ``$\input{/etc/hostname}$`` is an error,
not the machine's name on a page; dvisvgm ignores the specials that would
embed raw SVG or links; and a LaTeX loop is stopped after
:data:`TEX_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cache import atomic_copy, atomic_write, file_sha, is_sha, temp_folder
from .tools import check_latex

__all__ = ["TEX_SECONDS", "Svg", "TexError", "tex_environment", "typeset"]

PREAMBLE = r"""\documentclass{article}
\usepackage{amsmath,amssymb}
\usepackage[active,tightpage]{preview}
\begin{document}
"""
#: LaTeX typesets at 10 pt; drawn a little larger than the page's serif text
#: (whose x-height is smaller than Computer Modern's), 9 pt ↦ 1 em
PT_PER_EM = 9.0
_SIZE = re.compile(r"width=([\d.]+)pt, height=([\d.]+)pt, depth=([\d.]+)pt")
#: the longest one LaTeX run of a page may take (the whole book's pages take
#: under 2 s each); a definition that loops forever is stopped
TEX_SECONDS = 120
#: dvisvgm specials that could put raw SVG (a script) or links into an image.
#: Not ``ps``: the preview package's page sizes come through it (and Ghostscript
#: runs it in SAFER mode).  dvisvgm 3.0.3 reads only two names from this list.
_NO_SPECIALS = "--no-specials=dvisvgm,html"


def tex_environment(folder: Path | None = None) -> dict[str, str]:
    """The environment LaTeX runs in: TeX may read and write only in its working
    folder (and ``folder``, for a compiler given absolute paths, as Manim's is),
    and may run no shell command."""
    env = {**os.environ, "openin_any": "p", "openout_any": "p", "shell_escape": "f"}
    if folder is not None:
        env["TEXMFOUTPUT"] = str(folder)
    else:
        env.pop("TEXMFOUTPUT", None)
    return env


class TexError(RuntimeError):
    """An equation LaTeX cannot typeset; the message names it."""


@dataclass(frozen=True)
class Svg:
    path: Path
    width: float  # em
    height: float  # em, above and below the baseline together
    depth: float  # em below the baseline
    sha: str = ""  # SHA-256 of the SVG file


def _key(latex: str, display: bool) -> str:
    return hashlib.sha256(f"{display}:{latex}".encode()).hexdigest()[:20]


def _page(latex: str, display: bool) -> str:
    style = r"\displaystyle " if display else ""
    return rf"\begin{{preview}}${style}{latex}$\end{{preview}}" + "\n"


def run_latex(
    engine: str, source: str, folder: Path, seconds: float, error: type[Exception]
) -> subprocess.CompletedProcess:
    """``engine`` (latex, pdflatex) on ``source`` in ``folder``: no shell escape,
    no prompt, the file-access limits of :func:`tex_environment`; ``error`` in
    one line if it runs past ``seconds``."""
    try:
        return subprocess.run(
            [engine, "-no-shell-escape", "-interaction=nonstopmode"]
            + ["-halt-on-error", source],
            cwd=folder,
            capture_output=True,
            text=True,
            errors="replace",
            env=tex_environment(),
            timeout=seconds,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise error(
            f"{engine} did not finish in {seconds:g} s (a definition that loops?)"
        ) from None


def _run(tex: str, folder: Path) -> list[tuple[float, float, float]]:
    """Typeset ``tex`` in ``folder``: one SVG per page, and the size of each."""
    (folder / "eq.tex").write_text(tex, encoding="utf-8")
    done = run_latex("latex", "eq.tex", folder, TEX_SECONDS, TexError)
    if done.returncode != 0:
        refused = re.search(
            r"Not (?:reading from|writing to) (\S+) \((open\w+_any) = p\)",
            done.stderr + done.stdout,
        )
        if refused:
            raise TexError(
                f"LaTeX may not read or write {refused.group(1)}: prose "
                "reaches no file outside its working folder"
            )
        error = next(
            (line for line in done.stdout.splitlines() if line.startswith("!")),
            "LaTeX error",
        )
        raise TexError(error)
    done = subprocess.run(
        [
            "dvisvgm",
            "--no-fonts",
            "--bbox=preview",
            _NO_SPECIALS,
            "--page=1-",
            "-o",
            "eq-%p.svg",
            "eq.dvi",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        errors="replace",
        env=tex_environment(),
        timeout=TEX_SECONDS,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise TexError(f"dvisvgm failed: {last}")
    return [tuple(float(v) / PT_PER_EM for v in m) for m in _SIZE.findall(done.stderr)]


def typeset(
    equations: list[tuple[str, bool]], cache: Path
) -> dict[tuple[str, bool], Svg]:
    """SVGs of ``(latex, display)`` pairs, typeset once and kept in ``cache``.

    Raises :class:`publishing.tools.RenderError` if LaTeX is not installed and
    :class:`TexError` for an equation it cannot typeset."""
    cache.mkdir(parents=True, exist_ok=True)
    todo = sorted({e for e in equations if _cached(cache, _key(*e)) is None})
    if todo:
        check_latex("typeset equations")
        with temp_folder("tex") as tmp:
            body = "".join(_page(latex, display) for latex, display in todo)
            try:
                sizes = _run(PREAMBLE + body + r"\end{document}", Path(tmp))
            except TexError as exc:  # find the equation at fault, for the message
                for latex, display in todo:
                    try:
                        _run(
                            PREAMBLE + _page(latex, display) + r"\end{document}",
                            Path(tmp),
                        )
                    except TexError as one:
                        raise TexError(f"cannot typeset ${latex}$: {one}") from None
                raise exc
            # dvisvgm pads the page numbers (eq-01.svg …) to the widest one
            pages = sorted(Path(tmp).glob("eq-*.svg"), key=lambda p: int(p.stem[3:]))
            for page, (latex, display), size in zip(pages, todo, sizes, strict=True):
                key, sha = _key(latex, display), file_sha(page)
                atomic_copy(page, cache / f"{key}.svg", sha=sha)
                w, h, d = (round(v, 4) for v in size)
                atomic_write(
                    cache / f"{key}.json",
                    json.dumps({"sha256": sha, "width": w, "height": h, "depth": d}),
                )
    found = {}
    for latex, display in equations:
        svg = _cached(cache, _key(latex, display))
        if svg is None:  # damaged between typesetting and now
            raise TexError(f"the cached SVG of ${latex}$ changed while in use")
        found[(latex, display)] = svg
    return found


def _cached(cache: Path, key: str) -> Svg | None:
    """The cached SVG ``key`` if its entry is well formed and its content intact."""
    try:
        meta = json.loads((cache / f"{key}.json").read_text(encoding="utf-8"))
        w, h, d = (float(meta[k]) for k in ("width", "height", "depth"))
        if not (
            is_sha(meta["sha256"])
            and all(math.isfinite(v) and v >= 0 for v in (w, h, d))
        ):
            return None
        path = cache / f"{key}.svg"
        if file_sha(path) != meta["sha256"]:
            return None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return Svg(path, w, h + d, d, meta["sha256"])
