"""Cards, tables and listings: an equation on a card (with a body under it), rows
of numbers in aligned columns, code as a tutorial prints it, and what ``nnbook
verify`` says about it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    Mobject,
    RoundedRectangle,
    Text,
    VGroup,
)

from nnmath.worked import fmt

from ..theme import current
from .text import COLORS, EQUATION_SIZE, LABEL_SIZE, equation, fit, label

__all__ = [
    "EquationPanel",
    "MONO",
    "code",
    "equation_card",
    "shown",
    "table",
    "verdict",
]


class EquationPanel(VGroup):
    """An equation on a dim card, with an optional caption above it."""

    def __init__(
        self,
        latex: str,
        *,
        caption: str | None = None,
        max_width: float = 6.5,
        font_size: float = EQUATION_SIZE,
        color=None,
        lines: int = 1,
        colors: dict[str, str] | None = None,
    ):
        super().__init__()
        self.equation = equation(
            latex,
            font_size=font_size,
            max_width=max_width - 0.4,
            color=color,
            lines=lines,
            colors=colors,
        )
        body = VGroup(self.equation)
        if caption:
            self.caption = label(
                caption, font_size=LABEL_SIZE - 4, color=COLORS["muted"]
            )
            fit(self.caption, width=max_width - 0.4)
            body = VGroup(self.caption, self.equation).arrange(DOWN, buff=0.18)
        self.card = RoundedRectangle(
            corner_radius=0.12,
            width=body.width + 0.35,
            height=body.height + 0.3,
            stroke_color=COLORS["faint"],
            stroke_width=1.5,
            fill_color=COLORS["panel"],
            fill_opacity=1,
        ).move_to(body)
        self.add(self.card, body)


def equation_card(
    latex: str,
    caption: str,
    body: Mobject | None = None,
    *,
    width: float,
    font_size: float = EQUATION_SIZE,
    body_height: float | None = None,
    buff: float = 0.25,
) -> VGroup:
    """An :class:`EquationPanel` with an optional body under it (a matrix
    equation, a table), the body fitted to ``width`` × ``body_height`` when that is
    given: ``VGroup(card)`` or ``VGroup(card, body)``, for a chapter to place."""
    card = EquationPanel(latex, caption=caption, max_width=width, font_size=font_size)
    if body is None:
        parts = VGroup(card)
    else:
        fitted = body if body_height is None else fit(body, width, body_height)
        parts = VGroup(card, fitted)
    return parts.arrange(DOWN, buff=buff)


def shown(x: float) -> str:
    """A number as the scenes print it; IEEE's inf and nan spelled out."""
    if np.isnan(x):
        return "NaN"
    if np.isinf(x):
        return "\u221e" if x > 0 else "\u2212\u221e"
    return fmt(x).replace("-", "\u2212")


def table(
    rows: list[list[str]], colors: list | None = None, *, font_size: float = 24
) -> VGroup:
    """Rows of text in aligned columns; the first column is the row's name."""
    cells = VGroup()
    for r, row in enumerate(rows):
        color = (colors or [None] * len(rows))[r] or COLORS["text"]
        for c, text in enumerate(row):
            cells.add(
                label(
                    text,
                    font_size=font_size,
                    color=COLORS["muted"] if c == 0 else color,
                )
            )
    return cells.arrange_in_grid(
        rows=len(rows),
        cols=len(rows[0]),
        buff=(0.5, 0.28),
        col_alignments="l" + "r" * (len(rows[0]) - 1),
    )


#: the typewriter face for code and for what ``nnbook verify`` prints
MONO = "DejaVu Sans Mono"


def code(
    source: str, *, width: float = 6.6, mark: str = "", font_size: float = 20
) -> VGroup:
    """Python as a tutorial prints it, coloured by Pygments (Manim's ``Code``),
    fitted to ``width``; the first line containing ``mark`` gets a red box."""
    from manim import Code, SurroundingRectangle

    listing = Code(
        code_string=source,
        language="python",
        formatter_style=current().code_style,
        add_line_numbers=False,
        paragraph_config={"font": MONO, "font_size": font_size},
        background_config={"stroke_width": 0, "fill_color": COLORS["code"]},
    )
    fit(listing, width=width)
    if mark:
        lines = source.splitlines()
        at = next(i for i, line in enumerate(lines) if mark in line)
        box = SurroundingRectangle(
            listing.code_lines[at], color=COLORS["wrong"], buff=0.05, stroke_width=3
        )
        return VGroup(listing, box)
    return VGroup(listing)


def verdict(
    lines: Sequence[str], *, width: float = 13.0, font_size: float = 18, chars: int = 96
) -> VGroup:
    """What ``nnbook verify`` prints for failed checks (``Check.line``), each
    wrapped at ``chars`` characters, in red type, fitted to ``width``."""
    import textwrap

    rows = VGroup()
    for line in lines:
        wrapped = textwrap.wrap(line, chars, subsequent_indent="    ")
        rows.add(
            Text(
                "\n".join(wrapped),
                font=MONO,
                font_size=font_size,
                color=COLORS["wrong"],
                line_spacing=0.8,
            )
        )
    rows.arrange(DOWN, aligned_edge=LEFT, buff=0.15)
    return fit(rows, width=width)
