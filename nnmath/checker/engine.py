"""A claim proved with its instance built in SymEngine, where it can be.

:func:`nnmath.checker.symbolic.prove` writes a formula out at a small instance
in SymPy and asks SymEngine whether derivative − claim expands to 0
(:class:`~nnmath.checker.zero.FastZero`).  For a smooth formula (no max, clip,
kink or mask that depends on a value) and a right claim, SymPy's part is only
building the instance, in its constructors: half the time of the library's 116
proofs (profiled), none of it in the test.  Here the same instance is built with
every *value* in SymEngine (indices stay Python integers, read as the SymPy
instance reads them: :class:`~nnmath.checker.symbolic._Instance`), and the
same test is made: a sum neither side moves held as a symbol first, each sum
a value divides by opaque, then every sum written out, then the difference
times the sums it divides by.

Only a proof is taken from here.  Anything this does not build (a window's
max, a clip, |x|, a condition on a value) or does not show to be 0 goes to the
SymPy proof, which decides and words the failure: a wrong claim is reported
exactly as before, after this attempt's time too.  Sound for the same reason as
FastZero: expanding applies identities, and a sum held as a symbol does not
read the variable, so it is a constant to ∂/∂var.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy as sp

from ..claim import UPSTREAM, Claim
from ..primitives import (
    PRIMITIVES,
    FirstArgMax,
    Maximum,
    MaxShift,
    clip,
    inside,
    masked,
    present,
)
from .symbolic import _elements, _Instance, exact_on, written_key
from .zero import _cleared_denominators, _divisor, _opaque, symengine

__all__ = ["prove_in_symengine"]


class _Unsupported(Exception):
    """A node the SymEngine instance does not build: the SymPy proof decides."""


#: what building an instance in SymEngine may raise: the SymPy proof decides
_NOT_BUILT = (_Unsupported, RuntimeError, TypeError, ValueError, NotImplementedError)


def _is_exp(e) -> bool:
    return isinstance(e, symengine.Pow) and e.args[0] == symengine.E


def _one_plus_exp(base):
    """w if ``base`` is the SymEngine sum 1 + e^w."""
    if isinstance(base, symengine.Add) and len(base.args) == 2:
        one, other = sorted(base.args, key=lambda a: a != 1)
        if one == 1 and _is_exp(other):  # e^w is SymEngine's power E**w
            return other.args[1]
    return None


def _distributed(product):
    """A number times one sum, distributed as SymPy distributes it (2·(a + b)
    = 2a + 2b); anything else as it is."""
    if isinstance(product, symengine.Mul) and len(product.args) == 2:
        number, other = sorted(product.args, key=lambda a: not a.is_Number)
        if number.is_Number and isinstance(other, symengine.Add):
            return symengine.Add(*(number * term for term in other.args))
    return product


def _mul(*args):
    """A product, distributed as SymPy's is: an exponent then reads alike
    wherever it is built, and e^u·e^v, which SymEngine merges into e^(u + v),
    cancels term by term."""
    return _distributed(symengine.Mul(*args))


def _exp(a):
    return symengine.exp(_distributed(a))


def _tanh(a):
    return symengine.sinh(a) / symengine.cosh(a)


def _log(a):
    w = _one_plus_exp(a)
    if w is not None:  # softplus: log(1 + e^w) = w/2 + log(2) + log(cosh(w/2))
        return w / 2 + symengine.log(2) + symengine.log(symengine.cosh(w / 2))
    return symengine.log(a)


def _pow(base, k):
    if _is_exp(base):
        return _exp(k * base.args[1])  # (e^u)^k = e^(ku), ku flat
    if isinstance(k, symengine.Integer) and k < 0:
        w = _one_plus_exp(base)
        if w is not None:  # 1/(1 + e^w) = σ(−w) = (1 − tanh(w/2))/2
            return ((1 - _tanh(w / 2)) / 2) ** (-k)
    return base**k


#: SymPy node → its SymEngine builder, written in sinh and cosh as
#: :func:`nnmath.checker.zero.hyperbolic` writes the SymPy instance
_BUILD = (
    {
        sp.Add: symengine.Add,
        sp.Mul: _mul,
        sp.Pow: _pow,
        sp.exp: _exp,
        sp.log: _log,
        sp.tanh: _tanh,
        sp.sinh: symengine.sinh,
        sp.cosh: symengine.cosh,
    }
    if symengine is not None
    else {}
)


def _number(e: sp.Basic):
    if e.is_Integer:
        return symengine.Integer(int(e))
    if e.is_Rational:
        return symengine.Rational(int(e.p), int(e.q))
    if not e.is_finite:  # SymEngine's −∞ − s stays a sum: SymPy's rules differ
        raise _Unsupported(str(e))
    return symengine.sympify(e)  # a Float, π


#: a primitive → its elementary definition in SymEngine, of placeholder
#: arguments, and those (None: not built here); a definition is SymPy code,
#: converted once
_DEFINITIONS: dict = {}


def _definition(cls) -> tuple | None:
    if cls not in _DEFINITIONS:
        n = cls.nargs if isinstance(cls.nargs, int) else min(cls.nargs)
        names = [f"_arg{k}" for k in range(n)]
        try:
            template = _convert(cls.definition(*sp.symbols(names, real=True)))
            _DEFINITIONS[cls] = (template, [symengine.Symbol(s) for s in names])
        except _Unsupported:
            _DEFINITIONS[cls] = None
    return _DEFINITIONS[cls]


def _convert(e: sp.Basic):
    """A SymPy expression of symbols and numbers, in SymEngine (rewritten)."""
    if e.is_Number or e.is_NumberSymbol:
        return _number(e)
    if isinstance(e, sp.Symbol):
        return symengine.Symbol(e.name)
    build = _BUILD.get(type(e))
    if build is None:
        raise _Unsupported(type(e).__name__)
    return build(*(_convert(a) for a in e.args))


class EngineInstance(_Instance):
    """:class:`~nnmath.checker.symbolic._Instance` with its values in
    SymEngine; its indices are still worked out in Python integers (or
    SymPy, by :attr:`plain`, the SymPy instance of the same sizes)."""

    def __init__(self, formula, sizes, wrt, padded=()):
        super().__init__(formula, sizes, wrt, padded)
        self.plain = _Instance(formula, sizes, wrt, padded)
        self.engine_cells: dict = {}
        self.engine_constraints = {
            sym: _convert(v) for sym, v in self.constraints.items()
        }

    def cell(self, name: str, idx: tuple = ()):
        key = (name, idx)
        try:
            return self.engine_cells[key]
        except KeyError:
            pass
        sym = self.symbol(name, idx)
        value = self.engine_constraints.get(sym)
        if value is None:
            value = symengine.Symbol(sym.name)
        self.engine_cells[key] = value
        return value

    def _index(self, i, env):
        return self.plain._index(i, env)

    def _value(self, e, env):
        if e.is_Number or e.is_NumberSymbol:
            return _number(e)
        if not e.args and not isinstance(e, sp.Symbol):
            raise _Unsupported(type(e).__name__)
        return super()._value(e, env)

    def _evaluate(self, e, env):
        if isinstance(e, sp.Symbol):
            if e in env:
                return symengine.Integer(env[e])
            if e in self.sizes:
                return symengine.Integer(self.sizes[e])
            return symengine.Symbol(e.name)  # a scalar input, a constant
        if isinstance(e, sp.Indexed):
            name, idx = self._read(e, env)
            if self._absent_at(name, idx):
                return symengine.Integer(0)
            return self.cell(name, idx)
        if isinstance(e, present):
            absent = self._absent_at(*self._read(e.args[0], env))
            return symengine.Integer(0 if absent else 1)
        if isinstance(e, sp.Sum):
            return symengine.Add(
                *(self._value(e.function, at) for at in self._cells(e, env))
            )
        if isinstance(e, MaxShift):
            plain = self.plain._evaluate(e, env)  # its free symbol, named
            self.shifts[plain] = shift = symengine.Symbol(plain.name)
            return shift
        if isinstance(e, masked):  # a condition on indices: one branch
            held = self.plain._value(e.args[0], env)
            if held is sp.true:
                return self._value(e.args[1], env)
            if held is sp.false:
                return self._value(e.args[2], env)
            raise _Unsupported("a mask on a value")
        if isinstance(e, (Maximum, FirstArgMax, clip, inside)):
            raise _Unsupported(type(e).__name__)
        args = [self._value(a, env) for a in e.args]
        if isinstance(e, PRIMITIVES):
            definition = _definition(type(e))
            if definition is None:
                raise _Unsupported(type(e).__name__)
            template, names = definition
            return template.subs(dict(zip(names, args)))
        build = _BUILD.get(type(e))
        if build is not None:
            return build(*args)
        if all(a.is_Number for a in args):  # of indices: KroneckerDelta, floor
            value = e.func(*(a._sympy_() for a in args))
            if value.is_Number:
                return _number(value)
        raise _Unsupported(type(e).__name__)


def _nodes(*exprs) -> set:
    """Every SymEngine node of ``exprs``, each shared part walked once."""
    seen: set = set()
    stack = list(exprs)
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        stack.extend(node.args)
    return seen


def _difference(terms, var, claimed):
    d = -claimed
    for w, v in terms:
        d = d + w * v.diff(var)
    return d


def _zero(terms, var, claimed, sums: dict) -> bool:
    d = _difference(terms, var, claimed)
    return symengine.expand(d.xreplace(sums) if sums else d) == 0


def _zero_cleared(terms, var, claimed) -> bool:
    """Times the sums it divides by: a claim that is right because a softmax's
    weights sum to 1 (one that adds the same to every key's dP, which the
    softmax's Jacobian takes away) cancels only so; SymPy took 7 minutes to
    show multi-head attention's ∂L/∂W_q with b_k for b_v in its values right,
    this 2.5 s.  Where the difference is defined its denominators are not 0,
    so it is 0 exactly where this product is."""
    d = _difference(terms, var, claimed)
    return symengine.expand(_cleared_denominators(d)) == 0


@dataclass
class _Written:
    """A formula written out in SymEngine at a claim's sizes: what every claim
    about it at those sizes shares (as :class:`.symbolic._Written` is for the
    SymPy instance), or ``inst`` None where it cannot be."""

    formula: object
    key: tuple
    inst: object = None
    outputs: dict = field(default_factory=dict)
    terms: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    nodes: set = field(default_factory=set)


#: the last formula written out (verify -j keeps a formula's claims together)
_LAST: list[_Written] = []


def _written(claim: Claim, sizes: dict) -> _Written:
    f = claim.formula
    key = written_key(claim, sizes)
    if _LAST and _LAST[0].formula is f and _LAST[0].key == key:
        return _LAST[0]
    written = _Written(f, key)
    _LAST[:] = [written]
    inst = EngineInstance(f, sizes, claim.wrt, claim.padded)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    try:
        outputs = inst.every(f, out_shape)
    except _NOT_BUILT:
        return written
    # an output must not move with its max shift (a softmax's, cancelled in it)
    for shift in inst.shifts.values():
        for v in outputs.values():
            if shift in v.free_symbols and (
                symengine.expand(_cleared_denominators(v.diff(shift))) != 0
            ):
                return written
    written.inst, written.outputs = inst, outputs
    written.terms = (
        [(symengine.Integer(1), outputs[()])]
        if not out_shape
        else [(inst.cell(UPSTREAM, idx), v) for idx, v in outputs.items()]
    )
    written.reads = [v.free_symbols for _, v in written.terms]
    written.nodes = _nodes(*outputs.values())
    return written


def prove_in_symengine(claim: Claim, sizes: dict) -> str | None:
    """The proof's detail if ``claim`` is shown exact on its instance at
    ``sizes`` with every value in SymEngine; None if it is not shown here (the
    SymPy proof decides)."""
    if symengine is None:
        return None
    written = _written(claim, sizes)
    inst, grad = written.inst, claim.gradient
    if inst is None:
        return None
    terms, reads = written.terms, written.reads
    wrt_shape = inst.shape_of[claim.wrt]
    try:
        claimed = inst.every(grad, wrt_shape)
    except _NOT_BUILT:
        return None
    cells = {inst.cell(claim.wrt, idx) for idx in _elements(wrt_shape)}
    # the sums both sides read whole and the variable does not move: held
    # (see FastZero.holding); each sum a value divides by, opaque
    shared = _nodes(*claimed.values()) & written.nodes
    unmoved = [
        n for n in shared if isinstance(n, symengine.Add) and not n.free_symbols & cells
    ]
    held = {node: symengine.Symbol(f"_held{k}") for k, node in enumerate(unmoved)}
    held_terms = [(w, v.xreplace(held)) for w, v in terms] if held else terms
    held_claimed = (
        {k: c.xreplace(held) for k, c in claimed.items()} if held else claimed
    )
    sums: dict = {}
    for p in _nodes(
        *(v for _, v in held_terms),
        *held_claimed.values(),
        *((v for _, v in terms) if held else ()),
        *(claimed.values() if held else ()),
    ):
        divisor = _divisor(p)
        if divisor is not None:
            _opaque(sums, divisor[0])
    try:
        for idx in _elements(wrt_shape):
            var = inst.cell(claim.wrt, idx)
            touching = [k for k, atoms in enumerate(reads) if var in atoms]
            if held and _zero(
                [held_terms[k] for k in touching], var, held_claimed[idx], sums
            ):
                continue
            every = [terms[k] for k in touching]
            if (
                _zero(every, var, claimed[idx], sums)
                or _zero(every, var, claimed[idx], {})
                or _zero_cleared(every, var, claimed[idx])
            ):
                continue
            return None
    except _NOT_BUILT:
        return None
    return exact_on(sizes, wrt_shape)
