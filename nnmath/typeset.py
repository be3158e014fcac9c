"""The book's LaTeX: SymPy's printer with the terms of a sum in textbook order.

SymPy keeps the terms of a sum in its canonical order, which puts a negative
term first wherever it sorts first: it prints ``θ' = −ηg + θ`` and
``(−y + ŷ)²``.  A textbook writes ``θ' = θ − ηg`` and ``(ŷ − y)²``.  This printer
moves the terms that carry a minus sign after the others, keeping SymPy's order
within each group; the expression itself is untouched, so what is printed is
what is computed and checked.
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

__all__ = ["BookLatexPrinter", "latex"]


#: an array named with a subscript, W_q or b_o: its index would run into it
_SUBSCRIPTED = re.compile(r"([A-Za-z])_([A-Za-z0-9]+)")


#: a name that is a word (momentum, mask, moving_variance), not a letter with
#: a subscript: set upright, as a word, or its letters read as a product
_WORD = re.compile(r"([a-z]{2,}(?:_[a-z]{2,})*)('*)")


def _is_word(name: str) -> bool:
    from sympy.printing.latex import greek_letters_set, modifier_dict

    word = _WORD.fullmatch(name)
    return bool(
        word
        and word.group(1) not in greek_letters_set | {"lamda"}
        and not any(word.group(1).endswith(m) for m in modifier_dict)
    )


class BookLatexPrinter(LatexPrinter):
    def _print_Symbol(self, expr, style="plain"):
        if expr not in self._settings["symbol_names"] and _is_word(expr.name):
            word, primes = _WORD.fullmatch(expr.name).groups()
            return r"\operatorname{" + word.replace("_", r"\_") + "}" + primes
        return super()._print_Symbol(expr, style)

    def _print_Indexed(self, expr):
        """``W_q[d, h, a]`` as W^{q}_{d,h,a}: printed as {W_{q}}_{d,h,a}, the two
        subscripts run together (W_{qd,h,a}; b_{o} indexed by o read b_{oo})."""
        named = _SUBSCRIPTED.fullmatch(str(expr.base))
        if named is None:
            return super()._print_Indexed(expr)
        letter, mark = named.groups()
        indices = ",".join(self._print(i) for i in expr.indices)
        return f"{{{letter}^{{{mark}}}}}_{{{indices}}}"

    def _as_ordered_terms(self, expr, order=None):
        terms = super()._as_ordered_terms(expr, order=order)
        if isinstance(expr, sp.Add):
            # stable: positive terms first, then the subtracted ones
            return sorted(terms, key=lambda t: t.could_extract_minus_sign())
        return terms


def latex(expr, **settings) -> str:
    """``sympy.latex(expr, **settings)`` with sums in textbook order."""
    return BookLatexPrinter(settings).doprint(expr)
