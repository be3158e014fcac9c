"""nnmath: the mathematics of neural networks, each formula written once in SymPy.

>>> from nnmath import formula
>>> f = formula("sigmoid")
>>> print(f.latex)
\\sigma\\left(z\\right) = \\frac{1}{1 + e^{- z}}

TensorFlow is imported only by :mod:`nnmath.checker.oracle`, and only when a check
needs it.
"""

from __future__ import annotations

from .claim import Claim
from .formula import Formula, Input, ShapeError
from .registry import UnknownNameError, claim, claim_names, claims, formula, names

__all__ = [
    "Formula",
    "Input",
    "Claim",
    "ShapeError",
    "UnknownNameError",
    "formula",
    "names",
    "claim",
    "claims",
    "claim_names",
]
