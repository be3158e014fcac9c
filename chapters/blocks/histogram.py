"""A histogram: how the values of one feature over a batch are spread."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from manim import DOWN, Line, Rectangle, VGroup

from .style import MIN_FONT_SIZE
from .text import COLORS, number

__all__ = ["Histogram"]


class Histogram(VGroup):
    """Bars counting ``values`` in equal bins over ``x_range`` (lo, hi, step of
    the scale), on a baseline with the scale's numbers under it.

    Every histogram drawn with the same ``x_range``, ``top`` and size is on the
    same scale, so histograms side by side compare.  A value outside the range
    is counted in the outermost bin, so nothing is hidden.
    """

    def __init__(
        self,
        values: np.ndarray,
        *,
        x_range: Sequence[float],
        bins: int,
        top: int,
        width: float = 3.6,
        height: float = 1.3,
        color=None,
        numbers: bool = True,
    ):
        super().__init__()
        color = color or COLORS["muted"]
        lo, hi, step = (float(v) for v in x_range)
        self.lo, self.hi, self.width_, self.height_ = lo, hi, width, height
        clipped = np.clip(np.asarray(values, float).ravel(), lo, hi)
        self.counts, edges = np.histogram(clipped, bins=bins, range=(lo, hi))
        self.baseline = Line(
            [0, 0, 0], [width, 0, 0], stroke_width=2, color=COLORS["muted"]
        )
        bar_w = width / bins
        self.bars = VGroup()
        for k, count in enumerate(self.counts):
            if count == 0:
                continue
            h = height * count / top
            self.bars.add(
                Rectangle(
                    width=bar_w * 0.92,
                    height=h,
                    stroke_width=0,
                    fill_color=color,
                    fill_opacity=0.85,
                ).move_to([(k + 0.5) * bar_w, h / 2, 0])
            )
        self.scale_marks = VGroup()
        ticks = np.arange(lo, hi + step / 2, step)
        for value in ticks:
            at = np.array([self.x(value), 0, 0])
            self.scale_marks.add(Line(at, at + DOWN * 0.08, stroke_width=1.5))
            if numbers:
                self.scale_marks.add(
                    number(
                        value, font_size=MIN_FONT_SIZE, digits=0, color=COLORS["muted"]
                    ).next_to(at, DOWN, buff=0.12)
                )
        self.add(self.bars, self.baseline, self.scale_marks)

    def x(self, value: float) -> float:
        """Where ``value`` sits along the baseline, before the group is moved."""
        return (value - self.lo) / (self.hi - self.lo) * self.width_

    def point(self, value: float) -> np.ndarray:
        """Where ``value`` sits on the baseline, wherever the group is."""
        left = self.baseline.get_start()
        return left + np.array([(value - self.lo) / (self.hi - self.lo), 0, 0]) * (
            self.baseline.get_end() - left
        )
