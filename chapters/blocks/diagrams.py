"""Shared Manim building blocks: the chapters compose these and nothing else.

Every number on screen is written by :func:`nnmath.worked.fmt` (through
:func:`number` for labels and :func:`matrix` for matrices); every equation comes
from ``Formula.latex`` / ``Claim.latex`` / :func:`nnmath.worked.substituted_latex`.
Sizes are chosen to stay legible at 854x480 (``-ql``): 1 unit is 60 pixels there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    BLUE,
    DOWN,
    GREEN,
    GREY_B,
    GREY_D,
    LEFT,
    ORANGE,
    RED,
    RIGHT,
    TEAL,
    UP,
    WHITE,
    YELLOW,
    Axes,
    BackgroundRectangle,
    Circle,
    Line,
    MathTex,
    Matrix,
    Mobject,
    Rectangle,
    RoundedRectangle,
    Text,
    VGroup,
    VMobject,
)

from nnmath.worked import DIGITS, fmt

__all__ = [
    "COLORS",
    "DIGITS",
    "FONT",
    "EquationPanel",
    "FunctionPlot",
    "NetworkDiagram",
    "ProbabilityBars",
    "code",
    "equation",
    "fit",
    "fmt",
    "label",
    "legend",
    "matrix",
    "number",
    "title",
    "verdict",
    "wrap",
]

#: the typeface of LaTeX (ships with TeX Live), so labels match the equations
FONT = "Latin Modern Roman"

#: one meaning per colour, across the book
COLORS = {
    "input": BLUE,
    "hidden": TEAL,
    "output": ORANGE,
    "highlight": YELLOW,
    "positive": BLUE,
    "negative": RED,
    "curve": YELLOW,
    "derivative": GREEN,
    "region": RED,
    "leaky": BLUE,
    "true": GREEN,
    "wrong": RED,
}

# font sizes (Text and MathTex points); smaller is illegible at 854x480
TITLE_SIZE, LABEL_SIZE, NUMBER_SIZE, EQUATION_SIZE = 38, 26, 24, 34


def number(
    x: float, *, font_size: float = NUMBER_SIZE, color=WHITE, digits: int = DIGITS
) -> Text:
    """A number label, written by :func:`fmt` (with a true minus sign)."""
    return Text(
        fmt(x, digits).replace("-", "\u2212"),
        font=FONT,
        font_size=font_size,
        color=color,
    )


def label(text: str, *, font_size: float = LABEL_SIZE, color=WHITE, **kwargs) -> Text:
    return Text(text, font=FONT, font_size=font_size, color=color, **kwargs)


def title(text: str, subtitle: str | None = None, *, max_width: float = 13.0) -> VGroup:
    """A title at the top left, with an optional smaller line under it."""
    parts = VGroup(label(text, font_size=TITLE_SIZE, weight="BOLD"))
    if subtitle:
        parts.add(label(subtitle, font_size=LABEL_SIZE - 2, color=GREY_B))
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
    color=WHITE,
    lines: int = 1,
) -> MathTex:
    """An equation from ``Formula.latex`` (or a substituted one), fitted to a width;
    ``lines`` > 1 breaks a long one at its top-level ``+`` signs."""
    return fit(
        MathTex(wrap(latex, lines), font_size=font_size, color=color), width=max_width
    )


class EquationPanel(VGroup):
    """An equation on a dim card, with an optional caption above it."""

    def __init__(
        self,
        latex: str,
        *,
        caption: str | None = None,
        max_width: float = 6.5,
        font_size: float = EQUATION_SIZE,
        color=WHITE,
        lines: int = 1,
    ):
        super().__init__()
        self.equation = equation(
            latex,
            font_size=font_size,
            max_width=max_width - 0.4,
            color=color,
            lines=lines,
        )
        body = VGroup(self.equation)
        if caption:
            self.caption = label(caption, font_size=LABEL_SIZE - 4, color=GREY_B)
            fit(self.caption, width=max_width - 0.4)
            body = VGroup(self.caption, self.equation).arrange(DOWN, buff=0.18)
        self.card = RoundedRectangle(
            corner_radius=0.12,
            width=body.width + 0.35,
            height=body.height + 0.3,
            stroke_color=GREY_D,
            stroke_width=1.5,
            fill_color="#1b1b24",
            fill_opacity=1,
        ).move_to(body)
        self.add(self.card, body)


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


class NetworkDiagram(VGroup):
    """Layers of neurons (circles) joined by edges; values shown inside neurons.

    ``edges[k][i][j]`` joins neuron ``j`` of layer ``k`` to neuron ``i`` of layer
    ``k + 1``, matching the weight ``W[i, j]`` of the dense layer between them.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        width: float = 5.0,
        height: float = 6.0,
        radius: float = 0.3,
        colors: Sequence | None = None,
    ):
        super().__init__()
        self.sizes, self.radius = tuple(sizes), radius
        colors = colors or (
            [COLORS["input"]]
            + [COLORS["hidden"]] * (len(sizes) - 2)
            + [COLORS["output"]]
        )
        xs = np.linspace(-width / 2, width / 2, len(sizes)) if len(sizes) > 1 else [0.0]
        self.layers = VGroup()
        for size, x, color in zip(sizes, xs, colors):
            spacing = min(
                height / max(size - 1, 1), 4 * radius
            )  # small layers spread out
            layer = VGroup(
                *[
                    Circle(
                        radius=radius,
                        stroke_color=color,
                        stroke_width=3,
                        fill_color=color,
                        fill_opacity=0.15,
                    ).move_to([x, (size - 1) / 2 * spacing - r * spacing, 0])
                    for r in range(size)
                ]
            )
            self.layers.add(layer)
        self.edges = VGroup()
        for left, right in zip(self.layers[:-1], self.layers[1:]):
            self.edges.add(
                VGroup(
                    *[
                        VGroup(
                            *[
                                Line(
                                    a.get_right(),
                                    b.get_left(),
                                    stroke_width=1.5,
                                    stroke_color=GREY_D,
                                )
                                for a in left
                            ]
                        )
                        for b in right
                    ]
                )
            )
        self.add(self.edges, self.layers)

    def neuron(self, layer: int, index: int) -> Circle:
        return self.layers[layer][index]

    def value_labels(
        self, layer: int, values: Sequence[float], *, font_size: float = NUMBER_SIZE - 4
    ) -> VGroup:
        """Numbers centred in the neurons of ``layer`` (shrunk to fit inside)."""
        labels = VGroup()
        for circle, v in zip(self.layers[layer], values):
            labels.add(
                fit(
                    number(v, font_size=font_size), width=2 * self.radius * 0.92
                ).move_to(circle)
            )
        return labels

    def weighted_edges(self, layer: int, W: np.ndarray) -> VGroup:
        """The edges out of ``layer``, coloured by sign and as thick as |weight|."""
        W = np.asarray(W, dtype=float)
        scale = np.abs(W).max() or 1.0
        styled = self.edges[layer].copy()
        for i, row in enumerate(styled):
            for j, line in enumerate(row):
                w = W[i, j]
                line.set_stroke(
                    COLORS["positive"] if w >= 0 else COLORS["negative"],
                    width=0.5 + 4 * abs(w) / scale,
                    opacity=0.85,
                )
        return styled

    def edge_labels(
        self,
        layer: int,
        W: np.ndarray,
        *,
        at: float = 0.3,
        font_size: float = NUMBER_SIZE - 2,
        rows: Sequence[int] | None = None,
    ) -> VGroup:
        """Weight numbers on the edges out of ``layer``, ``at`` of the way along;
        only the edges into the neurons ``rows`` of the next layer if given (all
        of a dense layer's numbers rarely fit)."""
        labels = VGroup()
        for i, row in enumerate(self.edges[layer]):
            if rows is not None and i not in rows:
                continue
            for j, line in enumerate(row):
                n = number(W[i, j], font_size=font_size)
                n.move_to(line.point_from_proportion(at))
                labels.add(
                    VGroup(BackgroundRectangle(n, buff=0.04, fill_opacity=0.9), n)
                )
        return labels

    def highlight(self, layer: int, index: int | None = None, color=None) -> VGroup:
        """Yellow rings around a layer (or one neuron of it), to be faded in."""
        color = color or COLORS["highlight"]
        circles = self.layers[layer] if index is None else [self.layers[layer][index]]
        return VGroup(
            *[
                Circle(
                    radius=self.radius * 1.08, stroke_color=color, stroke_width=3.5
                ).move_to(c)
                for c in circles
            ]
        )


class FunctionPlot(VGroup):
    """Axes and a curve through sampled NumPy values.

    The curve is drawn through the samples as given; where neighbouring samples
    jump by more than ``jump`` (a step, as in ReLU'), it is broken instead of
    joined by a vertical segment.
    """

    def __init__(
        self,
        z: np.ndarray,
        values: np.ndarray,
        *,
        x_range: Sequence[float],
        y_range: Sequence[float],
        width: float = 5.5,
        height: float = 3.2,
        color=None,
        x_label: str = "z",
        y_label: str | None = None,
        jump: float | None = None,
        x_axis_at: float | None = None,
    ):
        super().__init__()
        self.axes = Axes(
            x_range=list(x_range),
            y_range=list(y_range),
            x_length=width,
            y_length=height,
            tips=False,
            axis_config={
                "stroke_width": 2,
                "color": GREY_B,
                "include_numbers": True,
                "font_size": 22,
                "line_to_number_buff": 0.12,
            },
        )
        if x_axis_at is not None:  # e.g. a log plot's floor, instead of y = 0
            # c2p is unchanged: it measures from the x axis's own origin
            self.axes.x_axis.shift(self.axes.c2p(0, x_axis_at) - self.axes.c2p(0, 0))
        self.curve = self.polyline(z, values, color=color or COLORS["curve"], jump=jump)
        self.labels = VGroup(
            MathTex(x_label, font_size=30, color=GREY_B).next_to(
                self.axes.x_axis.get_right(), RIGHT, buff=0.15
            )
        )
        if y_label:
            self.labels.add(
                MathTex(y_label, font_size=30, color=color or COLORS["curve"]).next_to(
                    self.axes.y_axis.get_top(), UP, buff=0.1
                )
            )
        self.add(self.axes, self.labels, self.curve)

    def polyline(
        self,
        z: np.ndarray,
        values: np.ndarray,
        *,
        color,
        jump: float | None = None,
        stroke_width: float = 4,
    ) -> VGroup:
        z, values = np.asarray(z, dtype=float), np.asarray(values, dtype=float)
        y0, y1 = self.axes.y_range[:2]
        limit = jump if jump is not None else 0.25 * (y1 - y0)
        breaks = np.flatnonzero(np.abs(np.diff(values)) > limit) + 1
        pieces = VGroup()
        for zs, vs in zip(np.split(z, breaks), np.split(values, breaks)):
            if len(zs) < 2:
                continue
            piece = VMobject(stroke_color=color, stroke_width=stroke_width)
            piece.set_points_as_corners([self.axes.c2p(a, b) for a, b in zip(zs, vs)])
            pieces.add(piece)
        return pieces

    def point(self, z: float, value: float) -> np.ndarray:
        return self.axes.c2p(z, value)

    def shade(
        self,
        x0: float,
        x1: float,
        *,
        color=None,
        opacity: float = 0.22,
        text: str | None = None,
        font_size: float = LABEL_SIZE - 6,
    ) -> VGroup:
        """A band over ``x0 ≤ z ≤ x1``, the full height of the axes, with a label."""
        color = color or COLORS["region"]
        y0, y1 = self.axes.y_range[:2]
        lo, hi = self.axes.c2p(x0, y0), self.axes.c2p(x1, y1)
        band = Rectangle(
            width=hi[0] - lo[0],
            height=hi[1] - lo[1],
            stroke_width=0,
            fill_color=color,
            fill_opacity=opacity,
        )
        band.move_to((lo + hi) / 2)
        region = VGroup(band)
        if text:
            words = fit(
                label(text, font_size=font_size, color=color), width=band.width - 0.1
            )
            region.add(words.next_to(band.get_top(), DOWN, buff=0.08))
        return region


def legend(text: str, color, *, opacity: float = 0.5) -> VGroup:
    """A colour swatch and what it marks."""
    words = label(text, font_size=LABEL_SIZE - 2, color=WHITE)
    swatch = Rectangle(
        width=0.45, height=0.3, stroke_width=0, fill_color=color, fill_opacity=opacity
    )
    return VGroup(swatch, words).arrange(RIGHT, buff=0.15)


class ProbabilityBars(VGroup):
    """Softmax output as bars: one per class, length = probability, number at the end.

    Vertical (default): bars stand on a baseline, names below.  Horizontal: one
    row per class, ``spacing`` apart, name on the left, bars grow to the right
    (``height`` is then the length of a bar of probability 1).
    """

    def __init__(
        self,
        probs: Sequence[float],
        names: Sequence[str],
        *,
        width: float = 5.0,
        height: float = 2.6,
        color=None,
        marks: dict[int, object] | None = None,
        outlines: dict[int, object] | None = None,
        horizontal: bool = False,
        spacing: float = 0.7,
    ):
        """``marks`` recolours bars (e.g. the prediction), ``outlines`` frames them
        (e.g. the true class)."""
        super().__init__()
        k = len(probs)
        self.bars, self.numbers, self.names = VGroup(), VGroup(), VGroup()
        if horizontal:
            span = spacing * (k - 1)
            self.baseline = Line(
                UP * (span / 2 + spacing * 0.4),
                DOWN * (span / 2 + spacing * 0.4),
                stroke_color=GREY_B,
                stroke_width=2,
            )
        else:
            self.baseline = Line(
                LEFT * width / 2, RIGHT * width / 2, stroke_color=GREY_B, stroke_width=2
            )
        for c, (p, name) in enumerate(zip(probs, names)):
            fill = (marks or {}).get(c, color or COLORS["output"])
            length = max(float(p) * height, 1e-3)
            if horizontal:
                y = span / 2 - spacing * c
                bar = Rectangle(width=length, height=spacing * 0.55)
                bar.move_to([0, y, 0], aligned_edge=LEFT)
                self.numbers.add(number(p).next_to(bar, RIGHT, buff=0.1))
                self.names.add(
                    label(name, font_size=LABEL_SIZE - 2).next_to(
                        [0, y, 0], LEFT, buff=0.15
                    )
                )
            else:
                slot = width / k
                x = -width / 2 + slot * (c + 0.5)
                bar = Rectangle(width=slot * 0.6, height=length)
                bar.move_to([x, 0, 0], aligned_edge=DOWN)
                self.numbers.add(number(p).next_to(bar, UP, buff=0.08))
                self.names.add(
                    fit(
                        label(name, font_size=LABEL_SIZE - 4), width=slot * 0.95
                    ).next_to([x, 0, 0], DOWN, buff=0.15)
                )
            bar.set_style(fill_color=fill, fill_opacity=0.85, stroke_width=0)
            if c in (outlines or {}):
                bar.set_stroke(outlines[c], width=4)
            self.bars.add(bar)
        self.add(self.baseline, self.bars, self.numbers, self.names)


#: the typewriter face for code and for what ``nnbook verify`` prints
MONO = "DejaVu Sans Mono"


def code(source: str, *, width: float = 6.6, mark: str = "", font_size: float = 20
         ) -> VGroup:
    """Python as a tutorial prints it, coloured by Pygments (Manim's ``Code``),
    fitted to ``width``; the first line containing ``mark`` gets a red box."""
    from manim import Code, SurroundingRectangle

    listing = Code(code_string=source, language="python", formatter_style="monokai",
                   add_line_numbers=False,
                   paragraph_config={"font": MONO, "font_size": font_size},
                   background_config={"stroke_width": 0, "fill_color": "#1c1c22"})
    fit(listing, width=width)
    if mark:
        lines = source.splitlines()
        at = next(i for i, line in enumerate(lines) if mark in line)
        box = SurroundingRectangle(listing.code_lines[at], color=COLORS["wrong"],
                                   buff=0.05, stroke_width=3)
        return VGroup(listing, box)
    return VGroup(listing)


def verdict(lines: Sequence[str], *, width: float = 13.0, font_size: float = 18,
            chars: int = 96) -> VGroup:
    """What ``nnbook verify`` prints for failed checks (``Check.line``), each
    wrapped at ``chars`` characters, in red type, fitted to ``width``."""
    import textwrap

    rows = VGroup()
    for line in lines:
        wrapped = textwrap.wrap(line, chars, subsequent_indent="    ")
        rows.add(Text("\n".join(wrapped), font=MONO, font_size=font_size,
                      color=COLORS["wrong"], line_spacing=0.8))
    rows.arrange(DOWN, aligned_edge=LEFT, buff=0.15)
    return fit(rows, width=width)
