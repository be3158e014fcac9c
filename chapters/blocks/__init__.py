"""Shared Manim building blocks: the chapters compose these and nothing else.

A chapter imports what it needs from here (``from .blocks import equation``);
each block lives in the module named for what it draws.
"""

from __future__ import annotations

from .diagrams import (
    COLORS,
    DIGITS,
    FONT,
    EquationPanel,
    FunctionPlot,
    NetworkDiagram,
    ProbabilityBars,
    code,
    equation,
    fit,
    fmt,
    label,
    legend,
    matrix,
    number,
    title,
    verdict,
    wrap,
)
from .grid import ArrayImage, NumberGrid
from .surface import LossSurface

__all__ = [
    "COLORS",
    "DIGITS",
    "FONT",
    "ArrayImage",
    "EquationPanel",
    "FunctionPlot",
    "LossSurface",
    "NetworkDiagram",
    "NumberGrid",
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
