"""The form a student learns first, derived from the formula Keras computes.

A registered loss is written as Keras computes it: a mean over the batch and the
classes, probabilities clipped to [ε, 1 − ε], categorical probabilities divided
by their sum.  A textbook first prints the loss of one sample,
−(y log p + (1 − y) log(1 − p)).  That form is not typed again by hand here: it
is *derived* from the registered formula by rewrites, each true under a stated
condition, and the result is an ordinary :class:`~nnmath.formula.Formula`
(typeset and lowered like any other, so a test can prove it equal to the full
one where the conditions hold, and different where they do not):

- ``sizes``: a dimension fixed to a size (one sample, N = 1; one output, K = 1).
  A sum over a dimension of size 1 is its one term, a mean's division by 1 goes,
  and an index that can take one value only is dropped from the inputs
  (p_{0,0} is p).
- ``unclipped``: clip(x, lo, hi) is x, when lo ≤ x ≤ hi.
- ``normalised``: x_k / Σ_j x_j is x_k, when the x sum to 1 (a probability
  vector).

:func:`teaching_form` returns the form and the conditions it holds under, as
LaTeX for the screen.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import sympy as sp

from .formula import Formula
from .primitives import clip
from .registry import formula
from .typeset import latex

__all__ = ["LOSSES", "TeachingForm", "taught", "teaching_form"]


@dataclass(frozen=True)
class TeachingForm:
    """A formula's teaching form and the conditions under which it equals it."""

    of: Formula
    formula: Formula
    #: LaTeX, one per rewrite used: ``N = 1``, ``\\epsilon \\le p \\le 1 - \\epsilon``
    conditions: tuple[str, ...]

    @property
    def latex(self) -> str:
        return self.formula.latex


def _fixed(expr: sp.Expr, fixed: dict[sp.Symbol, int]) -> sp.Expr:
    """``expr`` with the fixed sizes put in and each sum over a single index value
    replaced by its one term."""

    def single(s: sp.Sum) -> sp.Expr:
        body, limits = s.function, []
        for var, lo, hi in s.limits:
            if sp.simplify(hi - lo) == 0:
                body = body.xreplace({var: lo})
            else:
                limits.append((var, lo, hi))
        return sp.Sum(body, *limits) if limits else body

    expr = expr.xreplace(fixed)
    return expr.replace(lambda e: isinstance(e, sp.Sum), single)


def _unclipped(expr: sp.Expr, conditions: list[str]) -> sp.Expr:
    found = sorted(expr.atoms(clip), key=sp.default_sort_key)
    for c in found:
        x, lo, hi = c.args
        conditions.append(rf"{latex(lo)} \le {latex(x)} \le {latex(hi)}")
    return expr.xreplace({c: c.args[0] for c in found})


def _normalised(expr: sp.Expr, conditions: list[str]) -> sp.Expr:
    """x_k / Σ_j x_j → x_k.  SymPy keeps the quotient as x_k · (Σ_j x_j)^−1."""
    sums = [
        p.base
        for p in expr.atoms(sp.Pow)
        if p.exp == -1
        and isinstance(p.base, sp.Sum)
        and isinstance(p.base.function, sp.Indexed)
    ]
    for s in sorted(set(sums), key=sp.default_sort_key):
        conditions.append(rf"{latex(s)} = 1")
    return expr.xreplace({s**-1: sp.Integer(1) for s in sums})


def _drop_constant_indices(f: Formula, expr: sp.Expr, fixed: dict) -> tuple:
    """Inputs without the dimensions fixed to one value (p_{0,k} read as p_k),
    and ``expr`` reading them so."""
    gone = {str(d) for d in fixed}
    inputs = []
    for inp in f.inputs:
        keep = tuple(i for i, d in enumerate(inp.shape) if d not in gone)
        inputs.append((inp, keep))

    def reread(e: sp.Indexed) -> sp.Expr:
        inp, keep = next((i, k) for i, k in inputs if i.name == str(e.base))
        idx = [e.indices[i] for i in keep]
        return sp.IndexedBase(inp.name)[tuple(idx)] if idx else sp.Symbol(inp.name)

    expr = expr.replace(lambda e: isinstance(e, sp.Indexed), reread)
    new_inputs = tuple(
        replace(inp, shape=tuple(inp.shape[i] for i in keep)) for inp, keep in inputs
    )
    return new_inputs, expr


def teaching_form(
    f: Formula,
    *,
    sizes: dict[str, int],
    unclipped: bool = False,
    normalised: bool = False,
) -> TeachingForm:
    """``f`` with ``sizes`` fixed (``{"N": 1}``: one sample) and, if asked, its
    clips and its normalisation taken out; the conditions say where it equals
    ``f``.  A scalar-valued formula (a loss) only: an output indexed by a fixed
    dimension would change shape."""
    if f.output_shape:
        raise ValueError(
            f"{f.name}: a teaching form is derived for a scalar formula (a loss); "
            f"this one's output has shape {f.output_shape}"
        )
    unknown = sorted(set(sizes) - set(f.dim_symbols))
    if unknown:
        raise ValueError(
            f"{f.name}: no dimension {', '.join(unknown)}; its dimensions are "
            + ", ".join(sorted(f.dim_symbols))
        )
    fixed = {f.dim_symbols[d]: sp.Integer(v) for d, v in sizes.items()}
    conditions = [f"{latex(d)} = {v}" for d, v in fixed.items()]
    inputs, expr = _drop_constant_indices(f, _fixed(f.expr, fixed), fixed)
    if normalised:  # first: the clip is stated of what it then reads
        expr = _normalised(expr, conditions)
    if unclipped:
        expr = _unclipped(expr, conditions)
    form = Formula(
        name=f"{f.name}_taught",
        title=f"{f.title}: the form taught first",
        output=f.output,
        indices=(),
        expr=expr,
        inputs=inputs,
        tf="",
        constants={
            c: v for c, v in f.constants.items() if sp.Symbol(c) in expr.free_symbols
        },
    )
    return TeachingForm(f, form, tuple(conditions))


#: the form each loss is taught in first: the rewrites that derive it
LOSSES = {
    "mse": dict(sizes={"N": 1, "K": 1}),
    "binary_crossentropy": dict(sizes={"N": 1, "K": 1}, unclipped=True),
    "categorical_crossentropy": dict(sizes={"N": 1}, unclipped=True, normalised=True),
}


def taught(name: str) -> TeachingForm:
    """The registered loss ``name`` in the form taught first (see ``LOSSES``)."""
    if name not in LOSSES:
        raise ValueError(
            f"no teaching form for {name!r}; there is one for " + ", ".join(LOSSES)
        )
    return teaching_form(formula(name), **LOSSES[name])
