"""A loss surface seen from above, with descent paths on it.

:class:`LossSurface` draws a grid of loss values (computed by nnmath, e.g.
:func:`nnmath.runs.trajectories.surface`) as a heat map with contour lines, on axes in
the
parameters' own units, and draws paths of parameters (a run's θ after each step)
on it.  Colours and contours are only a view of the values: the level lines are
traced through the grid by marching squares, nothing is recomputed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import (
    DL,
    DOWN,
    LEFT,
    UR,
    Dot,
    Line,
    MathTex,
    Rectangle,
    VGroup,
    VMobject,
    color_to_rgb,
    rgb_to_color,
)

from ..theme import current
from .style import MIN_FONT_SIZE
from .text import COLORS, number

__all__ = ["LossSurface", "contour_segments", "heat_rgb", "levels_for"]

#: heat-map cells across the map: enough for a smooth look, few enough to draw fast
HEAT_CELLS = 60


def _digits(step: float) -> int:
    """Decimals a scale with this step needs: 0 for whole steps, else 1."""
    return 0 if float(step).is_integer() else 1


def _ticks(grid: np.ndarray, step: float) -> np.ndarray:
    """The multiples of ``step`` inside the grid's range."""
    return np.arange(np.ceil(grid[0] / step) * step, grid[-1] + 1e-9, step)


def levels_for(Z: np.ndarray, count: int) -> np.ndarray:
    """``count`` contour levels spaced evenly in log-loss above the minimum, so the
    valley floor gets lines as well as the steep walls."""
    lo, hi = float(Z.min()), float(Z.max())
    offsets = np.geomspace(1e-2, 1.0, count) * (hi - lo)
    return lo + offsets[:-1]


def heat_rgb(Z: np.ndarray) -> np.ndarray:
    """The colour of each grid value, ``(rows, columns, 3)`` in [0, 1]."""
    t = np.log1p(Z - Z.min())
    t = t / t.max() if t.max() > 0 else t
    # the theme's stops from low loss to high, interpolated in log-loss
    stops = np.array([color_to_rgb(c) for c in current().heat])
    pos = t * (len(stops) - 1)
    k = np.clip(pos.astype(int), 0, len(stops) - 2)
    frac = (pos - k)[..., None]
    return stops[k] * (1 - frac) + stops[k + 1] * frac


def contour_segments(
    xs: np.ndarray, ys: np.ndarray, Z: np.ndarray, level: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Marching squares: the pieces of the line ``Z = level``, in grid units.

    Each cell whose corners straddle the level contributes one segment between
    the two edge crossings (linearly interpolated); saddle cells, where all four
    edges cross, are split into two segments.
    """
    segments = []
    above = Z > level
    for j in range(len(ys) - 1):
        for i in range(len(xs) - 1):
            corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
            flags = [above[c[1], c[0]] for c in corners]
            if all(flags) or not any(flags):
                continue
            points = []
            for a, b in zip(corners, corners[1:] + corners[:1]):
                za, zb = Z[a[1], a[0]], Z[b[1], b[0]]
                if (za > level) != (zb > level):
                    s = (level - za) / (zb - za)
                    x = xs[a[0]] + s * (xs[b[0]] - xs[a[0]])
                    y = ys[a[1]] + s * (ys[b[1]] - ys[a[1]])
                    points.append(np.array([x, y]))
            for k in range(0, len(points) - 1, 2):
                segments.append((points[k], points[k + 1]))
    return segments


class LossSurface(VGroup):
    """Heat map, contour lines and a framed scale of a loss over two parameters.

    The frame is drawn by hand rather than with Manim's ``Axes``, whose axes
    cross at (0, 0) whenever the ranges include it, through the middle of the map.
    Coordinates follow the frame wherever the group is moved.
    """

    def __init__(
        self,
        xs: np.ndarray,
        ys: np.ndarray,
        Z: np.ndarray,
        *,
        width: float = 6.0,
        height: float = 4.0,
        x_step: float = 1.0,
        y_step: float = 1.0,
        x_label: str = "w",
        y_label: str = "b",
        levels: int = 9,
        numbers: bool = True,
    ):
        super().__init__()
        self.xs, self.ys = np.asarray(xs, float), np.asarray(ys, float)
        Z = np.asarray(Z, float)
        self.frame = Rectangle(
            width=width, height=height, stroke_color=COLORS["muted"], stroke_width=1.5
        )
        self.heat = self._cells(Z)
        self.contours = VGroup(
            *[
                self._level_line(seg)
                for level in levels_for(Z, levels)
                if (seg := contour_segments(self.xs, self.ys, Z, level))
            ]
        )
        self.scale_marks = self._scale(x_step, y_step, numbers)
        framed = VGroup(self.frame, self.scale_marks)
        self.labels = VGroup(
            MathTex(x_label, font_size=30, color=COLORS["muted"]).next_to(
                framed, DOWN, buff=0.08
            ),
            MathTex(y_label, font_size=30, color=COLORS["muted"]).next_to(
                framed, LEFT, buff=0.12
            ),
        )
        self.add(self.heat, self.contours, self.frame, self.scale_marks, self.labels)

    # -- coordinates ----------------------------------------------------------
    def point(self, theta: Sequence[float]) -> np.ndarray:
        """Where the parameters ``theta = (x, y)`` sit on screen."""
        lo, hi = self.frame.get_corner(DL), self.frame.get_corner(UR)
        u = (float(theta[0]) - self.xs[0]) / (self.xs[-1] - self.xs[0])
        v = (float(theta[1]) - self.ys[0]) / (self.ys[-1] - self.ys[0])
        return lo + np.array([u * (hi[0] - lo[0]), v * (hi[1] - lo[1]), 0.0])

    def inside(self, theta: Sequence[float]) -> bool:
        x, y = float(theta[0]), float(theta[1])
        return bool(self.xs[0] <= x <= self.xs[-1] and self.ys[0] <= y <= self.ys[-1])

    # -- drawing --------------------------------------------------------------
    def _scale(self, x_step: float, y_step: float, numbers: bool) -> VGroup:
        marks = VGroup()
        for value in _ticks(self.xs, x_step):
            at = self.point((value, self.ys[0]))
            marks.add(
                Line(at, at + DOWN * 0.1, stroke_width=1.5, color=COLORS["muted"])
            )
            if numbers:
                marks.add(
                    number(
                        value,
                        font_size=MIN_FONT_SIZE,
                        digits=_digits(x_step),
                        color=COLORS["muted"],
                    ).next_to(at, DOWN, buff=0.14)
                )
        for value in _ticks(self.ys, y_step):
            at = self.point((self.xs[0], value))
            marks.add(
                Line(at, at + LEFT * 0.1, stroke_width=1.5, color=COLORS["muted"])
            )
            if numbers:
                marks.add(
                    number(
                        value,
                        font_size=MIN_FONT_SIZE,
                        digits=_digits(y_step),
                        color=COLORS["muted"],
                    ).next_to(at, LEFT, buff=0.14)
                )
        return marks

    def _cells(self, Z: np.ndarray) -> VGroup:
        """Filled cells between grid points (at most ``HEAT_CELLS`` across), each
        coloured by the mean of its corners.  (Manim's ImageMobject cannot be
        drawn with the installed Pillow, so no bitmap.)"""
        stride = max(1, int(np.ceil(len(self.xs) / HEAT_CELLS)))
        xs, ys, Z = self.xs[::stride], self.ys[::stride], Z[::stride, ::stride]
        rgb = heat_rgb((Z[:-1, :-1] + Z[1:, :-1] + Z[:-1, 1:] + Z[1:, 1:]) / 4)
        dx = self.frame.width / (len(xs) - 1)
        dy = self.frame.height / (len(ys) - 1)
        # a little overlap, so no seams show between neighbours
        return VGroup(
            *[
                Rectangle(
                    width=dx * 1.15,
                    height=dy * 1.15,
                    stroke_width=0,
                    fill_color=rgb_to_color(rgb[j, i]),
                    fill_opacity=1,
                ).move_to(
                    self.point(((xs[i] + xs[i + 1]) / 2, (ys[j] + ys[j + 1]) / 2))
                )
                for j in range(len(ys) - 1)
                for i in range(len(xs) - 1)
            ]
        )

    def _level_line(self, segments) -> VMobject:
        line = VMobject(
            stroke_color=COLORS["text"], stroke_width=1.2, stroke_opacity=0.35
        )
        for a, b in segments:
            line.start_new_path(self.point(a))
            line.add_line_to(self.point(b))
        return line

    def last_inside(self, path: np.ndarray) -> np.ndarray:
        """The end of the path that stays on the map: its points after the last
        one off it (a zoom on where a run ends)."""
        path = np.asarray(path, float)
        k = len(path)
        while k > 0 and self.inside(path[k - 1]):
            k -= 1
        return path[k:]

    def visible(self, path: np.ndarray) -> np.ndarray:
        """The path up to its first point off the map (a divergent run leaves it)."""
        path = np.asarray(path, float)
        out = [k for k, t in enumerate(path) if not self.inside(t)]
        return path if not out else path[: out[0]]

    def path(
        self,
        path: np.ndarray,
        color,
        *,
        dots: bool = True,
        stroke_width: float = 3.0,
        dot_radius: float = 0.045,
    ) -> VGroup:
        """The line through θ after each step, with a dot per step (on the map)."""
        shown = self.visible(path)
        line = VMobject(stroke_color=color, stroke_width=stroke_width)
        if len(shown) >= 2:
            line.set_points_as_corners([self.point(t) for t in shown])
        marks = (
            VGroup(*[Dot(self.point(t), radius=dot_radius, color=color) for t in shown])
            if dots
            else VGroup()
        )
        return VGroup(line, marks)
