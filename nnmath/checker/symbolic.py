"""Symbolic proof of a claim on a small concrete instance.

The indexed formula is instantiated at small sizes that tell every dimension
apart (say N = 2, K = 3; see :func:`nnmath.checker.cases.instance_sizes`): sums are
expanded into explicit scalar equations over real symbols such as ``z[0, 1]``,
primitives are replaced by their elementary definitions, and the expression is
differentiated.  The claim holds on the instance when ``derivative − claimed``
is exactly 0 (see :mod:`nnmath.checker.zero`; region by region where the functions are
piecewise, see :mod:`nnmath.checker.regions` for element-wise claims).  A read outside
an input that the formula does not declare padded is an error.  A smooth formula's
instance is first built in SymEngine (:mod:`nnmath.checker.engine`), which may only
prove; the SymPy instance here decides everything else and words every failure.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

from ..claim import UPSTREAM, Claim
from ..formula import Formula, free_symbols, out_of_bounds
from ..primitives import (
    PRIMITIVES,
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
        #: (input, integer indices) → its real symbol, ``z[0, 1]``
        self.cells: dict[tuple[str, tuple], sp.Symbol] = {}
        self.point: dict = {}
        #: (node, the values of the indices it reads) → the node written out
        self.memo: dict = {}
        #: node → the symbols it reads (see _free)
        self.free: dict = {}
        #: node → the symbols it reads, sorted by name (the memo's key, see _value)
        self.sorted_free: dict = {}
        #: a max's window → the indexed reads in it
        self.indexed: dict = {}
        #: an indexed read's base → its name
        self.names: dict = {}
        #: an index expression → its affine form (see _affine_form)
        self.affine: dict = {}
        self.constraints = self._constraints(wrt)

    def symbol(self, name: str, idx: tuple = ()) -> sp.Symbol:
        """The real symbol of input ``name`` at integer indices ``idx`` (named
        like the read, ``z[0, 1]``), or of the scalar input ``name``."""
        if not idx:
            return sp.Symbol(name, real=True)
        try:
            return self.cells[name, idx]
        except KeyError:
            sym = sp.Symbol(str(sp.IndexedBase(name)[idx]), real=True)
            self.cells[name, idx] = sym
            return sym

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
        Each subexpression is evaluated once per value of the indices it reads
        (:meth:`_value`), not once per element that contains it: a network's
        hidden unit is built once, not once per weight of the layer above.
        """
        if (point or {}) != self.point:  # expanded subtrees are reused per point
            self.point, self.memo = point or {}, {}
        env = {k: int(v) for k, v in index_values.items()}
        return self._value(expr, env)

    def every(
        self, f: Formula, shape: tuple, point: dict | None = None
    ) -> dict[tuple, sp.Expr]:
        """Every element of ``f`` (a formula, or a claim's gradient), by its
        integer indices over ``shape`` (see :meth:`scalar`)."""
        return {
            idx: self.scalar(f.expr, dict(zip(f.indices, idx)), point)
            for idx in _elements(shape)
        }

    # -- evaluating an indexed expression at integer indices ---------------------------
    def _free(self, e: sp.Basic) -> frozenset:
        """The symbols ``e`` reads that a reduction inside it does not bind (kept
        per node: SymPy recomputes ``free_symbols`` over the whole tree each time)."""
        return free_symbols(e, self.free)

    def _value(self, e: sp.Basic, env: dict) -> sp.Basic:
        """``e`` with the indices of ``env`` (bound index → integer) put in, sums
        written out, windows expanded over their present cells, absent reads as
        0, each read a real symbol, each max shift a free symbol and primitives
        but clip/inside elementary.  Memoized on (node, the indices it reads)."""
        if e.is_Number or not e.args and not isinstance(e, sp.Symbol):
            return e
        try:
            reads = self.sorted_free[e]
        except KeyError:
            reads = self.sorted_free[e] = sorted(self._free(e), key=lambda s: s.name)
        key = (e, tuple([env.get(s) for s in reads]))
        try:
            return self.memo[key]
        except KeyError:
            pass
        out = self.memo[key] = self._evaluate(e, env)
        return out

    def _index(self, i: sp.Expr, env: dict):
        """An index's value: a Python int, else a SymPy number (a fraction: between
        two cells of a dilated input).  An affine index (``2·i + p − P_t``) is
        summed in Python integers: evaluated in SymPy, it was a fifth of a
        pooling proof."""
        if i.is_Symbol:
            if i in env:
                return env[i]
            if i in self.sizes:
                return self.sizes[i]
        try:
            form = self.affine[i]
        except KeyError:
            form = self.affine[i] = _affine_form(i)
        if form is not None:
            total, terms = form
            for sym, coeff in terms:
                v = env.get(sym)
                if v is None:
                    v = self.sizes.get(sym)
                    if v is None:  # a symbol bound by a max shift: SymPy's
                        break
                total += coeff * v
            else:
                if type(total) is int:
                    return total
                if total.denominator == 1:
                    return int(total)
                return sp.Rational(total.numerator, total.denominator)
        v = self._value(i, env)
        return int(v) if v.is_Integer else v

    def _read(self, e: sp.Indexed, env: dict) -> tuple[str, tuple]:
        try:
            name = self.names[e.base]
        except KeyError:
            name = self.names[e.base] = str(e.base)
        return name, tuple(self._index(i, env) for i in e.indices)

    def _cells(self, e: ExprWithLimits, env: dict):
        """Every binding of a reduction's bound indices, in row-major order."""
        ranges = [
            range(int(self._index(lo, env)), int(self._index(hi, env)) + 1)
            for _, lo, hi in e.limits
        ]
        ks = [lim[0] for lim in e.limits]
        for at in itertools.product(*ranges):
            yield {**env, **dict(zip(ks, at))}

    def _evaluate(self, e: sp.Basic, env: dict) -> sp.Basic:
        if isinstance(e, sp.Symbol):
            if e in env:
                return sp.Integer(env[e])
            if e in self.sizes:
                return sp.Integer(self.sizes[e])
            if self.shape_of.get(e.name) == ():  # a scalar input (a bias b)
                return self.symbol(e.name)
            return e
        if isinstance(e, sp.Indexed):
            name, idx = self._read(e, env)
            if self._absent_at(name, idx):
                return sp.Integer(0)
            sym = self.symbol(name, idx)
            return self.constraints.get(sym, self.point.get(sym, sym))
        if isinstance(e, present):
            return sp.Integer(0 if self._absent_at(*self._read(e.args[0], env)) else 1)
        if isinstance(e, sp.Sum):
            return sp.Add(*(self._value(e.function, at) for at in self._cells(e, env)))
        if isinstance(e, (Maximum, FirstArgMax)):
            return self._window(e, env)
        if isinstance(e, MaxShift):
            # a free symbol, one per shift (the same node at the same indices)
            bound = {lim[0] for lim in e.limits}
            fixed = {s: sp.Integer(env[s]) for s in self._free(e) if s in env} | {
                s: sp.Integer(v) for s, v in self.sizes.items() if s not in bound
            }
            node = e.subs(fixed)
            if node not in self.shifts:
                self.shifts[node] = sp.Symbol(f"shift{len(self.shifts)}", real=True)
            return self.shifts[node]
        args = [self._value(a, env) for a in e.args]
        if isinstance(e, (clip, inside)):
            return e.func(*args)
        if isinstance(e, PRIMITIVES):
            return e.definition(*args)
        return e.func(*args)

    def _window(self, e: Maximum | FirstArgMax, env: dict) -> sp.Expr:
        """max or first argmax over a window's present cells (an absent cell never
        wins); unevaluated: SymPy's search for redundant arguments is slow, and
        the proofs evaluate the max only at numeric points (see _tie_free_points)."""
        try:
            reads = self.indexed[e]
        except KeyError:  # kept: atoms() walks the window's expression each time
            reads = self.indexed[e] = list(e.function.atoms(sp.Indexed))
        real = [
            (pos, self._value(e.function, at))
            for pos, at in enumerate(self._cells(e, env))
            if not any(self._absent_at(*self._read(r, at)) for r in reads)
        ]
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

    def _absent_at(self, name: str, idx: tuple) -> bool:
        """A read outside its input, or at a fractional index: a padded cell.

        A read outside an input that is not declared padded is an error, named.
        A read at a symbolic index (a bound variable of a max shift) is present.
        """
        shape = self.shape_of.get(name)
        if shape is None:
            return False
        if all(type(i) is int and 0 <= i < s for i, s in zip(idx, shape)):
            return False
        if any(not isinstance(i, int) and not i.is_number for i in idx):
            return False
        if name not in self.padded:
            bad = [
                f"index {i} on axis {a} (size {s})"
                for a, (i, s) in enumerate(zip(idx, shape))
                if not (isinstance(i, int) and 0 <= i < s)
            ]
            read = f"{name}[{', '.join(map(str, idx))}]"
            raise out_of_bounds(self.f.name, read, ", ".join(bad), name)
        return True


def _affine_form(i: sp.Expr) -> tuple | None:
    """(c, ((symbol, a), …)) with ``i`` = c + Σ a·symbol, every c and a an int or
    a Fraction; None if ``i`` is not of that form (a floor, a product of two
    symbols)."""
    from fractions import Fraction

    def number(r: sp.Expr):
        if r.is_Integer:
            return int(r)
        if r.is_Rational:
            return Fraction(int(r.p), int(r.q))
        return None

    const, terms = 0, []
    for term in sp.Add.make_args(i):
        if term.is_Number:
            c = number(term)
            if c is None:
                return None
            const += c
        elif term.is_Symbol:
            terms.append((term, 1))
        elif term.is_Mul and len(term.args) == 2 and term.args[1].is_Symbol:
            a = number(term.args[0])
            if a is None:
                return None
            terms.append((term.args[1], a))
        else:
            return None
    return const, tuple(terms)


def _tie_free_points(inst: _Instance, count: int = 3) -> list[dict]:
    """Integer points where no two values of a max-pooled input are equal.

    A max is not differentiable at a tie, so a claim about one is proved exactly
    at several orderings of the inputs instead of for every real input.  [{}]
    where no input is max-pooled (clip_by_norm's max(c, ‖v‖)): every point
    would be the same, the empty one.
    """
    reads = [
        inst.symbol(i.name, idx)
        for i in inst.f.inputs
        if i.domain == "distinct"
        for idx in _elements(inst.shape_of[i.name])
    ]
    if not reads:
        return [{}]
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


class _Winners:
    """An expression with each max replaced by the one argument that is largest
    at ``point`` (an assignment of numbers to the max-pooled inputs).

    Where one argument is strictly largest, the max equals it on a whole
    neighbourhood of the point, so their derivatives there are equal; and
    SymPy's own derivative of a max of n arguments builds n maxima of n − 1
    (seconds per partial derivative of a pooling layer).  A max with a tie
    at the point is kept whole.
    """

    def __init__(self, point: dict):
        self.point, self.memo = point, {}

    def __call__(self, e: sp.Expr) -> sp.Expr:
        if e in self.memo:
            return self.memo[e]
        if not e.args:
            out = e
        else:
            args = [self(a) for a in e.args]
            if isinstance(e, sp.Max):
                values = [a.xreplace(self.point) for a in args]
                top = max(values) if all(v.is_Number for v in values) else None
                won = [a for a, v in zip(args, values) if v == top]
                out = won[0] if len(won) == 1 else sp.Max(*args, evaluate=False)
            elif all(a is b for a, b in zip(args, e.args)):
                out = e
            else:
                out = e.func(*args)
        self.memo[e] = out
        return out


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
        for (name, _), sym in inst.cells.items()
        if name in inst.f.input_names and inst.f.input(name).domain == "binary"
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


@dataclass
class _Written:
    """A formula written out at a claim's sizes: what every claim about it at
    those sizes shares (its outputs, the maxima's points, whether an output
    moves with a max shift, and the SymEngine form of each output)."""

    formula: Formula
    key: tuple
    inst: _Instance
    points: list
    #: (weight, output) of L = Σ g·output, and the symbols each output reads
    terms: list
    reads: list
    #: why an output moves with its max shift; "" if none does
    moved: str
    fast: FastZero | None


#: the last formula written out: the claims about one formula are proved one
#: after another (``verify -j`` keeps them in one batch), and multi-head
#: attention's nine claims wrote the same outputs out nine times
_LAST: list[_Written] = []


def written_key(claim: Claim, sizes: dict) -> tuple:
    """What a claim's instance depends on besides its formula: the claims about
    one formula with the same key share its written-out outputs."""
    # a one-hot or simplex input is constrained unless it is the variable
    constrained = any(i.domain in ("onehot", "simplex") for i in claim.formula.inputs)
    return (
        tuple(sorted(sizes.items())),
        tuple(sorted(claim.padded)),
        claim.wrt if constrained else None,
    )


def _written(claim: Claim, sizes: dict) -> _Written:
    f = claim.formula
    key = written_key(claim, sizes)
    if _LAST and _LAST[0].formula is f and _LAST[0].key == key:
        return _LAST[0]
    inst = _Instance(f, sizes, claim.wrt, claim.padded)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    outputs = inst.every(f, out_shape)
    maxed = any(v.has(sp.Max) for v in outputs.values())
    points = _tie_free_points(inst) if maxed else [{}]
    if not maxed:  # no max evaluated at points: kinks become Piecewise
        outputs = {idx: as_piecewise(v) for idx, v in outputs.items()}
    # L = Σ g·output; an output that does not read a variable adds nothing to
    # its derivative, so each derivative differentiates only the outputs that do
    terms = (
        [(sp.Integer(1), outputs[()])]
        if not out_shape
        else [(inst.symbol(UPSTREAM, idx), v) for idx, v in outputs.items()]
    )
    reads = [inst._free(v) for _, v in terms]
    written = _Written(
        f,
        key,
        inst,
        points,
        terms,
        reads,
        _moved(inst, outputs, reads),
        None if maxed else FastZero(inst.free),
    )
    _LAST[:] = [written]
    return written


def _moved(inst: _Instance, outputs: dict, reads: list) -> str:
    """Why an output moves with a max shift ("" if none does): the shift must
    not change any value (SymEngine first, SymPy if need be)."""
    shifted = FastZero()
    for shift in inst.shifts.values():
        for (idx, v), atoms in zip(outputs.items(), reads):
            if shift not in atoms or shifted.zero(
                [(sp.Integer(1), v)], shift, sp.Integer(0), clear=True
            ):
                continue
            if not is_zero(sp.diff(v, shift)):
                return f"output {idx} depends on the shift {shift}"
    return ""


def prove(claim: Claim) -> SymbolicResult:
    """Prove ``claim`` exactly on its small instance."""
    f = claim.formula
    if claim.elementwise:
        return _prove_scalar(claim)

    sizes = instance_sizes(claim)
    # a smooth formula's right claim is shown with the instance in SymEngine;
    # anything else (and any failure, to be worded) is the SymPy proof's
    from .engine import prove_in_symengine  # which builds on _Instance

    shown = prove_in_symengine(claim, sizes)
    if shown is not None:
        return SymbolicResult(True, shown)
    written = _written(claim, sizes)
    if written.moved:
        return SymbolicResult(False, written.moved)
    inst, terms, reads = written.inst, written.terms, written.reads
    points = written.points

    grad = claim.gradient
    wrt_shape = inst.shape_of[claim.wrt]
    # looking for clips in every partial derivative's terms is a walk of each
    # term; there are none to find where neither side is written with one
    clipped = any(e.has(clip, inside) for e in (f.expr, grad.expr))
    claimed_at = [inst.every(grad, wrt_shape, point) for point in points]
    notes: list = []
    counted = set()
    # SymEngine differentiates and expands a network's loss in milliseconds; where
    # that does not show a zero (or there are maxima to evaluate at points),
    # SymPy decides below
    fast = written.fast
    held = (
        None
        if fast is None
        else fast.holding(
            [inst.symbol(claim.wrt, idx) for idx in _elements(wrt_shape)],
            [v for _, v in terms],
            [c[idx] for c in claimed_at for idx in c],
        )
    )
    for idx in _elements(wrt_shape):
        var = inst.symbol(claim.wrt, idx)
        touching = [(w, v) for (w, v), atoms in zip(terms, reads) if var in atoms]
        # only the clips of quantities that move with var: 3 regions each; any
        # other clip is the same unknown constant on both sides
        regions = (
            list(
                _clip_regions(
                    *(v for _, v in touching),
                    *(c[idx] for c in claimed_at),
                    moving=var,
                )
            )
            if clipped
            else [({}, lambda e: e)]
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
                    held=held,
                )
                for claimed in claimed_at
            ):
                continue
            exact = None
            for point, claimed in zip(points, claimed_at):
                if point:  # a max is its winner near a point without ties
                    winners = _Winners(point)
                    derivative = sp.Add(
                        *(w * sp.diff(winners(in_region(v)), var) for w, v in touching)
                    ).xreplace(point)
                else:
                    if exact is None:
                        exact = sp.Add(
                            *(w * sp.diff(in_region(v), var) for w, v in touching)
                        )
                    derivative = exact
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
    regions_text = f", {len(counted)} clip regions" if len(counted) > 1 else ""
    if points != [{}]:
        regions_text += f", at {len(points)} tie-free orderings of the inputs"
    kinks = sorted({str(c) for c in notes})
    if kinks:
        regions_text += (
            f"; not a failure: they differ where {', '.join(kinks)} (a kink)"
        )
    return SymbolicResult(True, exact_on(sizes, wrt_shape, regions_text))


def exact_on(sizes: dict, wrt_shape: tuple, more: str = "") -> str:
    """A passed proof's detail: the instance and how many partial derivatives
    (``more``: what else it took, as ", 9 clip regions")."""
    # sorted, so that the message is the same whatever the hash seed
    dims = ", ".join(f"{d}={v}" for d, v in sorted(sizes.items()))
    n = len(_elements(wrt_shape))
    return f"exact on the instance {dims} ({n} partial derivatives{more})"
