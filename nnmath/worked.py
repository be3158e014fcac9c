"""Worked examples: a formula's equation with real numbers put in.

A scene shows ``a = σ(0.10 + 0.52 · 5.10 + (−0.31) · 3.50 + …) = 0.73``.  That line is
*derived* from ``Formula.expr``, never typed: the dimensions and the output index
are substituted, each sum is expanded in index order, and every leaf (``x[0, 2]``,
``w[2]``, ``b``) is printed as its number.  The number after the last ``=`` comes
from the lowered NumPy function, and :meth:`Worked.evaluate` recomputes it from
the substituted expression with SymPy, so the two can be compared.

All numbers in the book are written by :func:`fmt`.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from .formula import Formula
from .primitives import MaxShift, elementary
from .typeset import BookLatexPrinter, latex

__all__ = [
    "DIGITS",
    "Worked",
    "derived_latex",
    "fmt",
    "scientific",
    "substituted_latex",
    "worked",
]

#: decimals shown everywhere in the book
DIGITS = 2

#: the axis a textbook leaves out when it writes one sample
BATCH_AXIS = "N"


def fmt(x: float, digits: int = DIGITS) -> str:
    """The one way the book writes a number: fixed decimals, never ``-0.00``."""
    text = f"{float(x):.{digits}f}"
    if float(text) == 0.0:
        text = f"{0.0:.{digits}f}"
    return text


def scientific(x: float) -> str:
    """``x`` in LaTeX scientific notation, to two significant digits: 10^{-7},
    -2.5 \\cdot 10^{-9}."""
    mantissa, exponent = f"{float(x):.1e}".split("e")
    power = f"10^{{{int(exponent)}}}"
    if mantissa.lstrip("-") == "1.0":
        return ("-" if mantissa.startswith("-") else "") + power
    return rf"{mantissa} \cdot {power}"


@dataclass(frozen=True, eq=False)
class Worked:
    """One output element of a formula, at concrete arrays."""

    formula: Formula
    arrays: dict[str, np.ndarray]
    #: output index name → position, e.g. ``{"n": 0, "i": 1}``
    at: dict[str, int]
    #: ``formula.expr`` with sizes and the output index substituted (sums kept)
    expr: sp.Expr

    @cached_property
    def value(self) -> float:
        """The element as the lowered NumPy function computes it."""
        out = self.formula.numpy(**self.arrays)
        return float(out[tuple(self.at[s.name] for s in self.formula.indices)])

    @property
    def lhs(self) -> sp.Expr:
        """The output element, without the batch index (one sample is shown)."""
        f = self.formula
        kept = [
            sp.Integer(self.at[s.name])
            for s, d in zip(f.indices, f.output_shape)
            if d != BATCH_AXIS
        ]
        return sp.IndexedBase(f.output)[tuple(kept)] if kept else sp.Symbol(f.output)

    def leaf_value(self, leaf: sp.Expr) -> float | None:
        """The number behind an input element, a scalar input, a constant or a
        max-shift; ``None`` for anything else."""
        if isinstance(leaf, sp.Indexed) and leaf.base.name in self.arrays:
            if not all(i.is_Integer for i in leaf.indices):
                return None
            array = self.arrays[leaf.base.name]
            at = tuple(int(i) for i in leaf.indices)
            if any(not 0 <= k < size for k, size in zip(at, np.shape(array))):
                return (
                    0.0  # outside the array: a zero-padding cell, never a wrap-around
                )
            return float(array[at])
        if isinstance(leaf, sp.Symbol):
            if leaf.name in self.arrays and np.ndim(self.arrays[leaf.name]) == 0:
                return float(self.arrays[leaf.name])
            if leaf.name in self.formula.constants:
                return float(self.formula.constants[leaf.name])
        if isinstance(leaf, MaxShift):
            return max(self.leaf_value(t) for t in _expand(leaf.function, leaf.limits))
        return None

    @cached_property
    def expanded(self) -> sp.Expr:
        """The element with every sum expanded (``doit``), still symbolic."""
        return self.expr.doit()

    def numbers(self) -> dict[sp.Expr, float]:
        """Every leaf of the expanded expression and its number."""
        leaves = self.expanded.atoms(sp.Indexed, sp.Symbol, MaxShift)
        found = {leaf: self.leaf_value(leaf) for leaf in leaves}
        return {k: v for k, v in found.items() if v is not None}

    def evaluate(self) -> float:
        """The element recomputed from the substituted expression by SymPy: an
        independent check of :attr:`value`."""
        numeric = self.expanded.xreplace(
            {k: sp.Float(v, 30) for k, v in self.numbers().items()}
        )
        return float(elementary(numeric).evalf(30))

    def sum_terms(self) -> list[float]:
        """The values of the terms of the first sum, in index order (for a neuron:
        each ``w_j x_j``)."""
        sums = sorted(self.expr.atoms(sp.Sum), key=sp.default_sort_key)
        if not sums:
            return []
        s = sums[0]
        numbers = self.numbers()
        out = []
        for term in _expand(s.function, s.limits):
            term = term.doit().xreplace(
                {k: sp.Float(v, 30) for k, v in numbers.items()}
            )
            out.append(float(elementary(term).evalf(30)))
        return out

    @cached_property
    def integral(self) -> frozenset[str]:
        """The inputs whose every value is a whole number (a step count t, the
        zeros an optimizer starts from, integer data): written as integers."""
        return frozenset(
            name
            for name, a in self.arrays.items()
            if a.size
            and np.all(np.isfinite(a))
            and np.all(a == np.round(a))
            and np.all(np.abs(a) < 1e15)
        )

    def latex(self, digits: int = DIGITS, max_terms: int | None = None) -> str:
        """``lhs = (equation with numbers) = value``."""
        printer = _NumberPrinter(self, digits, max_terms)
        return (
            f"{latex(self.lhs)} = {printer.doprint(self.expr)} "
            f"= {fmt(self.value, digits)}"
        )


def worked(
    formula: Formula, arrays: dict[str, np.ndarray], at: dict[str, int] | None = None
) -> Worked:
    """The element ``at`` (default: all output indices 0) of ``formula`` at
    ``arrays``."""
    arrays = {k: np.asarray(v, dtype=float) for k, v in arrays.items()}
    sizes = formula.bind_dims(arrays)
    names = [s.name for s in formula.indices]
    at = dict(at or {})
    unknown = [k for k in at if k not in names]
    if unknown:
        raise ValueError(
            f"{formula.name} has no output index {', '.join(unknown)}; "
            f"valid: {', '.join(names) or 'none (scalar output)'}"
        )
    for s, dim in zip(formula.indices, formula.output_shape):
        at.setdefault(s.name, 0)
        size = sizes.get(dim)
        if size is not None and not 0 <= at[s.name] < size:
            raise ValueError(
                f"{formula.name}: index {s.name}={at[s.name]} out of range; "
                f"{dim}={size} so valid: 0..{size - 1}"
            )
    subs = {
        sym: sizes[name] for name, sym in formula.dim_symbols.items() if name in sizes
    }
    subs.update({s: at[s.name] for s in formula.indices})
    return Worked(formula, arrays, at, formula.expr.subs(subs))


def substituted_latex(
    formula: Formula,
    arrays: dict[str, np.ndarray],
    at: dict[str, int] | None = None,
    digits: int = DIGITS,
    max_terms: int | None = None,
) -> str:
    """The equation for one output element with the real numbers substituted in.

    >>> f = formula("neuron")
    >>> substituted_latex(f, {"x": X, "w": w, "b": 0.1})  # doctest: +SKIP
    'a = \\sigma\\left(0.10 + 0.52 \\cdot 5.10 + ...\\right) = 0.73'

    Terms keep the order of the symbolic equation and sums are written out in
    index order; negative numbers are put in parentheses (except where nothing
    precedes them).  ``max_terms`` shortens
    long sums to their first terms, ``\\dots`` and the last term.  A number too
    small to show at ``digits`` decimals (Keras's ε = 10⁻⁷) is written in
    scientific notation, never as 0.00; an input whose every value is a whole
    number is written in integers (t = 0, not 0.000; −4, not −4.00).
    """
    return worked(formula, arrays, at).latex(digits, max_terms)


def derived_latex(formula: Formula, sizes: dict[str, int]) -> dict[str, str]:
    """Each size the formula derives from ``sizes`` (an output height, a padding),
    worked out: ``H_o = ⌈H/2⌉ = ⌈5/2⌉ = 3``, by name, in the formula's order."""
    known = {formula.dim_symbols[d]: sp.Integer(v) for d, v in sizes.items()}
    lines = {}
    for symbol, expr in formula.derived:
        if not expr.free_symbols <= set(known):
            continue
        # each known size as a symbol printed as its number: 2·3 + 3 stays apart
        stand = {k: sp.Symbol(f"_{k}") for k in expr.free_symbols}
        put_in = latex(
            expr.xreplace(stand),
            mul_symbol="dot",
            symbol_names={stand[k]: str(known[k]) for k in stand},
        )
        value = expr.xreplace(known)
        # an output size is named Ho in code, H_o in print
        names = {
            d: f"{d.name[:-1]}_{{{d.name[-1]}}}"
            for d in expr.free_symbols | {symbol}
            if re.fullmatch(r"[A-Z]+[a-z]", d.name)
        }
        lines[symbol.name] = (
            f"{latex(symbol, symbol_names=names)} = "
            f"{latex(expr, symbol_names=names)} = {put_in} = {value}"
        )
        known[symbol] = value
    return lines


def _expand(function: sp.Expr, limits) -> list[sp.Expr]:
    """The terms of a sum, first limit outermost, each index ascending."""
    ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in limits]
    return [
        function.subs(dict(zip([v for v, _, _ in limits], combo)))
        for combo in itertools.product(*ranges)
    ]


class _NumberPrinter(BookLatexPrinter):
    """SymPy's LaTeX printer with leaves printed as numbers and sums written out.

    Sums are expanded while printing (rather than by ``doit``, whose canonical
    ordering would put ``W_{1,10}`` before ``W_{1,2}`` and move the bias) so the
    numbers appear in the order the symbolic equation reads.
    """

    def __init__(
        self,
        work: Worked,
        digits: int,
        max_terms: int | None,
    ):
        super().__init__({"mul_symbol": "dot"})
        self._work, self._digits, self._max_terms = work, digits, max_terms
        self._stack: list[sp.Basic] = []

    def _print(self, expr, **kwargs) -> str:
        self._stack.append(expr)
        try:
            if isinstance(
                expr, MaxShift
            ):  # its own _latex would win over a _print_ method
                return self._number(expr, self._work.leaf_value(expr))
            return super()._print(expr, **kwargs)
        finally:
            self._stack.pop()

    @property
    def _parent(self) -> sp.Basic | None:
        return self._stack[-2] if len(self._stack) > 1 else None

    def _stands_alone(self, expr: sp.Expr) -> bool:
        """True where the surrounding notation already delimits ``expr``: the
        whole equation, a function's only argument, a numerator or denominator."""
        parent = self._parent
        if parent is None:
            return True
        if isinstance(parent, sp.Function) and parent.args == (expr,):
            return True
        if parent.is_Mul and expr in sp.fraction(parent):
            return True
        # a leading minus is unambiguous
        return bool(parent.is_Add and self._as_ordered_terms(parent)[0] == expr)

    def _number(self, expr: sp.Expr, value: float) -> str:
        base = expr.base if isinstance(expr, sp.Indexed) else expr
        if str(base) in self._work.integral:
            text = str(int(value))
        elif value != 0 and abs(value) < 0.5 * 10.0**-self._digits:
            text = scientific(value)
        else:
            text = fmt(value, self._digits)
        if text.startswith("-") and not self._stands_alone(expr):
            return f"({text})"
        return text

    def _print_Indexed(self, expr):
        value = self._work.leaf_value(expr)
        return (
            super()._print_Indexed(expr) if value is None else self._number(expr, value)
        )

    def _print_Symbol(self, expr, style="plain"):
        value = self._work.leaf_value(expr)
        return (
            super()._print_Symbol(expr, style)
            if value is None
            else self._number(expr, value)
        )

    def _print_Sum(self, expr):
        terms = [self._print(t) for t in _expand(expr.function, expr.limits)]
        if self._max_terms and len(terms) > self._max_terms > 1:
            terms = terms[: self._max_terms - 1] + [r"\dots", terms[-1]]
        text = " + ".join(terms)
        parent = self._parent
        if self._stands_alone(expr) or (
            parent is not None and parent.is_Add and expr in parent.args
        ):
            return text  # a positive term of a sum: no brackets needed
        if isinstance(parent, sp.Pow) and parent.base == expr:
            return text  # Pow parenthesizes its base itself
        return rf"\left({text}\right)"

    def _needs_mul_brackets(self, expr, first=False, last=False) -> bool:
        # Expanded sums bracket themselves (see _print_Sum); judge the rest as if
        # each sum were a single symbol.
        if isinstance(expr, sp.Sum):
            return False
        atomised = expr.replace(lambda e: isinstance(e, sp.Sum), lambda e: sp.Dummy())
        return super()._needs_mul_brackets(atomised, first=first, last=last)
