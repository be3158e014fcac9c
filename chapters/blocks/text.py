"""Type, numbers and equations as the scenes set them.

Every number on screen is written by :func:`nnmath.worked.fmt` (through
:func:`number` for labels and :func:`matrix` for matrices); every equation comes
from ``Formula.latex`` / ``Claim.latex`` / :func:`nnmath.worked.substituted_latex`.
Sizes are chosen to stay legible at 854x480 (``-ql``): 1 unit is 60 pixels there.
"""

from __future__ import annotations

import numpy as np
from manim import (
    DOWN,
    LEFT,
    UP,
    MathTex,
    Matrix,
    Mobject,
    Tex,
    Text,
    VGroup,
)

from nnmath.worked import DIGITS, fmt

from ..theme import COLORS
from .style import TEX_PIXELS_PER_POINT, TEXT_PIXELS_PER_POINT, latex_text, plain_maths

__all__ = [
    "COLORS",
    "DIGITS",
    "EQUATION_SIZE",
    "FONT",
    "LABEL_SIZE",
    "NUMBER_SIZE",
    "TITLE_SIZE",
    "equation",
    "fit",
    "fmt",
    "label",
    "matrix",
    "number",
    "signed",
    "title",
    "wrap",
]


#: the typeface of LaTeX (ships with TeX Live), so labels match the equations
FONT = "Latin Modern Roman"

# font sizes (Text and MathTex points); smaller is illegible at 854x480
TITLE_SIZE, LABEL_SIZE, NUMBER_SIZE, EQUATION_SIZE = 38, 26, 24, 34


def signed(x: float, digits: int = DIGITS) -> str:
    """A number as the book writes it: :func:`fmt`, with a true minus sign."""
    return fmt(x, digits).replace("-", "\u2212")


def number(
    x: float, *, font_size: float = NUMBER_SIZE, color=None, digits: int = DIGITS
) -> Text:
    """A number label, written by :func:`signed`."""
    color = color or COLORS["text"]
    return Text(
        signed(x, digits),
        font=FONT,
        font_size=font_size,
        color=color,
    )


def label(
    text: str, *, font_size: float = LABEL_SIZE, color=None, **kwargs
) -> Text | Tex:
    """A line (or lines) of text in the labels' font.  With maths in it (η, W₁,
    ∂ℓ/∂w, ≤ ...) it is typeset by LaTeX instead: the same serif, the maths in
    maths italics, digits as tall as the Text's (``font_size`` is Text's)."""
    color = color or COLORS["text"]
    if not plain_maths(text):
        return Text(text, font=FONT, font_size=font_size, color=color, **kwargs)
    bold = r"\bfseries " if kwargs.get("weight") == "BOLD" else ""
    lines = [bold + latex_text(line) for line in text.split("\n")]
    # a table of one left-aligned column: LaTeX breaks no line of its own
    body = r"\begin{tabular}{@{}l@{}}" + r" \\ ".join(lines) + r"\end{tabular}"
    try:
        return Tex(
            body,
            font_size=font_size * TEXT_PIXELS_PER_POINT / TEX_PIXELS_PER_POINT,
            color=color,
            tex_environment=None,
        )
    except ValueError:  # a character LaTeX cannot set: plain text, which lint flags
        return Text(text, font=FONT, font_size=font_size, color=color, **kwargs)


def title(text: str, subtitle: str | None = None, *, max_width: float = 13.0) -> VGroup:
    """A title at the top left, with an optional smaller line under it."""
    parts = VGroup(label(text, font_size=TITLE_SIZE, weight="BOLD"))
    if subtitle:
        parts.add(label(subtitle, font_size=LABEL_SIZE - 2, color=COLORS["muted"]))
    parts.arrange(DOWN, aligned_edge=LEFT, buff=0.12)
    return fit(parts, width=max_width).to_corner(UP + LEFT, buff=0.3)


def fit(
    mob: Mobject, width: float | None = None, height: float | None = None
) -> Mobject:
    """Scale ``mob`` down (never up) to fit ``width`` × ``height``."""
    factor = 1.0
    if width is not None and mob.width > width:
        factor = min(factor, width / mob.width)
    if height is not None and mob.height > height:
        factor = min(factor, height / mob.height)
    return mob.scale(factor) if factor < 1 else mob


def _top_level_breaks(latex: str) -> list[int]:
    """Positions of `` + `` / `` - `` outside any braces or ``\\left ... \\right``."""
    depth, found, i = 0, [], 0
    while i < len(latex):
        for word, step in ((r"\left", 1), (r"\right", -1)):
            end = i + len(word)
            # a delimiter command, not \leftarrow or \rightarrow
            if latex.startswith(word, i) and not latex[end : end + 1].isalpha():
                depth, i = depth + step, end
                break
        else:
            ch = latex[i]
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0 and latex[i : i + 3] in (" + ", " - "):
                found.append(i)
            i += 1
    return found


def wrap(latex: str, lines: int) -> str:
    """Break ``lhs = a + b + ...`` into ``lines`` aligned lines at top-level signs.

    Only spacing changes; the equation's text is kept whole.  MathTex typesets in
    ``align*``, so ``&`` and ``\\\\`` align continued lines under the first ``=``.
    """
    if lines < 2 or " = " not in latex:
        return latex
    lhs, rhs = latex.split(" = ", 1)
    breaks = _top_level_breaks(rhs)
    if not breaks:
        return latex
    cuts = []
    for k in range(1, lines):
        target = len(rhs) * k / lines
        best = min(breaks, key=lambda b: abs(b - target))
        if best not in cuts:
            cuts.append(best)
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces.append(rhs[start:cut])
        start = cut + 1  # keep the sign at the start of the next line
    pieces.append(rhs[start:])
    return f"{lhs} &= {pieces[0]}" + "".join(rf" \\ &\quad {p}" for p in pieces[1:])


def equation(
    latex: str,
    *,
    font_size: float = EQUATION_SIZE,
    max_width: float | None = None,
    color=None,
    lines: int = 1,
    colors: dict[str, str] | None = None,
) -> MathTex:
    """An equation from ``Formula.latex`` (or a substituted one), fitted to a width;
    ``lines`` > 1 breaks a long one at its top-level ``+`` signs.  ``colors``
    colours pieces of it, each given as its exact LaTeX (a factor's colour on the
    card it comes from); a piece not in the equation is an error, not ignored."""
    tex = wrap(latex, lines)
    color = color or COLORS["text"]
    colors = colors or {}
    missing = [piece for piece in colors if piece not in tex]
    if missing:
        raise ValueError(f"not in the equation, so not coloured: {missing}")
    mob = MathTex(
        tex,
        font_size=font_size,
        color=color,
        substrings_to_isolate=list(colors),
    )
    for piece, piece_color in colors.items():
        mob.set_color_by_tex(piece, piece_color)
    return fit(mob, width=max_width)


#: Text points per MathTex point, for digits of the same height
TEXT_PER_TEX = 0.75


def matrix(
    values: np.ndarray,
    *,
    font_size: float = NUMBER_SIZE,
    h_buff: float | None = None,
    v_buff: float = 0.5,
) -> Matrix:
    """A numeric matrix (or a column, for 1-D values) of :func:`number` entries.

    ``font_size`` is in MathTex points, so a matrix matches the equation around
    it; the entries are Text in LaTeX's typeface (no LaTeX run per entry).
    """
    values = np.asarray(values, dtype=float)
    rows = values.reshape(-1, 1) if values.ndim == 1 else values
    size = font_size * TEXT_PER_TEX
    widest = max(number(v, font_size=size).width for v in np.unique(rows))
    return Matrix(
        rows,
        element_to_mobject=number,
        element_to_mobject_config={"font_size": size},
        h_buff=h_buff or widest + 0.22,
        v_buff=v_buff,
        bracket_h_buff=0.12,
        bracket_v_buff=0.12,
    )
