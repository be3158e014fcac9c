"""Named building blocks that SymPy lacks, each with an elementary definition.

A primitive is a SymPy ``Function`` that prints nicely (``\\sigma(z)``) and lowers to
a numerically stable NumPy expression, but it carries **no derivative rule of its
own**.  Before anything is differentiated, :func:`elementary` replaces every
primitive by its definition in plain SymPy (``1/(1+exp(-z))``), so a claimed
derivative is always checked against calculus, never against a rule we typed.
"""

from __future__ import annotations

import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

__all__ = [
    "sigmoid",
    "softplus",
    "clip",
    "inside",
    "reciprocal",
    "masked",
    "MaxShift",
    "Maximum",
    "FirstArgMax",
    "present",
    "row_major_digits",
    "row_major_index",
    "elementary",
    "PRIMITIVES",
]


class _Primitive(sp.Function):
    """A function with an elementary definition and no hand-written derivative."""

    @classmethod
    def definition(cls, *args: sp.Expr) -> sp.Expr:  # pragma: no cover - abstract
        raise NotImplementedError

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        # Derivatives come from the definition only; see elementary().
        return sp.diff(self.definition(*self.args), self.args[argindex - 1])


class sigmoid(_Primitive):  # noqa: N801 - reads like the math
    """The logistic function σ(z) = 1 / (1 + e^{-z})."""

    nargs = 1

    @classmethod
    def definition(cls, z):
        return 1 / (1 + sp.exp(-z))

    def _latex(self, printer):
        return r"\sigma\left(%s\right)" % printer._print(self.args[0])


class softplus(_Primitive):  # noqa: N801
    """softplus(z) = log(1 + e^z), lowered as a stable log-add-exp."""

    nargs = 1

    @classmethod
    def definition(cls, z):
        return sp.log(1 + sp.exp(z))

    def _latex(self, printer):
        return r"\log\left(1 + e^{%s}\right)" % printer._print(self.args[0])


class clip(_Primitive):  # noqa: N801
    """clip(x, lo, hi): x limited to [lo, hi], as Keras clips probabilities."""

    nargs = 3

    @classmethod
    def definition(cls, x, lo, hi):
        return sp.Piecewise((lo, x < lo), (hi, x > hi), (x, True))

    def _latex(self, printer):
        x, lo, hi = (printer._print(a) for a in self.args)
        return r"\operatorname{clip}\left(%s,\, %s,\, %s\right)" % (x, lo, hi)


class inside(_Primitive):  # noqa: N801
    """The indicator [lo < x < hi]: where clip(x, lo, hi) passes x through.

    Its definition uses the very conditions of :class:`clip`, so the branch-wise
    comparison of a derivative with a claim lines up region by region.
    """

    nargs = 3

    @classmethod
    def definition(cls, x, lo, hi):
        return sp.Piecewise((0, x < lo), (0, x > hi), (1, True))

    def _latex(self, printer):
        x, lo, hi = (printer._print(a) for a in self.args)
        return r"\left[%s < %s < %s\right]" % (lo, x, hi)


class reciprocal(_Primitive):
    """1/a, computed once and then multiplied by, as Keras does.

    ``x·(1/(1 − p))`` and ``x/(1 − p)`` are one number in exact arithmetic but
    not always in float64 (1 ulp apart for p = 0.3): Keras's dropout multiplies
    by ``1/(1 − rate)`` and its batch norm by ``rsqrt(σ² + ε)·γ``, and the
    lowering keeps that order when a formula writes the reciprocal out.
    """

    nargs = 1

    @classmethod
    def definition(cls, a):
        return 1 / a

    def _latex(self, printer):
        return rf"\frac{{1}}{{{printer._print(self.args[0])}}}"


class masked(_Primitive):  # noqa: N801
    """masked(cond, x, fill): x where ``cond`` holds, else ``fill``.

    Attention's masks: a causal one (``s ≤ t``: a query sees no later key) or
    a given one (``mask = 1``); ``fill`` is 0 for a weight and −∞ for a logit
    under a max.  A Piecewise would do, but SymPy folds a Piecewise of a bound
    index out of the sum that binds it (attention's claims came out as 0/0 =
    nan); kept whole until the indices are numbers, it is then x or the fill.
    """

    nargs = 3

    @classmethod
    def definition(cls, cond, x, fill):
        return sp.Piecewise((x, cond), (fill, True))

    def _latex(self, printer):
        cond, x, fill = (printer._print(a) for a in self.args)
        return r"\begin{cases} %s & %s \\ %s & \text{otherwise} \end{cases}" % (
            x,
            cond,
            fill,
        )


class MaxShift(ExprWithLimits):
    """max_k f(k), used only as a numerical shift (softmax, log-sum-exp).

    Subtracting any constant from every logit leaves softmax and log-sum-exp
    unchanged; subtracting the max keeps exp() from overflowing.  The checker
    treats the shift as a free symbol and *proves* the formula does not depend on
    it, so the gradient may ignore it.
    """

    def _latex(self, printer):
        ((k, _, _),) = self.limits
        return r"\max_{%s} %s" % (printer._print(k), printer._print(self.function))

    def doit(self, **hints):
        # Never expanded into Max(...): the symbolic checker replaces each shift by
        # a free symbol (see nnmath.checker.symbolic), the loop oracle prints a
        # max() loop.
        return self.func(self.function.doit(**hints), *self.limits)


class _WindowReduction(ExprWithLimits):
    """A reduction over a window of cells, kept whole until the sizes are known.

    A read outside an input (a padded cell) is *absent*: it never wins a max or
    an argmax.  Only with concrete sizes can one tell which reads are absent, so
    :mod:`nnmath.checker.symbolic` expands these nodes itself and ``doit`` leaves them.
    """

    def doit(self, **hints):
        return self.func(self.function.doit(**hints), *self.limits)


class Maximum(_WindowReduction):
    """max over a window, e.g. max_{p,q} x[n, s i + p, s j + q, c] (max pooling)."""

    def _latex(self, printer):
        ks = ",".join(printer._print(lim[0]) for lim in self.limits)
        return r"\max_{%s} %s" % (ks, printer._print(self.function))


class FirstArgMax(_WindowReduction):
    """The row-major position (0, 1, …) of the first maximal cell of a window.

    TensorFlow's max-pool gradient goes to this cell when several cells tie.
    """

    # a position: saying so lets SymPy decide Eq(k, argmax) without searching
    # the window's cells for assumptions
    is_integer = True
    is_nonnegative = True
    is_finite = True

    def _latex(self, printer):
        ks = ",".join(printer._print(lim[0]) for lim in self.limits)
        return r"\operatorname{argmax}^{\text{first}}_{%s} %s" % (
            ks,
            printer._print(self.function),
        )


class present(sp.Function):  # noqa: N801
    """[the read x[…] is inside x]: 1 for a real cell, 0 for a padded one.

    Counting the present cells of a window is how average pooling leaves the
    padding out of its mean.
    """

    nargs = 1

    def _latex(self, printer):
        read = self.args[0]
        return r"\left[%s \text{ inside } %s\right]" % (
            printer._print(read),
            printer._print(read.base),
        )


def row_major_digits(k: sp.Expr, sizes: tuple[sp.Expr, ...]) -> tuple[sp.Expr, ...]:
    """The indices (a, b, c) of position k when axes of ``sizes`` are laid out
    row-major: k = (a·B + b)·C + c.  Flattening reads its input at these."""
    out = []
    for a, size in enumerate(sizes):
        digit = sp.floor(k / sp.Mul(*sizes[a + 1 :]))
        out.append(digit if a == 0 else sp.Mod(digit, size))
    return tuple(out)


def row_major_index(digits: tuple[sp.Expr, ...], sizes: tuple[sp.Expr, ...]) -> sp.Expr:
    """The position k of cell (a, b, c) in a row-major layout: (a·B + b)·C + c."""
    k = sp.Integer(0)
    for digit, size in zip(digits, sizes):
        k = k * size + digit
    return k


#: the primitives with an elementary definition
PRIMITIVES: tuple[type[_Primitive], ...] = (
    sigmoid,
    softplus,
    clip,
    inside,
    reciprocal,
    masked,
)


def elementary(expr: sp.Expr, keep: tuple = ()) -> sp.Expr:
    """Replace every primitive by its elementary SymPy definition (but those
    in ``keep``)."""
    for prim in PRIMITIVES:
        if prim not in keep:
            expr = expr.replace(prim, prim.definition)
    return expr
