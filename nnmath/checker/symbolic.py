"""Symbolic proof of a claim on a small concrete instance.

The indexed formula is instantiated at small sizes that tell every dimension
apart (say N = 2, K = 3; see :func:`nnmath.checker.cases.instance_sizes`): sums are
expanded into explicit scalar equations over real symbols such as ``z[0, 1]``,
primitives are replaced by their elementary definitions, and the expression is
differentiated.  The claim holds on the instance when ``derivative − claimed``
is exactly 0 (see :mod:`nnmath.checker.zero`; region by region where the functions are
piecewise, see :mod:`nnmath.checker.regions` for element-wise claims).  A read outside
an input that the formula does not declare padded is an error.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

from ..claim import UPSTREAM, Claim
from ..formula import Formula, out_of_bounds
from ..primitives import (
    FirstArgMax,
    Maximum,
    MaxShift,
    clip,
    elementary,
    inside,
    present,
)
from .cases import instance_sizes
from .regions import Undecided, prove_by_regions
from .zero import KINKED, FastZero, as_piecewise, is_zero

__all__ = ["is_zero", "SymbolicResult", "prove"]


def _shown(e: sp.Expr, largest: int = 40) -> str:
    """``e`` simplified for a failure message, unless it is too large to simplify
    in reasonable time (a whole network's derivative)."""
    ops = sp.count_ops(e)
    return (
        str(sp.simplify(e))
        if ops <= largest
        else f"(an expression of {ops} operations)"
    )


@dataclass(frozen=True)
class SymbolicResult:
    passed: bool
    detail: str


class _Instance:
    """One formula at concrete sizes.

    Every read of an input at concrete indices is a real symbol named like the
    read (``z[0, 1]``), so |x|, sign and max differentiate as functions of reals;
    MaxShift nodes are free symbols too.
    """

    def __init__(
        self,
        formula: Formula,
        sizes: dict[str, int],
        wrt: str | None,
        padded: tuple[str, ...] = (),
    ):
        self.f = formula
        self.padded = set(formula.padded) | set(padded)
        self.sizes = {
            formula.dim_symbols[d]: v
            for d, v in sizes.items()
            if d in formula.dim_symbols
        }
        self.shape_of = {
            i.name: tuple(sizes[d] for d in i.shape) for i in formula.inputs
        }
        self.shape_of[UPSTREAM] = tuple(sizes[d] for d in formula.output_shape)
        self.shifts: dict[sp.Expr, sp.Symbol] = {}
        self.reads: dict[sp.Indexed, sp.Symbol] = {}
        self.point: dict = {}
        self.memo: dict = {}
        self.constraints = self._constraints(wrt)

    def symbol(self, read: sp.Indexed | str, idx: tuple = ()) -> sp.Symbol:
        """The real symbol standing for ``read`` (or for input ``read`` at ``idx``)."""
        if isinstance(read, str):
            read = sp.IndexedBase(read)[idx] if idx else sp.Symbol(read)
            if isinstance(read, sp.Symbol):
                return sp.Symbol(read.name, real=True)
        if read not in self.reads:
            self.reads[read] = sp.Symbol(str(read), real=True)
        return self.reads[read]

    def _constraints(self, wrt: str | None) -> dict:
        """Targets that are one-hot or on the simplex have rows summing to 1."""
        subs = {}
        for inp in self.f.inputs:
            if inp.domain in ("onehot", "simplex") and inp.name != wrt:
                *lead, last = self.shape_of[inp.name]
                for idx in np.ndindex(*lead):
                    others = sum(
                        self.symbol(inp.name, (*idx, c)) for c in range(last - 1)
                    )
                    subs[self.symbol(inp.name, (*idx, last - 1))] = 1 - others
        return subs

    def scalar(
        self, expr: sp.Expr, index_values: dict, point: dict | None = None
    ) -> sp.Expr:
        """One element, expanded; primitives other than clip/inside made elementary.

        With ``point``, those inputs are numbers from the start, which is far
        faster than substituting them into a nest of max and argmax afterwards.
        """
        if (point or {}) != self.point:  # expanded subtrees are reused per point
            self.point, self.memo = point or {}, {}
        e = self._windows(expr.subs(self.sizes).subs(index_values)).doit()
        for node in sorted(e.atoms(MaxShift), key=sp.default_sort_key):
            self.shifts.setdefault(
                node, sp.Symbol(f"shift{len(self.shifts)}", real=True)
            )
        e = e.xreplace(self.shifts)
        # scalar inputs (a bias b) are real symbols too
        e = e.xreplace(
            {
                s: sp.Symbol(s.name, real=True)
                for s in e.free_symbols
                if s.is_Symbol
                and s.name in self.shape_of
                and not self.shape_of[s.name]
                and not s.is_real
            }
        )
        clips = {c: sp.Dummy() for c in e.atoms(clip, inside)}
        e = elementary(e.xreplace(clips)).xreplace({d: c for c, d in clips.items()})
        return e.xreplace(self.constraints)

    def _absent(self, read: sp.Indexed) -> bool:
        """A read outside its input, or at a fractional index: a padded cell.

        A read outside an input that is not declared padded is an error, named.
        A read at a symbolic index (a bound variable of a max shift) is present.
        """
        shape = self.shape_of.get(str(read.base))
        if shape is None or any(not i.is_number for i in read.indices):
            return False
        if all(i.is_Integer and 0 <= i < s for i, s in zip(read.indices, shape)):
            return False
        if str(read.base) not in self.padded:
            bad = [
                f"index {i} on axis {a} (size {s})"
                for a, (i, s) in enumerate(zip(read.indices, shape))
                if not (i.is_Integer and 0 <= i < s)
            ]
            raise out_of_bounds(self.f.name, str(read), ", ".join(bad), str(read.base))
        return True

    def _has_absent(self, e: sp.Expr) -> bool:
        return any(self._absent(r) for r in e.atoms(sp.Indexed))

    def _windows(self, e: sp.Expr) -> sp.Expr:
        """Window reductions expanded over their present cells; absent reads as 0.

        An absent cell never wins a max or an argmax, and adds 0 to a sum (every
        sum over a window is of products with the read as a factor).
        """
        if e in self.memo:
            return self.memo[e]
        out = self._expand(e)
        self.memo[e] = out
        return out

    def _expand(self, e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.Indexed):
            if self._absent(e):
                return sp.Integer(0)
            if any(not i.is_number for i in e.indices):
                return e  # read inside a reduction that is not expanded (a shift)
            sym = self.symbol(e)
            return self.point.get(sym, sym)
        if isinstance(e, present):
            return sp.Integer(0 if self._absent(e.args[0]) else 1)
        if isinstance(e, (sp.Sum, Maximum, FirstArgMax)):
            ks = [lim[0] for lim in e.limits]
            ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in e.limits]
            # xreplace is fast but blind to bound variables: subs if a nested
            # reduction binds one of ours (softmax's max over the summed index)
            bound = {
                lim[0]
                for node in e.function.atoms(ExprWithLimits)
                for lim in node.limits
            }
            put = e.function.subs if bound & set(ks) else e.function.xreplace
            cells = [
                put(dict(zip(ks, map(sp.Integer, at))))
                for at in itertools.product(*ranges)
            ]
            if isinstance(e, sp.Sum):  # written out term by term, faster than doit()
                return sp.Add(*(self._windows(t) for t in cells))
            real = [
                (pos, self._windows(t))
                for pos, t in enumerate(cells)
                if not self._has_absent(t)
            ]
            # unevaluated: SymPy's search for redundant arguments is slow, and the
            # proofs evaluate the max only at numeric points (see _tie_free_points)
            best = (
                sp.Max(*(t for _, t in real), evaluate=False)
                if len(real) > 1
                else real[0][1]
            )
            if isinstance(e, Maximum):
                return best
            # the first cell, in row-major order, that equals the max
            if all(t.is_Number for _, t in real):
                top = max(t for _, t in real)
                return sp.Integer(next(pos for pos, t in real if t == top))
            return sp.Piecewise(
                *[(pos, sp.Ge(t, best)) for pos, t in real[:-1]], (real[-1][0], True)
            )
        if not e.args or e.is_Atom:
            return e
        return e.func(*(self._windows(a) for a in e.args))


def _tie_free_points(inst: _Instance, expr: sp.Expr, count: int = 3) -> list[dict]:
    """Integer points where no two values of a max-pooled input are equal.

    A max is not differentiable at a tie, so a claim about one is proved exactly
    at several orderings of the inputs instead of for every real input.
    """
    if not expr.has(sp.Max):
        return [{}]
    reads = [
        inst.symbol(i.name, idx)
        for i in inst.f.inputs
        if i.domain == "distinct"
        for idx in _elements(inst.shape_of[i.name])
    ]
    rng = np.random.default_rng(len(reads))
    return [
        dict(
            zip(
                reads,
                (
                    sp.Integer(int(v)) - len(reads) // 2
                    for v in rng.permutation(len(reads))
                ),
            )
        )
        for _ in range(count)
    ]


_REGIONS = ("inside", "below", "above")


def _clip_regions(*exprs: sp.Expr, moving: sp.Symbol | None = None):
    """Every assignment of a clip region to each distinct clipped quantity (that
    depends on ``moving``, if given; other clips are left as they are).

    In the open region below ε, clip(x, ε, 1−ε) is the constant ε; inside it is
    x; above it is 1−ε.  Substituting *before* differentiating is exact there.
    """
    keys = sorted(
        {
            c.args
            for e in exprs
            for c in e.atoms(clip, inside)
            if moving is None or c.args[0].has(moving)
        },
        key=sp.default_sort_key,
    )
    if not keys:  # nothing clipped moves: one region, the expressions as they are
        yield {}, lambda e: e
        return
    for choice in itertools.product(_REGIONS, repeat=len(keys)):
        region = dict(zip(keys, choice))

        def value(x, lo, hi, _r=region):
            if (x, lo, hi) not in _r:
                return clip(x, lo, hi)
            return {"inside": x, "below": lo, "above": hi}[_r[(x, lo, hi)]]

        def indicator(x, lo, hi, _r=region):
            if (x, lo, hi) not in _r:
                return inside(x, lo, hi)
            return sp.Integer(_r[(x, lo, hi)] == "inside")

        yield (
            region,
            lambda e, v=value, i=indicator: e.replace(clip, v).replace(inside, i),
        )


def _elements(shape):
    return list(np.ndindex(*shape)) if shape else [()]


def _constant_values(f: Formula) -> dict:
    """The formula's constants as exact rationals (α = 0.2 → 1/5)."""
    return {
        sym: sp.nsimplify(v, rational=True) for sym, v in f.constant_symbols.items()
    }


def _prove_scalar(claim: Claim) -> SymbolicResult:
    """An element-wise claim f'(z), for every real z (region by region where
    either side is piecewise)."""
    f = claim.formula
    z = f.var
    fz, stated = elementary(f.scalar), elementary(claim.rhs)
    kinked = (sp.Piecewise, *KINKED)
    if fz.has(*kinked) or stated.has(*kinked):
        values = _constant_values(f)
        constants = {
            s for s in (fz.free_symbols | stated.free_symbols) if s.name in f.constants
        }
        values = {
            s: values.get(s, sp.nsimplify(f.constants[s.name], rational=True))
            for s in constants
        }
        try:
            result = prove_by_regions(fz, stated, z, values)
            return SymbolicResult(result.passed, result.detail)
        except Undecided:
            pass  # conditions not in z alone: compared branch by branch below
    diff = sp.diff(fz, z) - stated
    notes: list = []
    ok = is_zero(diff, notes)
    if not ok:
        return SymbolicResult(
            False, f"for every real z: d/dz − claimed = {sp.simplify(diff)}"
        )
    kinks = (
        f"; not a failure: they differ where {', '.join(map(str, notes))} (a kink)"
        if notes
        else ""
    )
    return SymbolicResult(True, "for every real z" + kinks)


def _binary_values(inst: _Instance, e: sp.Expr) -> list[dict]:
    """Every 0/1 assignment of the binary inputs (a dropout mask) that a piecewise
    condition of ``e`` tests, or [{}].

    ``mask = 1`` is no kink: a binary input takes only the values 0 and 1, so a
    difference where it is 1 is a difference on half the inputs, and each value
    is proved on its own.
    """
    binary = {
        sym
        for read, sym in inst.reads.items()
        if str(read.base) in inst.f.input_names
        and inst.f.input(str(read.base)).domain == "binary"
    }
    tested = set()
    for pw in e.atoms(sp.Piecewise):
        for _, cond in pw.args:
            if isinstance(cond, sp.Basic):
                tested |= cond.free_symbols & binary
    tested = sorted(tested, key=sp.default_sort_key)
    return [
        dict(zip(tested, map(sp.Integer, bits)))
        for bits in itertools.product((0, 1), repeat=len(tested))
    ] or [{}]


def prove(claim: Claim) -> SymbolicResult:
    """Prove ``claim`` exactly on its small instance."""
    f = claim.formula
    if claim.elementwise:
        return _prove_scalar(claim)

    sizes = instance_sizes(claim)
    inst = _Instance(f, sizes, claim.wrt, claim.padded)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    outputs = {
        idx: inst.scalar(f.expr, dict(zip(f.indices, idx)))
        for idx in _elements(out_shape)
    }
    points = _tie_free_points(inst, sp.Add(*outputs.values()))
    if points == [{}]:  # no max evaluated at points: kinks become Piecewise
        outputs = {idx: as_piecewise(v) for idx, v in outputs.items()}
    # L = Σ g·output; an output that does not read a variable adds nothing to
    # its derivative, so each derivative differentiates only the outputs that do
    terms = (
        [(sp.Integer(1), outputs[()])]
        if not out_shape
        else [(inst.symbol(UPSTREAM, idx), v) for idx, v in outputs.items()]
    )
    reads = [v.free_symbols for _, v in terms]

    for shift in inst.shifts.values():  # the max-shift must not change any value
        for idx, v in outputs.items():
            if not is_zero(sp.diff(v, shift)):
                return SymbolicResult(
                    False, f"output {idx} depends on the shift {shift}"
                )

    grad = claim.gradient
    wrt_shape = inst.shape_of[claim.wrt]
    claimed_at = [
        {
            idx: inst.scalar(grad.expr, dict(zip(grad.indices, idx)), point)
            for idx in _elements(wrt_shape)
        }
        for point in points
    ]
    notes: list = []
    counted = set()
    # SymEngine differentiates and expands a network's loss in milliseconds; where
    # that does not show a zero (or there are maxima to evaluate at points),
    # SymPy decides below
    fast = FastZero() if points == [{}] else None
    for idx in _elements(wrt_shape):
        var = inst.symbol(claim.wrt, idx)
        touching = [(w, v) for (w, v), atoms in zip(terms, reads) if var in atoms]
        # only the clips of quantities that move with var: 3 regions each; any
        # other clip is the same unknown constant on both sides
        regions = list(
            _clip_regions(
                *(v for _, v in touching), *(c[idx] for c in claimed_at), moving=var
            )
        )
        counted |= {
            tuple(sorted(r.items(), key=sp.default_sort_key)) for r, _ in regions
        }
        for region, in_region in regions:
            if fast is not None and all(
                fast.zero(
                    [(w, in_region(v)) for w, v in touching],
                    var,
                    in_region(claimed[idx]),
                )
                for claimed in claimed_at
            ):
                continue
            exact = sp.Add(
                *(weight * sp.diff(in_region(v), var) for weight, v in touching)
            )
            for point, claimed in zip(points, claimed_at):
                derivative = exact.xreplace(point) if point else exact
                stated = in_region(claimed[idx])
                if all(
                    is_zero((derivative - stated).xreplace(values), notes)
                    for values in _binary_values(inst, derivative - stated)
                ):
                    continue
                where = (
                    ""
                    if not region
                    else " where clip is " + ", ".join(sorted(set(region.values())))
                )
                return SymbolicResult(
                    False,
                    f"at {claim.wrt}{list(idx)}{where}: ∂L = {_shown(derivative)}, "
                    f"claimed {_shown(stated)}",
                )
    # sorted, so that the message is the same whatever the hash seed
    dims_text = ", ".join(f"{d}={v}" for d, v in sorted(sizes.items()))
    regions_text = f", {len(counted)} clip regions" if len(counted) > 1 else ""
    if points != [{}]:
        regions_text += f", at {len(points)} tie-free orderings of the inputs"
    kinks = sorted({str(c) for c in notes})
    if kinks:
        regions_text += (
            f"; not a failure: they differ where {', '.join(kinks)} (a kink)"
        )
    return SymbolicResult(
        True,
        f"exact on the instance {dims_text} "
        f"({len(_elements(wrt_shape))} partial derivatives{regions_text})",
    )
