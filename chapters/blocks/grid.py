"""Grids of numbers and arrays as pictures: the building blocks of the CNN chapters.

:class:`NumberGrid` draws a 2-D array as cells with numbers in them, optionally
inside a border of zero cells (padding), and gives each cell an address in the
*input's* coordinates, so a padding cell is ``(-1, 0)``: a window over the cells a
formula reads can be drawn without translating indices.  :class:`ArrayImage`
shows a feature map as pixels with a colour scale beside it.  Neither computes
anything: values come in from nnmath, and colours are only a view of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Mobject,
    Rectangle,
    Square,
    VGroup,
    color_to_rgb,
    rgb_to_color,
)

from .style import MIN_FONT_SIZE
from .text import COLORS, LABEL_SIZE, NUMBER_SIZE, fit, label, number

__all__ = [
    "ArrayImage",
    "NumberGrid",
    "heading",
    "link",
    "note",
    "Padding",
    "colour_scale",
    "digits_for",
    "to_rgb",
    "value_range",
]

#: ``(top, bottom, left, right)`` zero cells around the input
Padding = tuple[int, int, int, int]


def digits_for(values: np.ndarray, digits: int = 2) -> int:
    """0 decimals for whole numbers (digit pixels, integer kernels), else ``digits``:
    ``12`` reads better than ``12.00`` in a small cell."""
    values = np.asarray(values, dtype=float)
    return 0 if np.all(values == np.round(values)) else digits


def _as_padding(pad: int | Sequence[int]) -> Padding:
    if isinstance(pad, int):
        return (pad, pad, pad, pad)
    if len(pad) != 4 or any(p < 0 for p in pad):
        raise ValueError(
            f"unknown padding {pad!r}; valid: an int or (top, bottom, left, right), "
            ">= 0"
        )
    return tuple(int(p) for p in pad)  # type: ignore[return-value]


class NumberGrid(VGroup):
    """A 2-D array as square cells with its numbers, inside ``pad`` zero cells.

    ``values`` may be ``None`` with a ``shape``: an empty grid to be filled in
    (an output being computed), whose numbers :meth:`entry` makes one by one.
    ``heat`` tints each cell by its value (blue positive, red negative).
    """

    def __init__(
        self,
        values: np.ndarray | None = None,
        *,
        shape: tuple[int, int] | None = None,
        cell: float = 0.55,
        pad: int | Sequence[int] = 0,
        digits: int | None = None,
        font_size: float = NUMBER_SIZE,
        color=None,
        heat: bool = False,
    ):
        super().__init__()
        color = color or COLORS["muted"]
        if values is None and shape is None:
            raise ValueError("NumberGrid needs values or a shape")
        self.values = None if values is None else np.asarray(values, dtype=float)
        if self.values is not None and self.values.ndim != 2:
            raise ValueError(
                f"NumberGrid shows a 2-D array, got shape {self.values.shape}"
            )
        self.shape = self.values.shape if self.values is not None else tuple(shape)
        self.size, self.pad = cell, _as_padding(pad)
        self.font_size = font_size
        if digits is None:
            digits = digits_for(self.values) if self.values is not None else 2
        self.digits = digits
        top, bottom, left, right = self.pad
        rows, cols = self.shape
        self.cells, self.padding, self.numbers = VGroup(), VGroup(), VGroup()
        self._cell: dict[tuple[int, int], Square] = {}
        self._number: dict[tuple[int, int], Mobject] = {}
        scale = np.abs(self.values).max() if heat and self.values is not None else 0
        for r in range(-top, rows + bottom):
            for c in range(-left, cols + right):
                inside = 0 <= r < rows and 0 <= c < cols
                square = Square(cell, stroke_width=1.5, stroke_color=color)
                square.move_to([c * cell, -r * cell, 0])
                if inside:
                    square.set_fill(COLORS["cell"], opacity=1)
                    if scale:
                        v = self.values[r, c]
                        tint = COLORS["positive"] if v >= 0 else COLORS["negative"]
                        square.set_fill(tint, opacity=0.6 * abs(v) / scale)
                    self.cells.add(square)
                    if self.values is not None:
                        value = self._text(self.values[r, c], square)
                        self._number[(r, c)] = value
                else:
                    square.set_stroke(COLORS["faint"]).set_fill(
                        COLORS["pad"], opacity=1
                    )
                    square.set_stroke(width=1)
                    self.padding.add(square)
                    self._number[(r, c)] = self._text(
                        0.0, square, color=COLORS["faint"]
                    )
                self._cell[(r, c)] = square
        self.numbers.add(*self._number.values())
        self.add(self.padding, self.cells, self.numbers)
        self.center()

    def _text(self, value: float, square: Square, color=None) -> Mobject:
        text = number(value, font_size=self.font_size, color=color, digits=self.digits)
        return fit(text, width=self.size * 0.86).move_to(square)

    def cell(self, r: int, c: int) -> Square:
        """The cell at input row ``r``, column ``c`` (negative or past the end:
        a padding cell)."""
        if (r, c) not in self._cell:
            top, bottom, left, right = self.pad
            rows, cols = self.shape
            raise IndexError(
                f"cell ({r}, {c}) is outside the grid; valid rows "
                f"{-top}..{rows + bottom - 1}, columns {-left}..{cols + right - 1}"
            )
        return self._cell[(r, c)]

    def number(self, r: int, c: int) -> Mobject:
        """The number shown in cell ``(r, c)`` (a padding cell shows its 0)."""
        self.cell(r, c)  # an IndexError naming the valid cells
        return self._number[(r, c)]

    def entry(self, r: int, c: int, value: float, *, color=None) -> Mobject:
        """A number placed in cell ``(r, c)``, to be faded in as it is computed."""
        return self._text(value, self.cell(r, c), color=color)

    def window(
        self, r: int, c: int, height: int, width: int, *, color=None, stroke: float = 5
    ) -> Rectangle:
        """A frame around the ``height`` × ``width`` cells whose top-left is
        ``(r, c)``: where a kernel sits."""
        first, last = self.cell(r, c), self.cell(r + height - 1, c + width - 1)
        frame = Rectangle(
            width=last.get_right()[0] - first.get_left()[0],
            height=first.get_top()[1] - last.get_bottom()[1],
            stroke_color=color or COLORS["highlight"],
            stroke_width=stroke,
        )
        corners = first.get_corner(UP + LEFT) + last.get_corner(DOWN + RIGHT)
        return frame.move_to(corners / 2)

    def outline(
        self, cells: Iterable[tuple[int, int]], *, color=None, stroke: float = 4
    ) -> VGroup:
        """Frames around single cells (e.g. the maximum of each pooling window)."""
        color = color or COLORS["highlight"]
        return VGroup(
            *[
                Square(
                    self.size * 0.9, stroke_color=color, stroke_width=stroke
                ).move_to(self.cell(r, c))
                for r, c in cells
            ]
        )


def value_range(
    values: np.ndarray,
    *,
    signed: bool | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> tuple[float, float, bool]:
    """``(lo, hi, signed)`` of the colour scale for ``values``: symmetric about 0
    for signed data (so 0 is black), else from the minimum (or ``vmin``) to the
    maximum (or ``vmax``)."""
    values = np.asarray(values, dtype=float)
    signed = bool(values.min() < 0) if signed is None else signed
    if signed:
        top = vmax if vmax is not None else float(np.abs(values).max()) or 1.0
        return -top, top, True
    lo = float(values.min()) if vmin is None else vmin
    hi = float(values.max()) if vmax is None else vmax
    return lo, hi, False


def to_rgb(values: np.ndarray, lo: float, hi: float, signed: bool) -> np.ndarray:
    """An ``(H, W, 3)`` uint8 picture of a 2-D array on the scale ``lo..hi``.

    Unsigned data (pixel intensities) is grey from black to white; signed data
    (an edge map) is red for negative, the background at 0 and blue for
    positive: the book's colours for sign, fading into the frame where the
    value is small (black in the dark theme, white in the light one).
    """
    values = np.asarray(values, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"to_rgb takes a 2-D array, got shape {values.shape}")
    if signed:
        t = np.clip(values / hi, -1, 1)[..., None]
        pos, neg = color_to_rgb(COLORS["positive"]), color_to_rgb(COLORS["negative"])
        base = color_to_rgb(COLORS["background"])
        rgb = base + np.where(t >= 0, t * (pos - base), -t * (neg - base))
    else:
        t = np.clip((values - lo) / ((hi - lo) or 1.0), 0, 1)
        rgb = np.repeat(t[..., None], 3, axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def _pixels(rgb: np.ndarray, width: float, height: float) -> VGroup:
    """One filled square per value: sharp at any size, no raster scaling.

    (Manim 0.22's ImageMobject cannot be drawn with Pillow >= 11.3, and a feature
    map here has at most a few hundred values.)
    """
    rows, cols = rgb.shape[:2]
    w, h = width / cols, height / rows
    squares = VGroup()
    for r in range(rows):
        for c in range(cols):
            square = Rectangle(width=w, height=h, stroke_width=0)
            square.set_fill(rgb_to_color(rgb[r, c] / 255), opacity=1)
            squares.add(square.move_to([(c + 0.5) * w, -(r + 0.5) * h, 0]))
    return squares.center()


def colour_scale(
    lo: float, hi: float, *, signed: bool, height: float = 2.0, digits: int = 2
) -> VGroup:
    """A vertical bar of the colours :func:`to_rgb` uses from ``lo`` to ``hi``,
    with both ends (and 0, for signed data) labelled."""
    ramp = np.linspace(hi, lo, 48)[:, None]
    bar = _pixels(to_rgb(ramp, lo, hi, signed), 0.22, height)
    frame = Rectangle(
        width=0.22, height=height, stroke_color=COLORS["muted"], stroke_width=1
    )
    ticks = [hi, lo] + ([0.0] if signed else [])
    labels = VGroup()
    for v in ticks:
        y = height / 2 - height * (hi - v) / (hi - lo)
        text = number(v, font_size=MIN_FONT_SIZE, digits=digits)
        labels.add(text.next_to([0.11, y, 0], RIGHT, buff=0.1))
    return VGroup(bar, frame, labels)


class ArrayImage(VGroup):
    """A 2-D array as a picture, one sharp square per value, framed, with a
    caption under it and optionally a colour scale beside it."""

    def __init__(
        self,
        values: np.ndarray,
        *,
        height: float = 2.4,
        signed: bool | None = None,
        vmin: float | None = None,
        vmax: float | None = None,
        caption: str | None = None,
        scale: bool = True,
        digits: int | None = None,
    ):
        super().__init__()
        self.values = np.asarray(values, dtype=float)
        if self.values.ndim != 2:
            raise ValueError(
                f"ArrayImage shows a 2-D array, got shape {self.values.shape}"
            )
        lo, hi, signed = value_range(self.values, signed=signed, vmin=vmin, vmax=vmax)
        rows, cols = self.values.shape
        rgb = to_rgb(self.values, lo, hi, signed)
        self.image = _pixels(rgb, height * cols / rows, height)
        self.frame = Rectangle(
            width=self.image.width,
            height=height,
            stroke_color=COLORS["muted"],
            stroke_width=1.5,
        ).move_to(self.image)
        self.add(self.image, self.frame)
        if scale:
            if digits is None:
                digits = digits_for(np.array([lo, hi]))
            self.scale_bar = colour_scale(
                lo, hi, signed=signed, height=height * 0.9, digits=digits
            )
            self.scale_bar.next_to(self.frame, RIGHT, buff=0.15)
            self.add(self.scale_bar)
        if caption:
            words = label(caption, font_size=LABEL_SIZE - 4, color=COLORS["muted"])
            self.caption = fit(words, width=max(self.width, 2.0))
            self.caption.next_to(self.frame, DOWN, buff=0.15)
            self.add(self.caption)

    def pixel(self, r: int, c: int) -> Rectangle:
        """The square showing value ``(r, c)``."""
        return self.image[r * self.values.shape[1] + c]


# -- layout helpers shared by the grid scenes --------------------------------------
def heading(text: str, mob: Mobject, *, buff: float = 0.15) -> Mobject:
    """A grey name above a grid or a picture."""
    return label(text, font_size=24, color=COLORS["muted"]).next_to(mob, UP, buff=buff)


def note(text: str, *, buff: float = 0.3) -> Mobject:
    """A grey one-line remark at the bottom of the frame."""
    return label(text, font_size=23, color=COLORS["muted"]).to_edge(DOWN, buff=buff)


def link(start: np.ndarray, end: np.ndarray, *, buff: float = 0.15) -> Arrow:
    """A thin grey arrow: "this becomes that"."""
    return Arrow(start, end, buff=buff, stroke_width=3, color=COLORS["muted"])
