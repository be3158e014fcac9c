"""The slow oracle the lowering is checked against: ``sympy.lambdify``'s own
loop code on the *elementary* form of a formula, evaluated in mpmath at 50
significant digits and looped over every output element.  Tiny shapes only.

A read outside an input is :data:`ABSENT` where the formula declares that input
padded (it adds nothing and never wins a max), and an
:class:`~nnmath.formula.OutOfBounds` error where it does not: the same rule as
the lowered NumPy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
from sympy.printing.pycode import MpmathPrinter

from ..formula import out_of_bounds
from ..integers import quotient
from ..primitives import elementary, masked

if TYPE_CHECKING:
    from ..formula import Formula

__all__ = ["ABSENT", "loop_oracle"]


class _Absent:
    """A read outside an input in the loop oracle: adds nothing, multiplies to
    nothing, never wins a max."""

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __mul__(self, other):
        return self

    __rmul__ = __truediv__ = __neg__ = __mul__

    def __sub__(self, other):  # 0 − x
        return -other

    def __rsub__(self, other):  # x − 0
        return other

    def __lt__(self, other):
        return True

    def __gt__(self, other):
        return False


ABSENT = _Absent()
#: an index a/b where b does not divide a: between two cells of a dilated input
BETWEEN = object()


def _exact(a: int, b: int):
    """a/b in integers: a // b when b divides a, else BETWEEN (never a float, so
    no rounding can make a fraction an index or an index a fraction)."""
    return a // b if a % b == 0 else BETWEEN


class _ZeroOutside:
    """An input array whose reads outside it, or between its cells, are ABSENT
    if the formula declares it padded, and an :class:`OutOfBounds` error if not."""

    def __init__(self, values: np.ndarray, name: str, padded: bool, formula: str):
        self.values, self.name, self.padded, self.formula = (
            values,
            name,
            padded,
            formula,
        )

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        shape = self.values.shape
        try:  # a cell, the common case: NumPy checks the upper bounds
            if min(idx) >= 0:  # (BETWEEN compares with nothing: TypeError)
                return self.values[idx]
        except (IndexError, TypeError, ValueError):
            pass
        bad = [
            f"a fractional index on axis {a}"
            if i is BETWEEN
            else f"index {i} on axis {a} (size {n})"
            for a, (i, n) in enumerate(zip(idx, shape))
            if i is BETWEEN or not 0 <= i < n
        ]
        if bad:
            if self.padded:
                return ABSENT
            shown = ", ".join("a fraction" if i is BETWEEN else str(i) for i in idx)
            raise out_of_bounds(
                self.formula, f"{self.name}[{shown}]", ", ".join(bad), self.name
            )
        return self.values[tuple(int(i) for i in idx)]


def _first_argmax(values: list) -> int:
    """Position of the first maximum, skipping absent cells (TensorFlow's rule)."""
    best = max(v for v in values if v is not ABSENT)
    return next(k for k, v in enumerate(values) if v is not ABSENT and v == best)


class _OraclePrinter(MpmathPrinter):
    """lambdify's mpmath printer, taught the max/argmax reductions as Python loops."""

    def _loops(self, e) -> str:
        return " ".join(
            f"for {self._print(k)} in range({self._print(lo)}, {self._print(hi)}+1)"
            for k, lo, hi in e.limits
        )

    def _print_MaxShift(self, e):
        return f"(builtins.max({self._print(e.function)} {self._loops(e)}))"

    _print_Maximum = _print_MaxShift

    def _print_masked(self, e):
        cond, x, fill = (self._print(a) for a in e.args)
        return f"(({x}) if ({cond}) else ({fill}))"

    def _print_FirstArgMax(self, e):
        return f"(_first_argmax([{self._print(e.function)} {self._loops(e)}]))"

    def _print_present(self, e):
        return f"(0 if {self._print(e.args[0])} is ABSENT else 1)"

    def _print_Indexed(self, e):
        """Indices in Python integers: (u + P − p)/s as _exact(u + P − p, s), a
        row-major digit ⌊k/(W·C)⌋ as k // (W*C); mpmath would round both."""

        def index(i):
            num, den = quotient(i, self._print)
            return num if den == "1" else f"_exact({num}, {den})"

        return f"{e.base}[{', '.join(index(i) for i in e.indices)}]"


class _Part:
    """A named part of a formula's ``where`` (μ[i], the LSTM's gate z[n, k]):
    its definition evaluated at an index when first read, and kept.  The
    definition put into the expression would be evaluated again at every
    output element that reads it (multi-head attention's projections, once
    per score); each element is the same 50-digit arithmetic either way."""

    def __init__(self, fn: Callable, args: list):
        self.fn, self.args, self.memo = fn, args, {}

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        try:
            return self.memo[idx]
        except KeyError:
            value = self.memo[idx] = self.fn(*self.args, *idx)
            return value


def _lambdify(args: list, expr: sp.Expr) -> Callable:
    import builtins

    import mpmath

    return sp.lambdify(
        args,
        elementary(expr, keep=(masked,)),
        modules=[
            "mpmath",
            {
                "builtins": builtins,
                "mpmath": mpmath,
                "ABSENT": ABSENT,
                "_first_argmax": _first_argmax,
                "_exact": _exact,
            },
        ],
        printer=_OraclePrinter,
    )


def loop_oracle(
    formula: Formula, digits: int = 50, *, by_parts: bool = True
) -> Callable[..., np.ndarray]:
    """A slow reference: sympy.lambdify of the elementary form, looped per element.

    Sums become Python generator loops inside lambdify's code and this wrapper
    loops over the output indices.  It evaluates in mpmath at ``digits``
    significant digits, so the naive definitions (e^1000, log 0 clipped to
    log ε) are computed exactly where float64 would overflow.  A formula
    written in named parts (``shown`` and ``where``) is evaluated part by
    part, each part's element once, when first read (:class:`_Part`);
    ``by_parts=False`` evaluates the expression with the parts put in.  Tiny
    shapes only.
    """
    import mpmath

    dim_names = sorted(formula.dim_symbols)
    consts = sorted(formula.constant_symbols, key=lambda s: s.name)
    bases = [
        sp.IndexedBase(n) if formula.input(n).shape else sp.Symbol(n)
        for n in formula.input_names
    ]
    sizes_and_consts = [formula.dim_symbols[d] for d in dim_names] + consts
    # each part under a plain name lambdify can print (the typeset ones are
    # \delta^{z}, c'): (its name, its indices, its definition's function)
    where = formula.where if by_parts and formula.shown is not None else ()
    renamed: dict = {}
    parts: list[tuple[sp.Basic, tuple, Callable]] = []
    for k, (name, definition) in enumerate(where):
        indexed = isinstance(name, sp.Indexed)
        old = name.base if indexed else name
        new = sp.IndexedBase(f"_part{k}") if indexed else sp.Symbol(f"_part{k}")
        idx = tuple(name.indices) if indexed else ()
        fn = _lambdify(
            bases + [p for p, _, _ in parts] + sizes_and_consts + list(idx),
            definition.xreplace(renamed),
        )
        parts.append((new, idx, fn))
        renamed[old] = new
    shown = formula.shown.xreplace(renamed) if where else formula.expr
    f = _lambdify(
        bases + [p for p, _, _ in parts] + sizes_and_consts + list(formula.indices),
        shown,
    )

    def run(**arrays):
        sizes = formula.bind_dims(arrays)
        with mpmath.workdps(digits):
            vals = [
                _ZeroOutside(
                    np.vectorize(mpmath.mpf, otypes=[object])(
                        np.asarray(arrays[n], float)
                    ),
                    n,
                    n in formula.padded,
                    formula.name,
                )
                if np.ndim(arrays[n])
                else mpmath.mpf(float(arrays[n]))
                for n in formula.input_names
            ]
            fixed = [sizes[d] for d in dim_names] + [
                mpmath.mpf(formula.constant_symbols[c]) for c in consts
            ]
            done: list = []  # the parts, each reading the inputs and those before
            for _, idx, fn in parts:
                args = [*vals, *done, *fixed]
                done.append(_Part(fn, args) if idx else fn(*args))
            shape = tuple(sizes[d] for d in formula.output_shape)
            out = np.empty(shape)
            for idx in np.ndindex(*shape):
                out[idx] = float(f(*vals, *done, *fixed, *idx))
        return out

    return run
