"""A claim: the book states ``∂L/∂x = rhs``; the checker must prove it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import sympy as sp

from .formula import Formula, Input, defined, where_latex
from .typeset import latex

__all__ = ["Claim", "UPSTREAM"]

#: the upstream gradient ∂L/∂(output) a vector-valued formula is multiplied by
UPSTREAM = "g"


@dataclass(frozen=True, eq=False)
class Claim:
    """A derivative the book prints, about one input of one formula.

    For an element-wise formula ``rhs`` is the scalar derivative ``f'(z)`` in the
    formula's variable.  Otherwise it is the gradient ``∂L/∂wrt[indices]`` of
    ``L = Σ g·output`` (or of the output itself when that is a scalar loss), in
    indexed form over the formula's inputs and the upstream gradient ``g``.
    """

    name: str
    formula: Formula
    wrt: str
    rhs: sp.Expr
    text: str
    indices: tuple[sp.Symbol, ...] = ()
    #: sizes of the concrete instance the symbolic proof expands (hints: sizes
    #: that cannot tell two dimensions apart are moved, see nnmath.checker.cases)
    sizes: dict = field(default_factory=dict)
    #: inputs the claimed gradient may read outside their bounds, as padding
    #: (the upstream gradient ``g`` of a convolution, read beyond its edges);
    #: the formula's own padded inputs are padded here too
    padded: tuple[str, ...] = ()
    #: a long right-hand side as it is printed, in named parts defined in
    #: ``where`` (see :class:`~nnmath.formula.Formula`); ``rhs`` must then be
    #: :func:`~nnmath.formula.defined` (shown, where)
    shown: sp.Expr | None = None
    where: tuple = ()

    def __post_init__(self) -> None:
        if self.shown is not None and defined(self.shown, self.where) != self.rhs:
            raise ValueError(
                f"{self.name}: rhs is not its shown form with the "
                "definitions of where put in (use formula.defined)"
            )

    @property
    def elementwise(self) -> bool:
        return self.formula.scalar is not None

    @property
    def latex(self) -> str:
        f = self.formula
        if self.elementwise:
            name = f.symbol or rf"\operatorname{{{f.name}}}"
            return rf"{name}'\left({latex(f.var)}\right) = {latex(self.rhs)}"
        wrt = (
            sp.IndexedBase(self.wrt)[self.indices]
            if self.indices
            else sp.Symbol(self.wrt)
        )
        rhs = latex(self.rhs if self.shown is None else self.shown)
        return rf"\frac{{\partial L}}{{\partial {latex(wrt)}}} = {rhs}" + where_latex(
            self.where
        )

    @property
    def upstream(self) -> Input | None:
        f = self.formula
        if not f.output_shape:
            return None
        return Input(UPSTREAM, f.output_shape, f"upstream gradient ∂L/∂{f.output}")

    @cached_property
    def gradient(self) -> Formula:
        """The claimed gradient as a Formula, lowered like any other."""
        f = self.formula
        wrt = f.input(self.wrt)
        if self.elementwise:
            (idx_in,) = [i for i in f.expr.atoms(sp.Indexed)]
            idx = idx_in.indices
            expr = sp.IndexedBase(UPSTREAM)[idx] * self.rhs.subs(f.var, idx_in)
        else:
            idx, expr = self.indices, self.rhs
        inputs = f.inputs + ((self.upstream,) if self.upstream else ())
        return Formula(
            name=self.name.replace("/", "_").replace("'", "_prime").replace(".", "_"),
            title=self.text,
            output=f"grad_{self.wrt}",
            indices=tuple(idx),
            expr=expr,
            inputs=inputs,
            tf="",
            output_shape=wrt.shape,
            constants=f.constants,
            derived=f.derived,
            padded=tuple(dict.fromkeys(f.padded + self.padded)),
            shown=None if self.elementwise else self.shown,
            where=self.where,
        )

    def __repr__(self) -> str:
        return f"Claim({self.name!r})"
