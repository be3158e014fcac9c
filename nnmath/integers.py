"""Sizes and indices as exact Python integer code.

A derived size such as ⌊(W − KW)/3⌋ + 1 is a SymPy expression.  Evaluated
through floats (``lambdify(modules="math")``) it is ⌊7/3 − 4/3⌋ + 1 =
⌊0.9999999999999998⌋ + 1 = 1 for W = 7, KW = 4, one column short of the 2
that TensorFlow computes.  This printer writes such an expression as Python
code over integers only: ⌊a/b⌋ becomes ``a // b``, ⌈a/b⌉ becomes
``-(-a // b)``, ``Mod`` becomes ``%`` (both take the sign of the divisor),
``Max``/``Min`` become ``max``/``min``.  A fraction anywhere else, or a float,
is refused: it would not be an integer.  A formula's derived sizes compile
once into one function (:func:`sizes_function`), a Python call per use, not a
SymPy evaluation.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

import sympy as sp

__all__ = [
    "IntegerPrinter",
    "NotInteger",
    "integer_code",
    "quotient",
    "sizes_function",
]

ATOM, CALL, POW, UNARY, MUL, ADD = 100, 90, 60, 50, 40, 30


class NotInteger(TypeError):
    """An expression that is not made of integer operations."""


class IntegerPrinter:
    """SymPy → Python integer code; ``name`` prints a symbol (a hook for printers
    that rename symbols, as lambdify does)."""

    def __init__(self, name: Callable[[sp.Symbol], str] = str):
        self.name = name

    def doprint(self, e: sp.Expr) -> str:
        return self._print(sp.sympify(e))[0]

    def _print(self, e: sp.Expr) -> tuple[str, int]:
        for cls in type(e).__mro__:
            method = getattr(self, f"_print_{cls.__name__}", None)
            if method is not None:
                return method(e)
        raise NotInteger(f"{e} ({type(e).__name__}) is not an integer operation")

    def _paren(self, e: sp.Expr, least: int) -> str:
        code, prec = self._print(e)
        return code if prec >= least else f"({code})"

    def _print_Integer(self, e: sp.Integer) -> tuple[str, int]:
        return str(int(e)), ATOM if e >= 0 else UNARY

    def _print_Rational(self, e: sp.Rational) -> tuple[str, int]:
        raise NotInteger(f"{e} is a fraction: only ⌊a/b⌋, ⌈a/b⌉ and a mod b divide")

    def _print_Float(self, e: sp.Float) -> tuple[str, int]:
        raise NotInteger(f"{e} is a float")

    def _print_Symbol(self, e: sp.Symbol) -> tuple[str, int]:
        return self.name(e), ATOM

    def _print_Add(self, e: sp.Add) -> tuple[str, int]:
        # positive terms first: ``H - KH + 1``, not ``-KH + H + 1``
        terms = sorted(e.as_ordered_terms(), key=lambda t: t.could_extract_minus_sign())
        code = ""
        for t in terms:
            if t.could_extract_minus_sign():
                code += (
                    f" - {self._paren(-t, MUL)}" if code else f"-{self._paren(-t, POW)}"
                )
            else:
                code += f" + {self._paren(t, ADD)}" if code else self._paren(t, ADD)
        return code, ADD

    def _print_Mul(self, e: sp.Mul) -> tuple[str, int]:
        coeff, rest = e.as_coeff_Mul()
        if coeff == -1:
            return f"-{self._paren(rest, POW)}", UNARY
        factors = ([coeff] if coeff != 1 else []) + list(sp.Mul.make_args(rest))
        # a negated factor in parentheses: 3*(-(-H // 3)), not 3*-(-H // 3)
        return "*".join(self._paren(f, POW) for f in factors), MUL

    def _print_Pow(self, e: sp.Pow) -> tuple[str, int]:
        if not (e.exp.is_Integer and e.exp >= 0):
            raise NotInteger(f"{e}: only non-negative integer powers are integers")
        return f"{self._paren(e.base, POW + 1)}**{int(e.exp)}", POW

    def _division(self, arg: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        num, den = sp.fraction(sp.together(arg))
        return sp.expand(num), den

    def _print_floor(self, e: sp.floor) -> tuple[str, int]:
        num, den = self._division(e.args[0])
        if den == 1:
            return self._print(num)
        return f"{self._paren(num, MUL)} // {self._paren(den, MUL + 1)}", MUL

    def _print_ceiling(self, e: sp.ceiling) -> tuple[str, int]:
        num, den = self._division(e.args[0])
        if den == 1:
            return self._print(num)
        # ⌈a/b⌉ = −⌊−a/b⌋, exactly
        return f"-({self._paren(-num, MUL)} // {self._paren(den, MUL + 1)})", UNARY

    def _print_Mod(self, e: sp.Mod) -> tuple[str, int]:
        a, b = e.args
        return f"{self._paren(a, MUL)} % {self._paren(b, MUL + 1)}", MUL

    def _print_Max(self, e: sp.Max) -> tuple[str, int]:
        return f"max({', '.join(self._print(a)[0] for a in e.args)})", CALL

    def _print_Min(self, e: sp.Min) -> tuple[str, int]:
        return f"min({', '.join(self._print(a)[0] for a in e.args)})", CALL


def integer_code(expr: sp.Expr, name: Callable[[sp.Symbol], str] = str) -> str:
    """``expr`` as Python code over integers; NotInteger if it is not one."""
    return IntegerPrinter(name).doprint(expr)


def quotient(expr: sp.Expr, name: Callable[[sp.Symbol], str] = str) -> tuple[str, str]:
    """An index such as (u + P − p)/s as (numerator code, denominator code): the
    read is at numerator // denominator when the division is exact, and absent
    (between two cells of a dilated input) when it is not."""
    num, den = sp.fraction(sp.together(sp.expand(expr)))
    return integer_code(sp.expand(num), name), integer_code(den, name)


def sizes_function(derived: tuple) -> tuple[Callable[[dict], tuple], str]:
    """One compiled function for a formula's derived sizes ((symbol, expression),
    …, each after those it uses): it reads the given sizes from a dict and returns
    the derived ones in order.  One call, not one per size (~1 µs for conv2d)."""
    names = [s.name for s, _ in derived]
    given = sorted({a.name for _, e in derived for a in e.free_symbols} - set(names))
    bad = [a for a in given + names if not a.isidentifier() or keyword.iskeyword(a)]
    if bad:
        raise NotInteger(f"{', '.join(bad)} cannot name a Python variable")
    lines = ["def derived_sizes(sizes):"]
    lines += [f"    {a} = sizes[{a!r}]" for a in given]
    lines += [f"    {s.name} = {integer_code(e)}" for s, e in derived]
    lines.append(f"    return ({', '.join(names)}{',' if len(names) == 1 else ''})")
    source = "\n".join(lines) + "\n"
    namespace: dict = {"max": max, "min": min}
    exec(compile(source, "<derived sizes>", "exec"), namespace)  # noqa: S102 - our code
    return namespace["derived_sizes"], source
