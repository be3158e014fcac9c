r"""``nnbook build --pdf``: the book on paper.

The chapters' prose goes through pandoc (Markdown → LaTeX), with every
``{{formula:…}}`` and ``{{claim:…}}`` filled in by
:func:`chapters.base.fill_equations`, so the printed equation is the very LaTeX
the checker verified.  Each video is a figure: its poster (the same file, made
the same way and cached, as the site's), its scene name linking to the video on
the chapter's page of the site built into the same folder, and its caption from
the prose.  Each chapter ends with its verification table, from the same checks
the site's badges show.  pdflatex typesets it all in a temporary folder, with
the same file-access limits as the site's equations; the finished PDF is moved
into place atomically.

Renders go through the same gate and render cache as ``nnbook build``
(:func:`publishing.site.render_and_check`): nothing is rendered twice.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from chapters.base import Chapter, check_prose
from chapters.theme import DEFAULT as DEFAULT_THEME

from .bundle import make_poster
from .cache import atomic_copy, temp_folder
from .gate import Verified
from .site import (
    _PLACED,
    Step,
    _docstring_caption,
    _how,
    _what,
    badges,
    check_scenes,
    render_and_check,
)
from .texsvg import TEX_SECONDS, run_latex
from .tools import RenderError, check_latex

__all__ = [
    "PDF_NAME",
    "PDF_TOOLS",
    "Figure",
    "PdfError",
    "book_latex",
    "display_latex",
    "markdown_to_latex",
    "build_pdf",
    "check_pdf_tools",
    "figure_latex",
    "tex_escape",
    "tex_name",
    "unicode_declarations",
    "verification_latex",
]

#: the PDF's name in the output folder
PDF_NAME = "book.pdf"
#: what a failed LaTeX run leaves in the output folder, to read
FAILED_TEX, FAILED_LOG = "book-failed.tex", "book-failed.log"
#: programs the PDF needs, and the Debian packages that install them
PDF_TOOLS = {
    "pandoc": "pandoc",
    "pdflatex": "texlive-latex-base texlive-latex-extra texlive-fonts-recommended "
    "texlive-science cm-super-minimal",
}
#: backslashes outside math are text, as on the site (whose Markdown has no raw
#: LaTeX); $…$ and $$…$$ are math
PANDOC_FROM = "markdown-raw_tex"
PREAMBLE = r"""\documentclass[11pt,a4paper,oneside,openany]{book}
\usepackage[utf8]{inputenc}
\usepackage{amsmath,amssymb}
\usepackage{graphicx,longtable,booktabs,array,calc,newunicodechar,xcolor}
\usepackage[margin=2.4cm]{geometry}
\usepackage[expansion=false]{microtype}  % expansion stops at a bitmap font
\usepackage[colorlinks,linkcolor=black,urlcolor=blue!50!black]{hyperref}
\input{glyphtounicode}\pdfgentounicode=1
% a lecturer's chapter 101 and its section 101.1 fit their numbers' boxes
\usepackage[titles]{tocloft}
\setlength{\cftchapnumwidth}{2.2em}
\setlength{\cftsecindent}{2.2em}\setlength{\cftsecnumwidth}{3.2em}
\setlength{\cftsubsecindent}{5.4em}\setlength{\cftsubsecnumwidth}{4em}
\providecommand{\tightlist}{\setlength{\itemsep}{0pt}\setlength{\parskip}{0pt}}
\setlength{\emergencystretch}{3em}
% quotes and underscores as typewriter glyphs (cmtt has them all; textcomp's
% would be bitmaps without cm-super; OT1's \_ is a rule, lost when the text is
% copied), a line may break after _
\renewcommand{\textquotesingle}{{\ttfamily\char13}}
\renewcommand{\textasciigrave}{{\ttfamily\char18}}
\renewcommand{\labelitemi}{\ensuremath{\bullet}}  % textcomp's bullet is TS1
\DeclareRobustCommand{\_}{\ifmmode\text{\textunderscore}\else
  {\ttfamily\char95}\allowbreak\fi}  % in a formula (moving\_mean) as LaTeX has it
\newsavebox{\nnbookbox}
% a display equation is scaled down to the line if it is wider
\newcommand{\nnbookfit}[1]{\sbox{\nnbookbox}{$\displaystyle #1$}%
  \ifdim\wd\nnbookbox>\linewidth
    \typeout{nnbook: an equation \the\wd\nnbookbox\space wide, scaled to the line}%
    \resizebox{\linewidth}{!}{\usebox{\nnbookbox}}%
  \else\usebox{\nnbookbox}\fi}
\newcommand{\nnbookpass}{\textcolor{green!40!black}{\textbf{verified}}}
\newcommand{\nnbookfail}{\textcolor{red!70!black}{\textbf{FAILED}}}
"""


class PdfError(RuntimeError):
    """The PDF cannot be made; the message is one line saying why."""


def check_pdf_tools() -> None:
    """Raise :class:`publishing.tools.RenderError` naming what to install if
    pandoc or pdflatex (or the LaTeX the renders need) is missing."""
    missing = [tool for tool in PDF_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(PDF_TOOLS[t] for t in missing)
        raise RenderError(
            f"cannot build the PDF: {', '.join(missing)} not found on PATH; "
            f"install it (apt-get install {packages}, or ./run.sh setup)"
        )
    check_latex("build the PDF")


#: ASCII that LaTeX reads as markup, as text in Computer Modern (OT1: every
#: CM font has a scalable Type 1 version, so the text is sharp and extractable;
#: T1 would need cm-super in every size)
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "%": r"\%",
    "_": r"\_",
    "~": r"{\ttfamily\char126}",  # the glyph, not an accent: it reads back as ~
    "^": r"{\ttfamily\char94}",
    "`": r"{\ttfamily\char18}",  # a lecturer's docstring quoting `code`
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
    "-": "-{}",  # no -- or --- ligature in a name
}
#: in a name set in typewriter type (cmtt has every ASCII character): the
#: character by its slot, so sigmoid' keeps a straight quote, not a ’
_TT = {c: f"{{\\char{ord(c)}}}" for c in '\\{}_~^<>|"-'}
_TT |= {"'": "{\\char13}", "`": "{\\char18}", "$": r"\$", "&": r"\&"}
_TT |= {"#": r"\#", "%": r"\%"}


def tex_escape(text: str) -> str:
    """``text`` as LaTeX that prints it character for character."""
    return "".join(_SPECIAL.get(c, c) for c in text)


#: where a long name may break across lines: after a / or a . rather than
#: after a _ (multi_head_attention/ | dW_o, not multi_head_attention/dW_ | o)
_BREAKS = {"/": r"\allowbreak{}", ".": r"\allowbreak{}", "_": r"\penalty300{}"}


def tex_name(name: str) -> str:
    """A name (a scene, a claim, a formula) in typewriter type, character for
    character."""
    text = "".join(_TT.get(c, c) + _BREAKS.get(c, "") for c in name)
    return r"\texttt{" + text + "}"


#: characters pdflatex's utf8 input does not know, as LaTeX (text or math)
_SYMBOLS = {
    "−": r"\ensuremath{-}",
    "×": r"\ensuremath{\times}",
    "·": r"\ensuremath{\cdot}",
    "⋅": r"\ensuremath{\cdot}",
    "√": r"\ensuremath{\surd}",
    "∂": r"\ensuremath{\partial}",
    "∇": r"\ensuremath{\nabla}",
    "→": r"\ensuremath{\to}",
    "←": r"\ensuremath{\leftarrow}",
    "↦": r"\ensuremath{\mapsto}",
    "⇒": r"\ensuremath{\Rightarrow}",
    "∞": r"\ensuremath{\infty}",
    "≈": r"\ensuremath{\approx}",
    "≤": r"\ensuremath{\le}",
    "≥": r"\ensuremath{\ge}",
    "≠": r"\ensuremath{\ne}",
    "≡": r"\ensuremath{\equiv}",
    "∝": r"\ensuremath{\propto}",
    "±": r"\ensuremath{\pm}",
    "∑": r"\ensuremath{\sum}",
    "∏": r"\ensuremath{\prod}",
    "∫": r"\ensuremath{\int}",
    "∈": r"\ensuremath{\in}",
    "∉": r"\ensuremath{\notin}",
    "⊙": r"\ensuremath{\odot}",
    "⊗": r"\ensuremath{\otimes}",
    "∘": r"\ensuremath{\circ}",
    "′": r"\ensuremath{'}",
    "‖": r"\ensuremath{\|}",
    "⟨": r"\ensuremath{\langle}",
    "⟩": r"\ensuremath{\rangle}",
    "∀": r"\ensuremath{\forall}",
    "∃": r"\ensuremath{\exists}",
    "∅": r"\ensuremath{\emptyset}",
    "ℝ": r"\ensuremath{\mathbb{R}}",
    "✓": r"\ensuremath{\checkmark}",
    "…": r"\ldots{}",
    "½": r"\ensuremath{\tfrac12}",
    "°": r"\ensuremath{^\circ}",
    "µ": r"\ensuremath{\mu}",
}
#: Greek letters whose name in Unicode differs from LaTeX's macro, or that
#: LaTeX draws with another shape
_GREEK = {
    "lamda": r"\lambda",
    "final sigma": r"\varsigma",
    "epsilon": r"\varepsilon",
    "phi": r"\varphi",
}
_GREEK_CAPITALS = set(
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split()
)
_SCRIPT_DIGITS = {"ZERO": "0", "ONE": "1", "TWO": "2", "THREE": "3", "FOUR": "4"}
_SCRIPT_DIGITS |= {"FIVE": "5", "SIX": "6", "SEVEN": "7", "EIGHT": "8", "NINE": "9"}
_SCRIPT_DIGITS |= {"MINUS": "-", "PLUS": "+", "LATIN SMALL LETTER N": "n"}
_SCRIPT_DIGITS |= {"LATIN SMALL LETTER I": "i", "EQUALS SIGN": "="}
#: combining accents after a letter (x̂: x and U+0302) and their math accents
_ACCENTS = {
    "\u0300": r"\grave",
    "\u0301": r"\acute",
    "\u0302": r"\hat",
    "\u0303": r"\tilde",
    "\u0304": r"\bar",
    "\u0305": r"\overline",
    "\u0307": r"\dot",
    "\u0308": r"\ddot",
    "\u20d7": r"\vec",
}
_ACCENTED = re.compile("(.)([" + "".join(_ACCENTS) + "])")


def _as_latex(char: str) -> str | None:
    """One character pdflatex does not know, as LaTeX; None if nnbook does not
    know it either (LaTeX then names it in its error)."""
    if char in _SYMBOLS:
        return _SYMBOLS[char]
    name = unicodedata.name(char, "")
    greek = re.fullmatch(r"GREEK (SMALL|CAPITAL) LETTER (\w+(?: SIGMA)?)", name)
    if greek:
        letter = greek.group(2).lower()
        if greek.group(1) == "SMALL":
            macro = _GREEK.get(letter, "\\" + letter)
        elif letter.title() in _GREEK_CAPITALS:
            macro = "\\" + letter.title()
        else:  # Alpha, Beta, …: the Latin capital
            macro = (
                r"\mathrm{"
                + unicodedata.lookup(f"LATIN CAPITAL LETTER {letter.upper()[0]}")
                + "}"
            )
        return rf"\ensuremath{{{macro}}}"
    modifier = re.fullmatch(r"MODIFIER LETTER (CAPITAL|SMALL) ([A-Z])", name)
    if modifier:  # θᵀ: a superscript letter
        letter = modifier.group(2)
        letter = letter if modifier.group(1) == "CAPITAL" else letter.lower()
        return rf"\ensuremath{{^{{\mathrm{{{letter}}}}}}}"
    below = re.fullmatch(r"LATIN SUBSCRIPT SMALL LETTER ([A-Z])", name)
    if below:  # xₙ
        return rf"\ensuremath{{_{{{below.group(1).lower()}}}}}"
    script = re.fullmatch(r"(SUPERSCRIPT|SUBSCRIPT) (.+)", name)
    if script and script.group(2) in _SCRIPT_DIGITS:
        mark = "^" if script.group(1) == "SUPERSCRIPT" else "_"
        return rf"\ensuremath{{{mark}{{{_SCRIPT_DIGITS[script.group(2)]}}}}}"
    return None


def unicode_declarations(tex: str) -> str:
    r"""``\newunicodechar`` lines for the characters of ``tex`` that pdflatex's
    utf8 input does not know (Greek, maths symbols, super- and subscripts).
    Letters with accents from Latin-1 and Latin Extended-A it knows."""
    lines = []
    for char in sorted({c for c in tex if ord(c) > 127}):
        latex = _as_latex(char)
        if latex is not None:
            lines.append(rf"\newunicodechar{{{char}}}{{{latex}}}")
    return "\n".join(lines) + "\n"


def _accents(tex: str) -> str:
    """x̂ (x, then a combining circumflex) as ``\\hat{x}``: an accent over a
    letter, which pdflatex's utf8 input cannot compose."""
    tex = unicodedata.normalize("NFC", tex)  # e and U+0301 become é
    return _ACCENTED.sub(
        lambda m: rf"\ensuremath{{{_ACCENTS[m.group(2)]}{{{m.group(1)}}}}}", tex
    )


@dataclass(frozen=True)
class Figure:
    """One video in print: its poster (a file name in the LaTeX folder) and
    where the video plays."""

    scene: str
    poster: str
    link: str


def figure_latex(fig: Figure) -> tuple[str, str]:
    r"""The LaTeX before and after a figure's caption (Markdown through pandoc,
    or text escaped, goes between them): the poster at the
    text's width (at most 40% of the page's height), then the scene's name,
    linked to its video, and the caption."""
    name = rf"\href{{{_url(fig.link)}}}{{{tex_name(fig.scene)}}}"
    head = (
        r"\begin{figure}[htbp]\centering"
        rf"\includegraphics[width=0.92\linewidth,height=0.4\textheight,"
        rf"keepaspectratio]{{{fig.poster}}}"
        rf"\caption{{{name} (video).\ "
    )
    return head, r"}\end{figure}"


def _url(link: str) -> str:
    """A link as hyperref's ``\\href`` reads it (``#`` and ``%`` escaped)."""
    return link.replace("\\", "/").replace("#", r"\#").replace("%", r"\%")


def verification_latex(checks) -> str:
    """A chapter's verification, as the site shows it: for readers, what was
    proved and how, one row per formula or claim; for authors, each one's
    largest float64 and float32 errors, its oracles and number of checks."""
    items = badges(checks)
    methods: dict[str, list[tuple[str, str]]] = {}
    for c in checks:
        if getattr(c, "checked", True):
            methods.setdefault(c.subject, []).append((c.method, c.dtype))
    passed = sum(b.passed for b in items)
    out = [
        r"\section*{Verification}",
        r"\addcontentsline{toc}{section}{Verification}",
        "Every equation in this chapter is typeset from the same SymPy object "
        "that computes the numbers in its videos, and \\texttt{nnbook verify} "
        "checked each one before this book was made: a derivative is proved "
        "symbolically, then every formula and derivative is computed and "
        "compared with independent references. "
        rf"\textbf{{{passed} of {len(items)}}} passed.",
        "",
        r"{\small\begin{longtable}{@{}p{0.1\linewidth}"
        r">{\raggedright\arraybackslash}p{0.42\linewidth}"
        r">{\raggedright\arraybackslash}p{0.42\linewidth}@{}}",
        r"\toprule & What & How it was checked\\\midrule\endhead",
    ]
    for b in items:
        mark = r"\nnbookpass" if b.passed else r"\nnbookfail"
        what = "A formula" if b.kind == "formula" else "A claim"
        out.append(
            rf"{mark} & {tex_escape(_what(b))}\newline"
            rf"{{\footnotesize {what}: {tex_name(b.subject)}}} & "
            rf"{tex_escape(_how(methods.get(b.subject, [])))}\\"
        )
    out += [r"\bottomrule\end{longtable}}", ""]
    out += [
        r"\noindent For authors: the largest absolute error of each one's "
        r"checks, and its oracles.",
        "",
        # the columns and the 6 gaps between them fill the line, no more
        r"{\footnotesize\begin{longtable}{@{}p{0.08\linewidth}"
        r">{\raggedright\arraybackslash}p{0.28\linewidth}p{0.07\linewidth}"
        r"p{0.09\linewidth}p{0.08\linewidth}"
        r">{\raggedright\arraybackslash}p{0.17\linewidth}r@{}}",
        r"\toprule & checked & kind & float64 & float32 & oracles & checks\\"
        r"\midrule\endhead",
    ]
    for b in items:
        mark = r"\nnbookpass" if b.passed else r"\nnbookfail"
        e32 = "--" if b.error32 is None else f"{b.error32:.2g}"
        out.append(
            rf"{mark} & {tex_name(b.subject)} & {b.kind} & "
            rf"{b.error64:.2g} & {e32} & {tex_escape(', '.join(b.oracles))} & "
            rf"{b.checks}\\"
        )
    out += [r"\bottomrule\end{longtable}}"]
    return "\n".join(out) + "\n"


def _raw_inline(latex: str) -> str:
    """LaTeX inside a Markdown paragraph, passed through by pandoc."""
    if "`" in latex or "\n" in latex:  # cannot happen: tex_escape removes both
        raise ValueError(f"raw LaTeX with a backtick or newline: {latex!r}")
    return f"`{latex}`{{=latex}}"


def _raw_block(latex: str) -> str:
    return f"\n\n```{{=latex}}\n{latex}\n```\n\n"


def chapter_markdown(
    ch: Chapter, figures: dict[str, Figure], checks, prose: str | None = None
) -> str:
    """One chapter as pandoc Markdown: its prose (its number kept), each video a
    figure where the prose places it (the others under "Videos"), then its
    verification."""
    prose = ch.prose if prose is None else prose
    if not prose.lstrip().startswith("# "):
        prose = f"# {ch.title}\n\n{prose}"
    placed: set[str] = set()

    def scene(m: re.Match) -> str:
        name, caption = m.group(1).strip(), m.group(2).strip()
        if name not in figures:
            raise ValueError(
                f"{ch.id} prose places scene {name!r}; valid: " + ", ".join(figures)
            )
        placed.add(name)
        head, tail = figure_latex(figures[name])
        if not caption:
            caption = tex_escape(_caption(ch, name))
            return "\n\n" + _raw_inline(head + caption + tail) + "\n\n"
        return f"\n\n{_raw_inline(head)} {caption}{_raw_inline(tail)}\n\n"

    body = _PLACED.sub(scene, prose)
    rest = [f for name, f in figures.items() if name not in placed]
    if rest:
        body += "\n\n## Videos\n\n"
        for f in rest:
            head, tail = figure_latex(f)
            body += _raw_inline(head + tex_escape(_caption(ch, f.scene)) + tail)
            body += "\n\n"
    number = _raw_block(rf"\setcounter{{chapter}}{{{ch.number - 1}}}")
    return number + body + _raw_block(verification_latex(checks))


def _caption(ch: Chapter, scene: str) -> str:
    """The first paragraph of the scene class's docstring, as text."""
    return html.unescape(_docstring_caption(ch, scene))


def display_latex(latex: str) -> str:
    r"""A display equation as LaTeX: a formula that defines its steps one after
    another (``a = …,\quad b = …``, as a lowered claim prints them) gets a line
    per step; a line wider than the text is scaled down to it, never past the
    margin."""
    parts = _steps(latex)
    if len(parts) == 1:
        return rf"\[\nnbookfit{{{parts[0]}}}\]"
    lines = ",\\\\\n".join(rf"\nnbookfit{{{p}}}" for p in parts)
    return rf"\begin{{gather*}}{lines}\end{{gather*}}"


_STEP = re.compile(r",\s*\\quad\s*")
_OPEN = re.compile(r"\{|\\left\b|\\begin\b")
_CLOSE = re.compile(r"\}|\\right\b|\\end\b")


def _steps(latex: str) -> list[str]:
    r"""``latex`` split at each ``,\quad`` outside braces, ``\left…\right``
    and environments."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(latex):
        if latex[i] == "\\" and latex[i + 1 : i + 2] in ("{", "}"):
            depth += 1 if latex[i + 1] == "{" else -1  # a set's braces nest too
            i += 2
            continue
        for pattern, step in ((_OPEN, 1), (_CLOSE, -1)):
            if m := pattern.match(latex, i):
                depth += step
                i = m.end() - 1
                break
        else:
            if depth == 0 and (m := _STEP.match(latex, i)):
                parts.append(latex[start:i].strip())
                start = i = m.end()
                continue
        i += 1
    parts.append(latex[start:].strip())
    return [p for p in parts if p]


def _walk(node):
    """Pandoc's document tree with each display equation replaced by the raw
    LaTeX of :func:`display_latex`."""
    if isinstance(node, list):
        return [_walk(n) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("t") == "Math" and node["c"][0]["t"] == "DisplayMath":
        return {"t": "RawInline", "c": ["latex", display_latex(node["c"][1])]}
    return {k: _walk(v) for k, v in node.items()}


def _run_pandoc(args: list[str], text: str) -> str:
    done = subprocess.run(
        ["pandoc", *args],
        input=text,
        capture_output=True,
        text=True,
        timeout=TEX_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise PdfError(f"pandoc failed: {last}")
    return done.stdout


def markdown_to_latex(markdown: str) -> str:
    """Markdown → LaTeX (a body, not a document), by pandoc: its reader decides
    what is math; its tree passes through :func:`_walk` on the way."""
    tree = json.loads(_run_pandoc(["--from", PANDOC_FROM, "--to", "json"], markdown))
    return _run_pandoc(
        [
            "--from",
            "json",
            "--to",
            "latex",
            "--top-level-division=chapter",
            "--wrap=preserve",
            "--no-highlight",
        ],
        json.dumps(_walk(tree)),
    )


def book_latex(body: str, title: str = "The mathematics of neural networks") -> str:
    """The whole document around the chapters' LaTeX."""
    body = _accents(body)
    return (
        PREAMBLE
        + unicode_declarations(body)
        + rf"\title{{{tex_escape(title)}}}\author{{nnbook}}"
        # on the title page, not alone on the page after it
        + r"\date{\vspace{2em}\parbox{0.75\linewidth}{\normalsize "
        r"Every equation in this book is checked by \texttt{nnbook verify}: "
        "symbolically, against TensorFlow and by finite differences. Each "
        "figure is a video's poster; its name links to the video on the "
        "chapter's page of the web book.}}"
        + "\n\\begin{document}\n\\maketitle\n\\tableofcontents\n"
        + body
        + "\n\\end{document}\n"
    )


#: the longest one pdflatex run may take (the whole book: about 5 s)
_LATEX_SECONDS = TEX_SECONDS


def _latex_error(log: str) -> str:
    """LaTeX's first error in its log, and the line of the source it stopped at
    (``Undefined control sequence. at line 1266: Keras's \\texttt{L2(λ)}``)."""
    lines = log.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("!")), None)
    if at is None:
        return "LaTeX error"
    error = lines[at].lstrip("! ").strip()
    where = next(
        (m for line in lines[at : at + 12] if (m := re.match(r"l\.(\d+) (.*)", line))),
        None,
    )
    if where:
        error += f" at line {where.group(1)}: {where.group(2).strip()}"
    return error


def _pdflatex(folder: Path, keep: Path) -> Path:
    """Typeset ``book.tex`` in ``folder`` (twice, for the contents; again while
    LaTeX asks for it).  On failure the log and the source are kept in
    ``keep`` and the error names them."""
    for _ in range(3):
        done = run_latex("pdflatex", "book.tex", folder, _LATEX_SECONDS, PdfError)
        log = folder / "book.log"
        text = log.read_text(errors="replace") if log.is_file() else done.stdout
        if done.returncode != 0 or not (folder / "book.pdf").is_file():
            error = _latex_error(text)
            keep.mkdir(parents=True, exist_ok=True)
            atomic_copy(folder / "book.tex", keep / FAILED_TEX)
            if log.is_file():
                atomic_copy(log, keep / FAILED_LOG)
            raise PdfError(
                f"pdflatex failed: {error} "
                f"(log: {keep / FAILED_LOG}, source: {keep / FAILED_TEX})"
            )
        if _ > 0 and "Rerun" not in text:
            break
    return folder / "book.pdf"


def build_pdf(
    chapters: list[Chapter],
    out: Path,
    *,
    media: Path,
    cache: Path,
    quality: str = "l",
    theme: str = DEFAULT_THEME,
    force: bool = False,
    verify: bool = True,
    on_step: Step | None = None,
    on_verified: Verified | None = None,
    **run,
) -> Path:
    """Verify and render (cached) the chapters, and write ``out/book.pdf``.

    The same checks as :func:`publishing.site.build_site`, in the same order:
    the prose's placeholders before anything is rendered, the gate before any
    scene is placed.  A chapter whose maths fails stops the build unless
    ``verify=False``, when its table says FAILED.  The PDF is written
    atomically: complete, or the old one.  ``run`` goes to
    :func:`publishing.render.render_jobs` (``workers``, ``executor``).
    """
    note = on_step or (lambda ch, s: None)
    check_pdf_tools()
    for ch in chapters:
        check_prose(ch)
        check_scenes(ch)
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
    parts = []
    with temp_folder("pdf") as tmp:
        folder = Path(tmp)
        for ch in chapters:
            note(ch, "typesetting")
            figures = {}
            for r in rendered:
                if (r.job.module, r.job.path) != (ch.module, ch.path):
                    continue  # as the site picks them: a lecturer's chapter 1
                    # beside the book's has its own scenes
                poster = make_poster(r.path, cache=cache, force=force)
                name = f"{ch.id}-{r.job.scene}.png"
                shutil.copyfile(poster, folder / name)
                link = f"{ch.id}.html#{r.job.scene}"
                figures[r.job.scene] = Figure(r.job.scene, name, link)
            parts.append(chapter_markdown(ch, figures, verified[ch.id]))
        body = markdown_to_latex("\n\n".join(parts))
        (folder / "book.tex").write_text(book_latex(body), encoding="utf-8")
        pdf = _pdflatex(folder, out)
        out.mkdir(parents=True, exist_ok=True)
        target = out / PDF_NAME
        atomic_copy(pdf, target)
    for stale in (out / FAILED_TEX, out / FAILED_LOG):  # a failed run's, now fixed
        stale.unlink(missing_ok=True)
    return target
