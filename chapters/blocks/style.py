"""The book's scene style as numbers: how small type may be, and how long an
equation stays on screen.  The scenes follow it, and ``nnbook lint``
(:mod:`publishing.lint`) checks that they do.

Imports nothing but the standard library, so the linter and the tests can read
the rules without drawing anything.
"""

from __future__ import annotations

__all__ = [
    "MIN_DIGIT_PIXELS",
    "MIN_FONT_SIZE",
    "TEXT_PIXELS_PER_POINT",
    "TEX_PIXELS_PER_POINT",
    "digit_pixels",
    "latex_text",
    "plain_maths",
    "READ_SECONDS",
    "RELATIONS",
    "SECONDS_PER_TERM",
    "reading_time",
    "terms",
]

#: the least height of a digit on screen at 854×480, in pixels: what MathTex
#: draws at font size 20 (the book's smallest equations), Text at about 15
MIN_DIGIT_PIXELS = 8.7

#: a digit's height at 480p per point of Manim's font size (after every
#: scaling), measured on "0123456789": LaTeX's Computer Modern in MathTex, and
#: Latin Modern (the labels' font) in Text, whose points are larger
TEX_PIXELS_PER_POINT = 0.435
TEXT_PIXELS_PER_POINT = 0.585

#: the smallest font size the building blocks set, for Text and MathTex alike
MIN_FONT_SIZE = 20.0

#: an equation stays on screen, after the play that shows it, this long plus
#: ``SECONDS_PER_TERM`` for each of its terms
READ_SECONDS = 1.5
SECONDS_PER_TERM = 0.5

#: what makes typeset text an equation (a relation), not a symbol, a bracket or
#: a number: only equations have a reading time
RELATIONS = ("=", r"\leq", r"\geq", r"\approx", r"\to", r"\le ", r"\ge ")


#: maths in plain text: Greek, sub- and superscripts, primes and the operators
#: of analysis; the labels' font draws them from a fallback sans, beside LaTeX's
#: serif, so maths goes through LaTeX (the minus sign U+2212, in every number,
#: the font has)
MATHS_IN_TEXT = frozenset(
    [chr(c) for c in range(0x0370, 0x0400)]  # Greek
    + [chr(c) for c in range(0x2070, 0x20A0)]  # superscripts and subscripts
    + [chr(c) for c in (0x1D62, 0x2C7C, 0x1D40)]  # subscripts i and j, superscript T
    + list("\u00bd")  # one half
    + list("\u00b2\u00b3\u00b9\u2032\u2033\u2113\u2202\u2207\u2211\u220f\u221a")
    + list("\u221e\u2248\u2260\u2264\u2265\u2208\u2192")
)


_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi o pi "
    "rho varsigma sigma tau upsilon phi chi psi omega"
).split()
#: each character of maths in plain text, as LaTeX maths
LATEX_FOR = {
    **{chr(0x03B1 + i): rf"\{g}" if g != "o" else "o" for i, g in enumerate(_GREEK)},
    **{
        ch: rf"\{name}"
        for ch, name in zip(
            "ΓΔΘΛΞΠΣΥΦΨΩ",
            "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(),
        )
    },
    "ℓ": r"\ell", "∂": r"\partial", "∇": r"\nabla", "∑": r"\sum", "∏": r"\prod",
    "√": r"\surd", "∞": r"\infty", "≈": r"\approx", "≠": r"\neq", "≤": r"\leq",
    "≥": r"\geq", "∈": r"\in", "→": r"\to", "′": r"{}^{\prime}",
    "″": r"{}^{\prime\prime}", "½": r"\tfrac{1}{2}", "\u2212": "-", "×": r"\times",
    "·": r"\cdot",
    # text-mode LaTeX (OT1) sets < > | as ¡ ¿ —: always maths
    "<": "<", ">": ">", "|": r"\vert",
}  # fmt: skip
_SUPER = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿⁱᵀ", "0123456789+-niT"))
_SUB = dict(zip("₀₁₂₃₄₅₆₇₈₉₊₋ₐₑₒₓₕₖₗₘₙₚₛₜᵢⱼ", "0123456789+-aeoxhklmnpstij"))
_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}  # fmt: skip


def latex_text(text: str) -> str:
    r"""``text`` as LaTeX text: its maths (Greek, primes, sub- and superscripts,
    operators) in ``$…$``, one group per run, everything else escaped.

    >>> latex_text("η = 0.15, W₁ ≤ √d")
    '$\\eta $ = 0.15, W$_{1}$ $\\leq $ $\\surd $d'
    """
    out, maths = [], []

    def close() -> None:
        if maths:
            out.append("$" + "".join(maths) + "$")
            maths.clear()

    i = 0
    while i < len(text):
        ch = text[i]
        for table, mark in ((_SUB, "_"), (_SUPER, "^")):
            if ch in table:
                j = i
                while j < len(text) and text[j] in table:
                    j += 1
                maths.append(mark + "{" + "".join(table[c] for c in text[i:j]) + "}")
                i = j
                break
        else:
            if ch in LATEX_FOR:
                tex = LATEX_FOR[ch]
                maths.append(tex + " " if tex[-1].isalpha() else tex)  # \\eta x
            else:
                close()
                out.append(_SPECIAL.get(ch, ch))
            i += 1
    close()
    return "".join(out)


def plain_maths(text: str) -> str:
    """The characters of ``text`` that are maths set in plain text, in order."""
    return "".join(dict.fromkeys(ch for ch in text if ch in MATHS_IN_TEXT))


def digit_pixels(font_size: float, *, typeset: bool) -> float:
    """How tall a digit is at 480p: at ``font_size``, in MathTex (``typeset``)
    or in Text."""
    return font_size * (TEX_PIXELS_PER_POINT if typeset else TEXT_PIXELS_PER_POINT)


def terms(tex: str) -> int:
    """How many terms an equation has: one more than the ``+``, ``-`` and ``=``
    outside every brace and bracket of its LaTeX (a minus sign that opens a
    group or follows an operator is a sign, not a separator)."""
    depth, count, previous = 0, 1, "="
    for ch in tex:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth = max(depth - 1, 0)  # an interval's [0, 1) closes nothing
        elif depth == 0 and ch in "+-=" and previous not in "+-=({[":
            count += 1
        if not ch.isspace():
            previous = ch
    return count


def reading_time(tex: str) -> float:
    """Seconds an equation must stay on screen to be read."""
    return READ_SECONDS + SECONDS_PER_TERM * terms(tex)
