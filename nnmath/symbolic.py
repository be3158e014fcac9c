"""Symbolic proof of a claim on a small concrete instance.

The indexed formula is instantiated at small sizes (say N = 2, K = 3): sums are
expanded into explicit scalar equations over symbols such as ``z[0, 1]``,
primitives are replaced by their elementary definitions, and SymPy
differentiates.  The claim holds on the instance when ``derivative − claimed``
simplifies to exactly 0 (branch by branch where the functions are piecewise).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

from .claim import UPSTREAM, Claim
from .formula import Formula
from .primitives import FirstArgMax, MaxShift, Maximum, clip, elementary, inside, present

__all__ = ["is_zero", "SymbolicResult", "prove"]


def is_zero(e: sp.Expr) -> bool:
    """Exactly zero, branch by branch for piecewise expressions.

    Folding two piecewise sides pairs every branch with every other, including
    pairs whose conditions cannot hold together; a non-zero value on such an
    impossible pair would be a false alarm, so on failure the whole difference is
    simplified once more, which lets SymPy merge equal conditions first.
    """
    folded = sp.piecewise_fold(e)
    if isinstance(folded, sp.Piecewise):
        if all(is_zero(branch) for branch, cond in folded.args if cond is not sp.false):
            return True
        return not nonzero_somewhere(e) and sp.simplify(e) == 0
    if folded == 0:
        return True
    if nonzero_somewhere(folded):  # cheaper than cancel() when it is not zero
        return False
    return sp.cancel(sp.together(folded)) == 0 or sp.simplify(folded) == 0


def _shown(e: sp.Expr, largest: int = 40) -> str:
    """``e`` simplified for a failure message, unless it is too large to simplify
    in reasonable time (a whole network's derivative)."""
    ops = sp.count_ops(e)
    return str(sp.simplify(e)) if ops <= largest else f"(an expression of {ops} operations)"


def nonzero_somewhere(e: sp.Expr, tries: int = 3) -> bool:
    """True if ``e`` is clearly non-zero at a random point in (0, 1)ⁿ (30 digits).

    Then it is not identically zero, and ``simplify`` need not try: on a wrong
    claim about a whole network it can run for many minutes.  A failure to show
    a non-zero value proves nothing, so the caller still simplifies.
    """
    reads = e.atoms(sp.Indexed)
    labels = {r.base.label for r in reads}
    free = sorted(reads | {s for s in e.free_symbols if isinstance(s, sp.Symbol)
                           and s not in labels}, key=sp.default_sort_key)
    rng = np.random.default_rng(len(free))
    for _ in range(tries):
        point = {s: sp.Float(int(v) / 1009, 30) for s, v in
                 zip(free, rng.integers(1, 1009, size=len(free)))}
        try:  # 30-digit floats: SymPy folds each node to a number as it rebuilds
            value = complex(e.xreplace(point).evalf(30))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if np.isfinite(value) and abs(value) > 1e-12:
            return True
    return False


@dataclass(frozen=True)
class SymbolicResult:
    passed: bool
    detail: str


class _Instance:
    """One formula at concrete sizes, with MaxShift nodes as free symbols."""

    def __init__(self, formula: Formula, sizes: dict[str, int], wrt: str | None):
        self.f = formula
        self.sizes = {formula.dim_symbols[d]: v for d, v in sizes.items()
                      if d in formula.dim_symbols}
        self.shape_of = {i.name: tuple(sizes[d] for d in i.shape) for i in formula.inputs}
        self.shape_of[UPSTREAM] = tuple(sizes[d] for d in formula.output_shape)
        self.shifts: dict[sp.Expr, sp.Symbol] = {}
        self.constraints = self._constraints(wrt)

    def _constraints(self, wrt: str | None) -> dict:
        """Targets that are one-hot or on the simplex have rows summing to 1."""
        subs = {}
        for inp in self.f.inputs:
            if inp.domain in ("onehot", "simplex") and inp.name != wrt:
                base = sp.IndexedBase(inp.name)
                *lead, last = self.shape_of[inp.name]
                for idx in np.ndindex(*lead):
                    others = sum(base[(*idx, c)] for c in range(last - 1))
                    subs[base[(*idx, last - 1)]] = 1 - others
        return subs

    def scalar(self, expr: sp.Expr, index_values: dict, point: dict | None = None) -> sp.Expr:
        """One element, expanded; primitives other than clip/inside made elementary.

        With ``point``, those inputs are numbers from the start, which is far
        faster than substituting them into a nest of max and argmax afterwards.
        """
        self.point = point or {}
        e = self._windows(expr.subs(self.sizes).subs(index_values)).doit()
        for node in sorted(e.atoms(MaxShift), key=sp.default_sort_key):
            self.shifts.setdefault(node, sp.Symbol(f"shift{len(self.shifts)}", real=True))
        e = e.xreplace(self.shifts)
        clips = {c: sp.Dummy() for c in e.atoms(clip, inside)}
        e = elementary(e.xreplace(clips)).xreplace({d: c for c, d in clips.items()})
        return e.xreplace(self.constraints)


    def _absent(self, read: sp.Indexed) -> bool:
        """A read outside its input, or at a fractional index: a padded cell."""
        shape = self.shape_of.get(str(read.base))
        if shape is None:
            return False
        return not all(i.is_Integer and 0 <= i < s for i, s in zip(read.indices, shape))

    def _has_absent(self, e: sp.Expr) -> bool:
        return any(self._absent(r) for r in e.atoms(sp.Indexed))

    def _windows(self, e: sp.Expr) -> sp.Expr:
        """Window reductions expanded over their present cells; absent reads as 0.

        An absent cell never wins a max or an argmax, and adds 0 to a sum (every
        sum over a window is of products with the read as a factor).
        """
        if isinstance(e, sp.Indexed):
            return sp.Integer(0) if self._absent(e) else self.point.get(e, e)
        if isinstance(e, present):
            return sp.Integer(0 if self._absent(e.args[0]) else 1)
        if isinstance(e, (sp.Sum, Maximum, FirstArgMax)):
            ks = [lim[0] for lim in e.limits]
            ranges = [range(int(lo), int(hi) + 1) for _, lo, hi in e.limits]
            # xreplace is fast but blind to bound variables: subs if a nested
            # reduction binds one of ours (softmax's max over the summed index)
            bound = {lim[0] for node in e.function.atoms(ExprWithLimits)
                     for lim in node.limits}
            put = e.function.subs if bound & set(ks) else e.function.xreplace
            cells = [put(dict(zip(ks, map(sp.Integer, at))))
                     for at in itertools.product(*ranges)]
            if isinstance(e, sp.Sum):  # written out term by term, faster than doit()
                return sp.Add(*(self._windows(t) for t in cells))
            real = [(pos, self._windows(t)) for pos, t in enumerate(cells)
                    if not self._has_absent(t)]
            # unevaluated: SymPy's search for redundant arguments is slow, and the
            # proofs evaluate the max only at numeric points (see _tie_free_points)
            best = sp.Max(*(t for _, t in real), evaluate=False) if len(real) > 1 else real[0][1]
            if isinstance(e, Maximum):
                return best
            # the first cell, in row-major order, that equals the max
            if all(t.is_Number for _, t in real):
                top = max(t for _, t in real)
                return sp.Integer(next(pos for pos, t in real if t == top))
            return sp.Piecewise(*[(pos, sp.Ge(t, best)) for pos, t in real[:-1]],
                                (real[-1][0], True))
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
    reads = [sp.IndexedBase(i.name)[idx] for i in inst.f.inputs if i.domain == "distinct"
             for idx in _elements(inst.shape_of[i.name])]
    rng = np.random.default_rng(len(reads))
    return [dict(zip(reads, (sp.Integer(int(v)) - len(reads) // 2
                             for v in rng.permutation(len(reads)))))
            for _ in range(count)]


_REGIONS = ("inside", "below", "above")


def _clip_regions(*exprs: sp.Expr):
    """Every assignment of a clip region to each distinct clipped quantity.

    In the open region below ε, clip(x, ε, 1−ε) is the constant ε; inside it is
    x; above it is 1−ε.  Substituting *before* differentiating is exact there.
    """
    keys = sorted({c.args for e in exprs for c in e.atoms(clip, inside)},
                  key=sp.default_sort_key)
    for choice in itertools.product(_REGIONS, repeat=len(keys)):
        region = dict(zip(keys, choice))

        def value(x, lo, hi, _r=region):
            return {"inside": x, "below": lo, "above": hi}[_r[(x, lo, hi)]]

        def indicator(x, lo, hi, _r=region):
            return sp.Integer(_r[(x, lo, hi)] == "inside")

        yield region, lambda e, v=value, i=indicator: e.replace(clip, v).replace(inside, i)


def _elements(shape):
    return list(np.ndindex(*shape)) if shape else [()]


def prove(claim: Claim) -> SymbolicResult:
    """Prove ``claim`` exactly on its small instance."""
    f = claim.formula
    if claim.elementwise:
        diff = sp.diff(elementary(f.scalar), f.var) - elementary(claim.rhs)
        ok = is_zero(diff)
        return SymbolicResult(ok, "for every real z" + ("" if ok else
                              f": d/dz − claimed = {sp.simplify(diff)}"))

    derived = {s.name for s, _ in f.derived}
    sizes = f.complete_sizes({d: claim.sizes.get(d, 2) for d in f.dim_symbols
                              if d not in derived})
    inst = _Instance(f, sizes, claim.wrt)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    g = sp.IndexedBase(UPSTREAM)
    outputs = {idx: inst.scalar(f.expr, dict(zip(f.indices, idx))) for idx in _elements(out_shape)}
    L = outputs[()] if not out_shape else sum(g[idx] * v for idx, v in outputs.items())
    # L = Σ weight·output; an output that does not read a variable adds nothing to
    # its derivative, so each derivative differentiates only the outputs that do
    terms = [(sp.Integer(1), L)] if not out_shape else [(g[idx], v) for idx, v in outputs.items()]
    reads = [v.atoms(sp.Indexed, sp.Symbol) for _, v in terms]

    for shift in inst.shifts.values():  # the max-shift must not change any value
        for idx, v in outputs.items():
            if not is_zero(sp.diff(v, shift)):
                return SymbolicResult(False, f"output {idx} depends on the shift {shift}")

    grad = claim.gradient
    wrt_base = sp.IndexedBase(claim.wrt)
    wrt_shape = inst.shape_of[claim.wrt]
    points = _tie_free_points(inst, L)
    claimed_at = [{idx: inst.scalar(grad.expr, dict(zip(grad.indices, idx)), point)
                   for idx in _elements(wrt_shape)} for point in points]
    regions = list(_clip_regions(L, *claimed_at[0].values()))
    for idx in _elements(wrt_shape):
        var = wrt_base[idx] if idx else sp.Symbol(claim.wrt)
        for region, in_region in regions:
            exact = sp.Add(*(weight * sp.diff(in_region(v), var)
                             for (weight, v), atoms in zip(terms, reads) if var in atoms))
            for point, claimed in zip(points, claimed_at):
                derivative = exact.xreplace(point) if point else exact
                stated = in_region(claimed[idx])
                if is_zero(derivative - stated):
                    continue
                where = "" if not region else " where clip is " + ", ".join(
                    sorted(set(region.values())))
                return SymbolicResult(
                    False, f"at {claim.wrt}{list(idx)}{where}: ∂L = {_shown(derivative)}, "
                           f"claimed {_shown(stated)}")
    dims_text = ", ".join(f"{d}={v}" for d, v in sizes.items())
    regions_text = f", {len(regions)} clip regions" if len(regions) > 1 else ""
    if points != [{}]:
        regions_text += f", at {len(points)} tie-free orderings of the inputs"
    return SymbolicResult(True, f"exact on the instance {dims_text} "
                                f"({len(_elements(wrt_shape))} partial derivatives{regions_text})")
