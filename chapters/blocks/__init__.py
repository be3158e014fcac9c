"""Shared Manim building blocks: the chapters compose these and nothing else.

A chapter imports what it needs from here (``from .blocks import equation``);
each block lives in the module named for what it draws: :mod:`.text` (type,
numbers, equations, matrices), :mod:`.panels` (equation cards, tables, code and
verify's verdicts), :mod:`.diagrams` (networks, plots, probability bars),
:mod:`.grid` (grids of numbers with sliding windows, images) and
:mod:`.surface` (a loss surface with descent paths).
"""

from __future__ import annotations

from ..theme import Palette
from .diagrams import FunctionPlot, NetworkDiagram, ProbabilityBars, legend
from .grid import ArrayImage, NumberGrid
from .panels import EquationPanel, code, equation_card, shown, table, verdict
from .steps import teaching_pause
from .style import MIN_FONT_SIZE, reading_time
from .surface import LossSurface
from .text import (
    COLORS,
    DIGITS,
    EQUATION_SIZE,
    FONT,
    LABEL_SIZE,
    NUMBER_SIZE,
    TITLE_SIZE,
    equation,
    fit,
    fmt,
    label,
    matrix,
    number,
    signed,
    title,
    wrap,
)

__all__ = [
    "teaching_pause",
    "COLORS",
    "Palette",
    "DIGITS",
    "EQUATION_SIZE",
    "FONT",
    "LABEL_SIZE",
    "MIN_FONT_SIZE",
    "NUMBER_SIZE",
    "TITLE_SIZE",
    "ArrayImage",
    "EquationPanel",
    "FunctionPlot",
    "LossSurface",
    "NetworkDiagram",
    "NumberGrid",
    "ProbabilityBars",
    "code",
    "equation",
    "equation_card",
    "fit",
    "fmt",
    "label",
    "legend",
    "matrix",
    "number",
    "signed",
    "reading_time",
    "shown",
    "table",
    "title",
    "verdict",
    "wrap",
]
