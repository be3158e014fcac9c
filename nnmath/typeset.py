"""The book's LaTeX: SymPy's printer with the terms of a sum in textbook order.

SymPy keeps the terms of a sum in its canonical order, which puts a negative
term first wherever it sorts first: it prints ``θ' = −ηg + θ`` and
``(−y + ŷ)²``.  A textbook writes ``θ' = θ − ηg`` and ``(ŷ − y)²``.  This printer
moves the terms that carry a minus sign after the others, keeping SymPy's order
within each group; the expression itself is untouched, so what is printed is
what is computed and checked.
"""

from __future__ import annotations

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = ["BookLatexPrinter", "latex"]


class BookLatexPrinter(LatexPrinter):
    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        if isinstance(expr, sp.Add):
            # stable: positive terms first, then the subtracted ones
            return sorted(terms, key=lambda t: t.could_extract_minus_sign())
        return terms


def latex(expr, **settings) -> str:
    """``sympy.latex(expr, **settings)`` with sums in textbook order."""
    return BookLatexPrinter(settings).doprint(expr)
