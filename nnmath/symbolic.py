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

from .claim import UPSTREAM, Claim
from .formula import Formula
from .primitives import MaxShift, clip, elementary, inside

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

    def scalar(self, expr: sp.Expr, index_values: dict) -> sp.Expr:
        """One element, expanded; primitives other than clip/inside made elementary."""
        e = expr.subs(self.sizes).subs(index_values).doit()
        for node in sorted(e.atoms(MaxShift), key=sp.default_sort_key):
            self.shifts.setdefault(node, sp.Symbol(f"shift{len(self.shifts)}", real=True))
        e = e.xreplace(self.shifts)
        clips = {c: sp.Dummy() for c in e.atoms(clip, inside)}
        e = elementary(e.xreplace(clips)).xreplace({d: c for c, d in clips.items()})
        return e.xreplace(self.constraints)


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

    sizes = {d: claim.sizes.get(d, 2) for d in f.dim_symbols}
    inst = _Instance(f, sizes, claim.wrt)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    g = sp.IndexedBase(UPSTREAM)
    outputs = {idx: inst.scalar(f.expr, dict(zip(f.indices, idx))) for idx in _elements(out_shape)}
    L = outputs[()] if not out_shape else sum(g[idx] * v for idx, v in outputs.items())

    for shift in inst.shifts.values():  # the max-shift must not change any value
        for idx, v in outputs.items():
            if not is_zero(sp.diff(v, shift)):
                return SymbolicResult(False, f"output {idx} depends on the shift {shift}")

    grad = claim.gradient
    wrt_base = sp.IndexedBase(claim.wrt)
    wrt_shape = inst.shape_of[claim.wrt]
    claimed_all = {idx: inst.scalar(grad.expr, dict(zip(grad.indices, idx)))
                   for idx in _elements(wrt_shape)}
    regions = list(_clip_regions(L, *claimed_all.values()))
    for idx, claimed in claimed_all.items():
        var = wrt_base[idx] if idx else sp.Symbol(claim.wrt)
        for region, in_region in regions:
            derivative = sp.diff(in_region(L), var)
            if not is_zero(derivative - in_region(claimed)):
                where = "" if not region else " where clip is " + ", ".join(
                    sorted(set(region.values())))
                return SymbolicResult(
                    False, f"at {claim.wrt}{list(idx)}{where}: ∂L = {_shown(derivative)}, "
                           f"claimed {_shown(in_region(claimed))}")
    dims_text = ", ".join(f"{d}={v}" for d, v in sizes.items())
    regions_text = f", {len(regions)} clip regions" if len(regions) > 1 else ""
    return SymbolicResult(True, f"exact on the instance {dims_text} "
                                f"({len(_elements(wrt_shape))} partial derivatives{regions_text})")
