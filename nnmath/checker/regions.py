"""Proofs of a scalar function's derivative region by region.

A piecewise function (ReLU, or max(z, αz), or anything written with Heaviside,
sign or |z|) is smooth on the open intervals between its kinks.  The real line
is cut at every point where a condition of either side changes; on each
interval every branch is fixed, so "derivative = claim" there is an identity
between two smooth expressions.  At a cut point itself the function either has
a derivative (its one-sided derivatives agree and it is continuous), and the
claim must give it, or it has none: a kink, where any claimed value is only
noted, not a failure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import sympy as sp

from .zero import as_piecewise, is_zero

__all__ = ["RegionResult", "Undecided", "prove_by_regions"]


class Undecided(ValueError):
    """The regions cannot be found (a condition not in the variable alone)."""


@dataclass(frozen=True)
class RegionResult:
    passed: bool
    detail: str


def _cuts(exprs, z: sp.Symbol) -> list[sp.Expr]:
    """Every real point where a condition of a Piecewise in ``exprs`` can change."""
    points = set()
    for e in exprs:
        for pw in e.atoms(sp.Piecewise):
            for _, cond in pw.args:
                for rel in cond.atoms(sp.core.relational.Relational):
                    h = rel.lhs - rel.rhs
                    if h.free_symbols - {z}:
                        raise Undecided(f"condition {rel} is not in {z} alone")
                    roots = sp.solveset(h, z, sp.Reals)
                    if not isinstance(roots, sp.FiniteSet):
                        raise Undecided(f"{rel} changes on {roots}")
                    points |= set(roots)
    return sorted(points, key=lambda p: float(p))


def _branch(e: sp.Expr, z: sp.Symbol, at: sp.Expr) -> sp.Expr:
    """``e`` with every Piecewise replaced by its branch that holds at z = at."""

    def pick(pw: sp.Piecewise) -> sp.Expr:
        for value, cond in pw.args:
            holds = cond.subs(z, at) if isinstance(cond, sp.Basic) else cond
            if holds is sp.true or holds is True:
                return value
            if holds is not sp.false and holds is not False:
                raise Undecided(f"cannot decide {cond} at {z} = {at}")
        raise Undecided(f"no branch of {pw} holds at {z} = {at}")

    return e.replace(lambda x: isinstance(x, sp.Piecewise), pick)


def _samples(cuts: list[sp.Expr]) -> list[tuple[str, sp.Expr]]:
    """(interval, a rational point inside it) for each open interval."""
    if not cuts:
        return [("every real z", sp.Integer(0))]
    out = [(f"z < {cuts[0]}", sp.floor(cuts[0]) - 1)]
    for lo, hi in itertools.pairwise(cuts):
        out.append((f"{lo} < z < {hi}", sp.nsimplify((lo + hi) / 2)))
    out.append((f"z > {cuts[-1]}", sp.ceiling(cuts[-1]) + 1))
    return out


def prove_by_regions(
    f: sp.Expr, claimed: sp.Expr, z: sp.Symbol, values: dict | None = None
) -> RegionResult:
    """Prove d f/dz = ``claimed`` for every real z, region by region.

    ``values``: the formula's constants as exact numbers (α = 1/5), used where a
    branch depends on one (max(z, αz) is z where z ≥ αz, i.e. where z ≥ 0 only
    for α < 1).  Raises :class:`Undecided` where the regions cannot be found.
    """
    values = values or {}
    fp = as_piecewise(f).xreplace(values)
    cp = as_piecewise(claimed).xreplace(values)
    cuts = _cuts((fp, cp), z)
    pieces = []
    for where, t in _samples(cuts):
        fi = _branch(fp, z, t)
        ci = _branch(cp, z, t)
        derivative = sp.diff(fi, z)
        pieces.append((fi, derivative))
        if not is_zero(derivative - ci):
            return RegionResult(
                False,
                f"for {where}: d/dz = {sp.simplify(derivative)}, "
                f"claimed {sp.simplify(ci)}",
            )
    notes = []
    for k, p in enumerate(cuts):
        (left, d_left), (right, d_right) = pieces[k], pieces[k + 1]
        value = _branch(fp, z, p).subs(z, p)
        stated = sp.simplify(_branch(cp, z, p).subs(z, p))
        smooth = (
            sp.simplify(left.subs(z, p) - value) == 0
            and sp.simplify(right.subs(z, p) - value) == 0
            and sp.simplify((d_left - d_right).subs(z, p)) == 0
        )
        if smooth:
            exact = sp.simplify(d_left.subs(z, p))
            if sp.simplify(exact - stated) != 0:
                return RegionResult(
                    False, f"at z = {p}: d/dz = {exact}, claimed {stated}"
                )
        else:
            notes.append(f"z = {p} (a kink: no derivative; the claim gives {stated})")
    regions = "; ".join(where for where, _ in _samples(cuts))
    text = f"for every real z, region by region ({regions})"
    if values and (f.has(*values) or claimed.has(*values)):
        text += " with " + ", ".join(f"{s} = {v}" for s, v in values.items())
    if notes:
        text += "; not a failure: " + ", ".join(notes)
    return RegionResult(True, text)
