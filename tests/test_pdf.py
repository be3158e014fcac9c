"""``nnbook build --pdf``: the LaTeX it writes (escaping, figures, verification
tables, display equations), pandoc's math, pdflatex's errors, and a real book
read back with pypdf."""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from nnmath.checker.checks import Check
from publishing import pdf

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"

ROWS = [
    Check("sigmoid'", "claim", "symbolic", "exact", True),
    Check("sigmoid'", "claim", "tensorflow-gradient", "float64", True, 2.2e-16),
    Check("sigmoid'", "claim", "tensorflow-gradient", "float32", True, 3.1e-8),
    Check("my_loss", "formula", "lowering", "float64", False, 0.5),
]


def _text(path: Path) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() for page in PdfReader(path).pages]


def _flat(text: str) -> str:
    """Text without line breaks or hyphenation: a name broken at its ``_``
    across two lines is still found."""
    return re.sub(r"-?\s+", "", text)


def test_names_print_character_for_character(tmp_path):
    """Special characters in scene and claim names and in text come out of the
    typeset PDF as written (pdflatex runs here: the escaping is read back)."""
    names = ["sigmoid'", "multi_head_attention/dW_o", 'a{b}~c^d\\e<f>g|h`i"j']
    text = "50% of #1 & $2 cost a_b {x} ~ ^ \\ < > | in σ space, `code`"
    body = "\n\n".join(map(pdf.tex_name, names)) + "\n\n" + pdf.tex_escape(text)
    # a formula's \_ is math's, and a formula's \text{…} is text inside math
    body += "\n\n" + pdf.display_latex(r"\mathrm{moving\_mean} = \text{a\_b}")
    (tmp_path / "book.tex").write_text(pdf.book_latex(body), encoding="utf-8")
    pdf._pdflatex(tmp_path, tmp_path / "kept")
    printed = "".join(_text(tmp_path / "book.pdf"))
    for name in names:
        assert _flat(name) in _flat(printed)
    assert _flat(text) in _flat(printed)


def test_a_docstring_quoting_code_in_backticks_is_a_caption():
    """A lecturer's unplaced scene whose docstring reads "Plot of `sigmoid`."
    stopped the PDF: tex_escape left the backtick to the raw-LaTeX guard."""
    assert "`" not in pdf.tex_escape("Plot of `sigmoid`.")
    assert pdf._raw_inline(pdf.tex_escape("The gate `f` of a step"))


def test_figure_is_the_poster_with_its_linked_scene_name():
    fig = pdf.Figure("Value_Scene", "chapter9-Value_Scene.png", "chapter9.html#V_S")
    head, tail = pdf.figure_latex(fig)
    assert head.startswith(r"\begin{figure}")
    assert r"\includegraphics[width=0.92\linewidth,height=0.4\textheight," in head
    assert "{chapter9-Value_Scene.png}" in head
    assert r"\href{chapter9.html\#V_S}" in head
    assert r"\texttt{Value{\char95}\penalty300{}Scene}" in head
    assert head.count("{") - head.count("}") == tail.count("}") - tail.count("{")
    assert tail.endswith(r"\end{figure}")


def test_verification_tables_show_each_subject_as_the_site_does():
    latex = pdf.verification_latex(ROWS)
    readers, authors = latex.split("For authors")
    # one row per subject in each table, passed only if all its checks passed
    assert readers.count(r"\nnbookpass") == 1 and readers.count(r"\nnbookfail") == 1
    assert r"\textbf{1 of 2} passed" in readers
    assert "Proved symbolically by SymPy" in readers
    assert r"\texttt{sigmoid{\char13}}" in authors
    assert r"\texttt{my{\char95}\penalty300{}loss}" in authors
    claim = next(line for line in authors.splitlines() if "sigmoid{" in line)
    assert "& claim & 2.2e-16 & 3.1e-08 & symbolic, TensorFlow & 3" in claim
    failed = next(line for line in authors.splitlines() if "my{" in line)
    assert failed.startswith(r"\nnbookfail") and "& 0.5 & -- &" in failed


def test_display_equation_gets_a_line_per_step_only_at_the_top_level():
    assert pdf.display_latex("x^2") == r"\[\nnbookfit{x^2}\]"
    steps = pdf.display_latex(
        r"a = \frac{1}{2},\quad b = \left( x,\quad y \right),\quad "
        r"c = \{1,\quad 2\},\quad d = \begin{cases} 1,\quad 2 \end{cases}"
    )
    assert steps.startswith(r"\begin{gather*}") and steps.count(r"\nnbookfit") == 4
    assert r"\nnbookfit{b = \left( x,\quad y \right)}" in steps
    assert r"\nnbookfit{c = \{1,\quad 2\}}" in steps


def test_prose_math_survives_pandoc_and_backslashes_outside_it_are_text():
    latex = pdf.markdown_to_latex(
        "# Title\n\nInline $a_1 + b^2$ costs $5 and\n$$x = \\frac{1}{2}$$\n\n"
        "A macro outside math: \\input{/etc/hostname}.\n"
    )
    assert r"\(a_1 + b^2\)" in latex
    assert r"\[\nnbookfit{x = \frac{1}{2}}\]" in latex
    assert r"\textbackslash input" in latex and r"\input{" not in latex
    assert r"\chapter{Title}" in latex


def test_unicode_pdflatex_does_not_know_is_declared():
    decl = pdf.unicode_declarations("σ² Σ θᵀ xₙ ε → é 金")
    assert r"\newunicodechar{σ}{\ensuremath{\sigma}}" in decl
    assert r"\newunicodechar{Σ}{\ensuremath{\Sigma}}" in decl
    assert r"\newunicodechar{ε}{\ensuremath{\varepsilon}}" in decl
    assert r"\newunicodechar{²}{\ensuremath{^{2}}}" in decl
    assert r"\newunicodechar{ᵀ}{\ensuremath{^{\mathrm{T}}}}" in decl
    assert r"\newunicodechar{ₙ}{\ensuremath{_{n}}}" in decl
    assert "é" not in decl  # inputenc knows it
    assert "金" not in decl  # nobody does: LaTeX's error names it
    assert pdf._accents("x\u0302") == r"\ensuremath{\hat{x}}"


def _no_scene_chapter(tmp_path: Path, prose: str):
    from chapters import Chapter

    (tmp_path / "ch.md").write_text(prose, encoding="utf-8")
    return Chapter(
        number=94,
        slug="noscene",
        title="No scenes",
        module="noscene",
        formulas=(),
        claims=(),
        scenes=(),
        prose_file=str(tmp_path / "ch.md"),
    )


def test_latex_failure_is_one_line_naming_the_log_and_keeps_the_old_pdf(
    tmp_path, monkeypatch
):
    ch = _no_scene_chapter(tmp_path, "# No scenes\n\nBroken: $\\nosuchmacro{x}$\n")
    monkeypatch.setattr(pdf, "render_and_check", lambda chs, **kw: ([], {ch.id: []}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "book.pdf").write_bytes(b"%PDF the old book")
    with pytest.raises(pdf.PdfError) as failed:
        pdf.build_pdf([ch], out, media=tmp_path / "m", cache=tmp_path / "c")
    message = str(failed.value)
    assert "\n" not in message
    assert "Undefined control sequence" in message and "nosuchmacro" in message
    assert str(out / pdf.FAILED_LOG) in message
    assert (out / pdf.FAILED_LOG).is_file() and (out / pdf.FAILED_TEX).is_file()
    assert (out / "book.pdf").read_bytes() == b"%PDF the old book"
    assert not [p for p in out.iterdir() if "partial" in p.name]

    # fixed, the book is written and the failed run's files go
    ch.prose_path.write_text("# No scenes\n\nFixed: $x$\n", encoding="utf-8")
    book = pdf.build_pdf([ch], out, media=tmp_path / "m", cache=tmp_path / "c")
    assert book == out / "book.pdf" and book.read_bytes().startswith(b"%PDF-")
    assert not (out / pdf.FAILED_LOG).exists()


def test_prose_reads_no_file_outside_the_latex_folder(tmp_path, monkeypatch):
    """Raw LaTeX in a raw block (pandoc passes it through) still cannot read
    /etc/hostname: TeX runs with openin_any=p, as for the site."""
    prose = "# No scenes\n\n```{=latex}\n\\input{/etc/hostname}\n```\n"
    ch = _no_scene_chapter(tmp_path, prose)
    monkeypatch.setattr(pdf, "render_and_check", lambda chs, **kw: ([], {ch.id: []}))
    with pytest.raises(pdf.PdfError, match="pdflatex failed"):
        pdf.build_pdf([ch], tmp_path / "out", media=tmp_path, cache=tmp_path)


def test_missing_pandoc_is_one_line_naming_the_package(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name: None if name == "pandoc" else real(name)
    )
    with pytest.raises(pdf.RenderError) as missing:
        pdf.check_pdf_tools()
    assert str(missing.value).startswith("cannot build the PDF: pandoc not found")
    assert "apt-get install pandoc" in str(missing.value)


def test_pdf_with_gif_is_a_usage_error(nnbook):
    done = nnbook("build", "chapter1", "--pdf", "--gif")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: --gif makes GIFs for the site; a PDF has none"
    )


@pytest.mark.render
def test_book_pdf_holds_prose_claims_figures_and_verification(tmp_path, nnbook):
    """A lecturer's chapter through the real command: verified, rendered,
    typeset; its text and images read back with pypdf."""
    from pypdf import PdfReader

    import chapters
    from nnmath import formula
    from publishing.gate import chapter_checks, verify_cached
    from publishing.site import badges

    out, media = tmp_path / "out", tmp_path / "media"
    chapter, tiny = DATA / "pdf_chapter.py", DATA / "tiny_chapter.py"
    done = nnbook("build", chapter, tiny, "--pdf", "-o", out, "--media", media)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "book.pdf")
    ch, other = chapters.get(str(chapter)), chapters.get(str(tiny))
    reader = PdfReader(out / "book.pdf")
    pages = [p.extract_text() for p in reader.pages]
    text = "\n".join(pages)
    # each chapter under its title and number (tiny_chapter has no prose)
    assert f"Chapter 93\n{ch.title}" in text
    assert f"Chapter 90\n{other.title}" in text
    assert text.index("Chapter 93\n") < text.index("Chapter 90\n")
    for name in ch.claims + ch.formulas:
        assert name in text
    # each claim as the equation the checker verified: σ′(z) = (1 − σ(z)) σ(z)
    assert re.search(r"σ′ \(z\) = \(1 − σ \(z\)\) σ \(z\)", text)
    # every verification row, with its largest errors (as the site shows them)
    # (SlopeScene looks up tanh beyond the chapter's lists: the gate checks it)
    cache = media / ".cache"
    checks = chapter_checks(ch, cache) + verify_cached([formula("tanh")], [], cache)[0]
    rows = badges(checks)
    assert {b.subject for b in rows} == {"sigmoid", "sigmoid'", "tanh"}
    first = text[text.index("For authors") : text.index("Chapter 90\n")]
    for b in rows:
        row = next(line for line in first.splitlines() if b.subject + " " in line)
        assert f"verified {b.subject} {b.kind} {b.error64:.2g}" in row
    assert f"{len(rows)} of {len(rows)} passed" in text
    assert text.count("For authors") == 2  # a table per chapter
    # a poster per scene, each on the page of its caption, named and linked
    images = [len(p.images) for p in reader.pages]
    assert sum(images) == len(ch.scenes) + len(other.scenes) == 4
    captioned = [i for i, t in enumerate(pages) if "(video)" in t]
    assert [i for i, n in enumerate(images) if n] == captioned
    for c in (ch, other):
        for scene in c.scenes:
            page = next(i for i, t in enumerate(pages) if f"{scene} (video)" in t)
            assert images[page] >= 1
            links = [
                a.get_object()["/A"]["/URI"]
                for a in reader.pages[page].get("/Annots", [])
                if "/URI" in a.get_object().get("/A", {})
            ]
            assert f"{c.id}.html#{scene}" in links
    # the placed scene's caption from the prose, the other's from its docstring
    assert "every digit computed by nnmath" in text
    assert "Videos" in text and "The slope of tanh at one point" in text


LOOPING = """
from chapters import Chapter

CHAPTER = Chapter(number=95, slug="looping", title="Looping", module=__name__,
                  formulas=(), claims=(), scenes=(), prose_file="looping.md")
"""


def test_ctrl_c_while_typesetting_leaves_the_old_pdf_and_no_partial_file(
    tmp_path, nnbook
):
    """SIGINT while pdflatex runs (here a definition that loops, so it is
    caught running): exit 130, the old book whole, nothing half-written, the
    LaTeX folder gone."""
    (tmp_path / "looping.py").write_text(LOOPING)
    (tmp_path / "looping.md").write_text(
        "# Looping\n\n```{=latex}\n\\def\\x{\\x}\\x\n```\n", encoding="utf-8"
    )
    out = tmp_path / "out"
    out.mkdir()
    (out / "book.pdf").write_bytes(b"%PDF the old book")
    proc = subprocess.Popen(
        [*nnbook.command, "build", "looping.py", "--pdf", "-o", "out"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pattern = f"{tempfile.gettempdir()}/nnbook-pdf-*-{proc.pid}-*/book.log"
    deadline = time.monotonic() + 120
    while not glob.glob(pattern):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "pdflatex never started"
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert (out / "book.pdf").read_bytes() == b"%PDF the old book"
    assert sorted(p.name for p in out.iterdir()) == ["book.pdf"]
    assert not glob.glob(pattern.removesuffix("/book.log"))


def test_cli_latex_error_is_one_line_exit_1(tmp_path, nnbook):
    (tmp_path / "looping.py").write_text(LOOPING)
    (tmp_path / "looping.md").write_text(
        "# Looping\n\nBroken: $\\nosuchmacro{x}$\n", encoding="utf-8"
    )
    done = nnbook("build", "looping.py", "--pdf", "-o", "out", cwd=tmp_path)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: pdflatex failed: Undefined control sequence")
    assert "(log: out/book-failed.log, source: out/book-failed.tex)" in last
    assert "Traceback" not in done.stderr and not (tmp_path / "out/book.pdf").exists()


def test_latex_that_loops_forever_is_stopped_with_one_line(tmp_path, monkeypatch):
    ch = _no_scene_chapter(tmp_path, "# Loop\n\n```{=latex}\n\\def\\x{\\x}\\x\n```\n")
    monkeypatch.setattr(pdf, "render_and_check", lambda chs, **kw: ([], {ch.id: []}))
    monkeypatch.setattr(pdf, "_LATEX_SECONDS", 2)
    start = time.monotonic()
    with pytest.raises(pdf.PdfError, match=r"^pdflatex did not finish in 2 s"):
        pdf.build_pdf([ch], tmp_path / "out", media=tmp_path, cache=tmp_path)
    assert time.monotonic() - start < 30
    assert not (tmp_path / "out" / "book.pdf").exists()


def test_a_display_wider_than_the_text_is_scaled_to_it_not_past_the_margin(
    tmp_path,
):
    wide = " + ".join(f"w_{{{i}}} x_{{{i}}}" for i in range(40))  # one step, ~3 lines
    body = "Text.\n\n" + pdf.display_latex(f"a = {wide}") + "\n\nMore text.\n"
    (tmp_path / "book.tex").write_text(pdf.book_latex(body), encoding="utf-8")
    pdf._pdflatex(tmp_path, tmp_path / "kept")
    log = (tmp_path / "book.log").read_text(errors="replace")
    assert "scaled to the line" in log
    assert "Overfull" not in log
