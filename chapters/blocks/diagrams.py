"""Diagrams: a network of neurons and weighted edges, a function's plot with
shaded regions, softmax outputs as bars, a colour legend."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Axes,
    BackgroundRectangle,
    Circle,
    Line,
    MathTex,
    Rectangle,
    VGroup,
    VMobject,
)

from .text import COLORS, LABEL_SIZE, NUMBER_SIZE, fit, label, number

__all__ = ["FunctionPlot", "NetworkDiagram", "ProbabilityBars", "legend"]


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
                                    stroke_color=COLORS["faint"],
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
        """Numbers centred in the neurons of ``layer``, all of one size: the
        widest is shrunk to fit inside its neuron, and the others as much (a
        minus sign does not make one number smaller than its neighbours)."""
        labels = VGroup(*[number(v, font_size=font_size) for v in values])
        widest = max((n.width for n in labels), default=0.0)
        room = 2 * self.radius * 0.92
        if widest > room:
            for n in labels:
                n.scale(room / widest)
        for n, circle in zip(labels, self.layers[layer]):
            n.move_to(circle)
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
                "color": COLORS["muted"],
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
            MathTex(x_label, font_size=30, color=COLORS["muted"]).next_to(
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
    words = label(text, font_size=LABEL_SIZE - 2, color=COLORS["text"])
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
                stroke_color=COLORS["muted"],
                stroke_width=2,
            )
        else:
            self.baseline = Line(
                LEFT * width / 2,
                RIGHT * width / 2,
                stroke_color=COLORS["muted"],
                stroke_width=2,
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
