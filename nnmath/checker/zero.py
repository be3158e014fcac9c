"""Is an expression exactly zero?  The test behind every symbolic proof.

Cheapest first:

1. SymEngine (SymPy's C++ core) expands it: if every term cancels, it is zero.
   A network's derivative minus its claimed backpropagation cancels this way
   in milliseconds, where SymPy's ``cancel`` takes seconds.  Expanding only
   applies identities, so a 0 is a proof.
2. A clearly non-zero value at a random point ends the search: it is not zero.
3. SymPy's ``cancel`` and ``simplify``, which know the identities expansion
   does not (σ(1 − σ) = e^{−z}/(1 + e^{−z})²).

Piecewise expressions (and Heaviside, sign, |x|, max and min, rewritten as
such) are compared branch by branch.  A branch whose condition holds only on
a set of measure zero (``z = 0``: a kink, where no derivative exists) does not
count; it is reported as a note instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..formula import free_symbols, nodes

try:  # optional: without it the proofs are the same, only slower
    import symengine
except ImportError:  # pragma: no cover - a dependency in pyproject.toml
    symengine = None

__all__ = [
    "KINKED",
    "FastZero",
    "as_piecewise",
    "is_zero",
    "measure_zero",
    "nonzero_somewhere",
]

#: functions with a kink or a jump, proved region by region as Piecewise
KINKED = (sp.Heaviside, sp.sign, sp.Abs, sp.Max, sp.Min)


def _piecewise(node: sp.Expr) -> sp.Expr:
    """One kinked function as Piecewise; every argument is real here."""
    if isinstance(node, sp.sign):
        (u,) = node.args
        return sp.Piecewise((1, u > 0), (-1, u < 0), (0, True))
    if isinstance(node, sp.Abs):
        (u,) = node.args
        return sp.Piecewise((u, u >= 0), (-u, True))
    if isinstance(node, sp.Heaviside):
        u, at_zero = node.args[0], node.args[1] if len(node.args) > 1 else sp.S.Half
        return sp.Piecewise((0, u < 0), (at_zero, sp.Eq(u, 0)), (1, True))
    return node.rewrite(sp.Piecewise)  # Max, Min


def as_piecewise(e: sp.Expr) -> sp.Expr:
    """Heaviside, sign, Abs, Max and Min written as Piecewise (of real arguments)."""
    if not e.has(*KINKED):
        return e
    return e.replace(lambda x: isinstance(x, KINKED), _piecewise)


def _kink_of(rel) -> tuple[sp.Expr, int] | None:
    """(h, s): the relation compares s·h with 0, h canonical up to sign."""
    h = sp.expand(rel.lhs - rel.rhs)
    if h.is_number:
        return None
    sign = -1 if h.could_extract_minus_sign() else 1
    return sp.expand(sign * h), sign


def _zero_by_sign_regions(
    e: sp.Expr, notes: list | None, limit: int = 6
) -> bool | None:
    """Zero on every open region cut out by the conditions' boundaries h = 0
    (each region: a sign for each h).  None where this cannot decide: too many
    boundaries, or a region in which no point could be found."""
    rels = {
        r
        for pw in e.atoms(sp.Piecewise)
        for _, c in pw.args
        for r in (
            c.atoms(sp.core.relational.Relational) if isinstance(c, sp.Basic) else ()
        )
    }
    kinks = {}
    for r in rels:
        k = _kink_of(r)
        if k is None:
            return None
        kinks.setdefault(k[0], None)
    hs = sorted(kinks, key=sp.default_sort_key)
    if not hs or len(hs) > limit:
        return None
    free = sorted(set().union(*(h.free_symbols for h in hs)), key=sp.default_sort_key)
    rng = np.random.default_rng(len(hs))
    points = [
        dict(
            zip(
                free, (sp.Rational(int(v), 7) for v in rng.integers(-70, 71, len(free)))
            )
        )
        for _ in range(400)
    ]
    for signs in itertools.product((-1, 1), repeat=len(hs)):
        witness = next(
            (
                p
                for p in points
                if all(sp.sign(h.xreplace(p)) == s for h, s in zip(hs, signs))
            ),
            None,
        )

        region = dict(zip(hs, signs))

        def truth(rel, _signs=region):
            h, s = _kink_of(rel)
            value = s * _signs[h]  # the sign of lhs − rhs in this region
            return {
                "<": value < 0,
                "<=": value < 0,
                ">": value > 0,
                ">=": value > 0,
                "==": False,
                "!=": True,
            }[rel.rel_op]

        def pick(pw):
            for value, cond in pw.args:
                held = (
                    cond.replace(
                        lambda x: isinstance(x, sp.core.relational.Relational),
                        lambda x: sp.true if truth(x) else sp.false,
                    )
                    if isinstance(cond, sp.Basic)
                    else cond
                )
                if held in (sp.true, True):
                    return value
            return sp.nan

        branch = e.replace(lambda x: isinstance(x, sp.Piecewise), pick)
        if branch.has(sp.nan):
            return None
        if is_zero(branch):
            continue
        if witness is None:
            return None  # perhaps an empty region: undecided
        return False
    if notes is not None:
        notes.extend(sp.Eq(h, 0) for h in hs)
    return True


@dataclass
class Held:
    """The sums a claim's derivatives may hold opaque (see :meth:`FastZero.holding`)."""

    #: every cell of the input the claim differentiates by
    cells: frozenset
    #: the sums that are nodes of both the outputs and the claim
    shared: frozenset
    #: node → its SymEngine form with those sums held (see FastZero._se)
    converted: dict = field(default_factory=dict)


class FastZero:
    """Derivative-minus-claim tests done wholly in SymEngine, for one instance.

    ``zero(terms, var, claimed)`` is True when Σ w·∂v/∂var − claimed expands
    to 0.  Both sides are first written in sinh and cosh (:func:`hyperbolic`),
    where the derivatives of σ, softplus and tanh and the claims σ(1 − σ),
    σ and 1 − tanh² expand alike.  False means "not shown": the caller asks
    SymPy.  Each large term is converted to SymEngine once.  ``free`` is a
    memo of the symbols each node reads (the instance's, which has most of
    them already).
    """

    def __init__(self, free: dict | None = None):
        self.ok = symengine is not None
        self.converted: dict = {}
        #: every sum a converted node divides by, each with its opaque symbol
        #: (see _opaque_sums), and whether some node was converted whole, so
        #: that its sums were not seen
        self.sums: dict = {}
        self.whole = False
        self.free = {} if free is None else free
        #: a held sum → the symbol that stands for it (see holding)
        self.held: dict = {}

    def holding(self, cells, outputs, claimed) -> Held:
        """What :meth:`zero` may hold opaque for a claim about the input whose
        cells are ``cells``: each sum that is a node of both ``outputs`` and
        ``claimed`` (each partial derivative's claimed value) and reads no cell.

        Multi-head attention's outputs multiply the softmax by the values
        Σ y·W_v + b_v, and its claims read the same sums; expanded, each is
        four terms, and the derivative in W_q came to 3312 terms a side (28 ms
        each of 141 partial derivatives).  Held as symbols, they stay one.
        Sound: a sum that reads no cell of the input is a constant to ∂/∂var,
        so a difference that expands to 0 whatever the symbols' values is 0 at
        the sums' values too.  A sum is held only where both sides read it
        whole: one side may have multiplied it out (the outputs distribute
        Σₛ P·V over W_o, a claim keeps it), and the two would not cancel."""
        outputs_nodes = set(nodes(*outputs))
        shared = frozenset(
            n for n in nodes(*claimed) if isinstance(n, sp.Add) and n in outputs_nodes
        )
        return Held(frozenset(cells), shared)

    def _se(self, e: sp.Expr, held: Held | None = None):
        """``hyperbolic(e)`` in SymEngine, converted node by node and each node
        once: an instance's terms share their subtrees (a hidden unit is read by
        every output), which converting each term whole would convert again.
        With ``held``, each of its sums that reads no cell is one symbol."""
        converted = self.converted if held is None else held.converted
        try:
            return converted[e]
        except KeyError:
            pass
        rewritten = _rewrite(e) if isinstance(e, (sp.tanh, sp.log, sp.Pow)) else e
        if (
            held is not None
            and e in held.shared
            and not free_symbols(e, self.free) & held.cells
        ):
            out = self.held.get(e)
            if out is None:
                out = self.held[e] = symengine.Symbol(f"_held{len(self.held)}")
        elif rewritten is not e:
            out = self._se(rewritten, held)
        elif type(e) in _SE_NODES:
            out = _SE_NODES[type(e)](*(self._se(a, held) for a in e.args))
            divisor = _divisor(out)
            if divisor is not None:
                _opaque(self.sums, divisor[0])
        else:  # an atom, or a node of another kind: converted whole
            out = symengine.sympify(hyperbolic(e))
            self.whole |= bool(e.args)
        converted[e] = out
        return out

    def zero(
        self,
        terms,
        var: sp.Symbol,
        claimed: sp.Expr,
        *,
        clear: bool = False,
        held: Held | None = None,
    ) -> bool:
        """With ``clear``, multiplied by its denominators instead: a softmax's
        derivative in its max shift, 1 − (Σ e^{z−s})·(Σ e^{z−s})⁻¹, is 0 only
        once the sum cancels its reciprocal, which expanding does not do.
        With ``held`` (from :meth:`holding`, for an input ``var`` is a cell
        of), first with its sums held opaque, then written out."""
        if not self.ok:
            return False
        try:
            if held is not None and not clear and var in held.cells:
                if self._expands_to_zero(terms, var, claimed, held):
                    return True
            if clear:
                return (
                    symengine.expand(
                        _cleared_denominators(self._difference(terms, var, claimed))
                    )
                    == 0
                )
            return self._expands_to_zero(terms, var, claimed)
        except (
            RuntimeError,
            TypeError,
            ValueError,
            NotImplementedError,
            AttributeError,
        ):
            return False

    def _difference(self, terms, var, claimed, held: Held | None = None):
        x = self._se(var)
        d = -self._se(claimed, held)
        for w, v in terms:
            d = d + self._se(w, held) * self._se(v, held).diff(x)
        return d

    def _expands_to_zero(self, terms, var, claimed, held: Held | None = None):
        d = self._difference(terms, var, claimed, held)
        sums = _opaque_sums(d) if self.whole else self.sums
        opaque = d.xreplace(sums) if sums else d
        return symengine.expand(opaque) == 0 or (
            held is None and symengine.expand(d) == 0
        )


#: the SymPy nodes :meth:`FastZero._se` builds in SymEngine from converted arguments
_SE_NODES = (
    {
        sp.Add: symengine.Add,
        sp.Mul: symengine.Mul,
        sp.Pow: symengine.Pow,
        sp.exp: symengine.exp,
        sp.log: symengine.log,
        sp.sinh: symengine.sinh,
        sp.cosh: symengine.cosh,
    }
    if symengine is not None
    else {}
)


def _divisor(p) -> tuple | None:
    """(Σ…, k) if ``p`` is a SymEngine power (Σ…)ᵏ of a sum with k < 0."""
    if isinstance(p, symengine.Pow):
        base, power = p.args
        if isinstance(base, symengine.Add) and power.is_number and power < 0:
            return base, power
    return None


def _opaque(sums: dict, base) -> None:
    sums.setdefault(base, symengine.Symbol(f"_sum{len(sums)}"))


def _opaque_sums(e) -> dict:
    """Each sum ``e`` divides by, with a fresh symbol to stand for it.

    A softmax's derivative divides by the sum Σ e^z squared, and its claim
    by the same sum twice; expanding would write one (Σ e^z)⁻² as a sum of
    products of exponentials and leave the other as it is, so the two never
    cancel (attention's ∂L/∂q went to SymPy's ``cancel``: 240 s instead of
    milliseconds).  Replacing a subexpression by a free symbol everywhere is
    sound: if the result expands to 0 for every value of the symbol, it is 0
    at the sum's value too.
    """
    sums: dict = {}
    for p in e.atoms(symengine.Pow):
        divisor = _divisor(p)
        if divisor is not None:
            _opaque(sums, divisor[0])
    return sums


def _cleared_denominators(e):
    """``e`` times each sum it divides by, to the highest power it divides by,
    with every such quotient cancelled.

    Each reciprocal (Σ…)⁻ᵏ is first a power Rᵏ of a fresh symbol and the
    whole expanded; each term c·Rʲ then becomes c·(Σ…)^(K−j), so that a sum
    meets its own reciprocal before anything multiplies it out.  Where ``e``
    is defined its denominators are not 0, so ``e`` is 0 exactly where this
    product is."""
    powers: dict = {}
    for p in e.atoms(symengine.Pow):
        divisor = _divisor(p)
        if divisor is not None and divisor[1].is_integer:
            base, power = divisor
            powers[base] = max(powers.get(base, 0), -int(power))
    if not powers:
        return e
    opaque = {base: symengine.Symbol(f"_r{k}") for k, base in enumerate(powers)}
    e = e.xreplace(
        {
            base**-j: opaque[base] ** j
            for base, top in powers.items()
            for j in range(1, top + 1)
        }
    )
    e = symengine.expand(e)
    terms = e.args if isinstance(e, symengine.Add) else (e,)
    out = []
    for term in terms:
        factors = term.args if isinstance(term, symengine.Mul) else (term,)
        degree = dict.fromkeys(powers, 0)
        rest = []
        for f in factors:
            r, j = f.args if isinstance(f, symengine.Pow) else (f, 1)
            base = next((b for b, s in opaque.items() if s == r), None)
            if base is None:
                rest.append(f)
            else:
                degree[base] = int(j)
        out.append(
            symengine.Mul(*rest, *(b ** (powers[b] - degree[b]) for b in powers))
        )
    return symengine.Add(*out)


def _exponent_of_one_plus_exp(base: sp.Expr) -> sp.Expr | None:
    """w if ``base`` is 1 + e^w."""
    if base.is_Add and len(base.args) == 2 and sp.S.One in base.args:
        (other,) = [a for a in base.args if a is not sp.S.One]
        if isinstance(other, sp.exp):
            return other.args[0]
    return None


def _rewrite(node: sp.Expr) -> sp.Expr:
    if isinstance(node, sp.tanh):
        return sp.sinh(node.args[0]) / sp.cosh(node.args[0])
    if isinstance(node, sp.log):
        w = _exponent_of_one_plus_exp(node.args[0])
        if w is not None:  # softplus: log(1 + e^w) = w/2 + log(2 cosh(w/2))
            return w / 2 + sp.log(2) + sp.log(sp.cosh(w / 2))
    if isinstance(node, sp.Pow) and node.exp.is_Integer and node.exp < 0:
        w = _exponent_of_one_plus_exp(node.base)
        if w is not None:  # 1/(1 + e^w) = σ(−w) = (1 − tanh(w/2))/2
            return ((1 - sp.sinh(w / 2) / sp.cosh(w / 2)) / 2) ** (-node.exp)
    return node


def hyperbolic(e: sp.Expr) -> sp.Expr:
    """``e`` with tanh, the logistic 1/(1 + e^w) and softplus log(1 + e^w) written
    in sinh and cosh of w/2: exact identities, applied from the leaves up."""
    if not e.has(sp.tanh, sp.log, sp.Pow):
        return e
    return e.replace(lambda x: isinstance(x, (sp.tanh, sp.log, sp.Pow)), _rewrite)


def _expands_to_zero(e: sp.Expr) -> bool:
    if symengine is None:
        return sp.expand(e) == 0 if sp.count_ops(e) < 200 else False
    try:
        return symengine.expand(symengine.sympify(e)) == 0
    except (RuntimeError, TypeError, ValueError, NotImplementedError, AttributeError):
        return False  # a node SymEngine does not know: SymPy decides


def measure_zero(cond) -> bool:
    """True if ``cond`` holds only on a set of measure zero (an equation)."""
    if isinstance(cond, sp.Eq):
        return True
    if isinstance(cond, sp.And):
        return any(measure_zero(a) for a in cond.args)
    free = cond.free_symbols if isinstance(cond, sp.Basic) else set()
    if len(free) == 1 and not isinstance(cond, sp.logic.boolalg.BooleanAtom):
        try:
            where = cond.as_set()
        except (NotImplementedError, TypeError, ValueError):
            return False
        return bool(where.is_FiniteSet or where.is_empty)
    return False


def is_zero(e: sp.Expr, notes: list | None = None) -> bool:
    """Exactly zero, branch by branch for piecewise expressions.

    Folding two piecewise sides pairs every branch with every other, including
    pairs whose conditions cannot hold together; a non-zero value on such an
    impossible pair would be a false alarm, so on failure the whole difference is
    simplified once more, which lets SymPy merge equal conditions first.
    ``notes`` collects the measure-zero sets where the two sides differ.
    """
    e = as_piecewise(e)
    folded = sp.piecewise_fold(e) if e.has(sp.Piecewise) else e
    if isinstance(folded, sp.Piecewise):
        kinks = []
        for branch, cond in folded.args:
            if cond is sp.false or is_zero(branch):
                continue
            if measure_zero(cond):
                kinks.append(cond)
                continue
            break
        else:
            if notes is not None:
                notes.extend(kinks)
            return True
        by_regions = _zero_by_sign_regions(e, notes)
        if by_regions is not None:
            return by_regions
        return not nonzero_somewhere(e) and sp.simplify(e) == 0
    if folded == 0 or _expands_to_zero(folded):
        return True
    if nonzero_somewhere(folded):  # cheaper than cancel() when it is not zero
        return False
    return sp.cancel(sp.together(folded)) == 0 or sp.simplify(folded) == 0


def nonzero_somewhere(e: sp.Expr, tries: int = 3) -> bool:
    """True if ``e`` is clearly non-zero at a random point in (0, 1)ⁿ (30 digits).

    Then it is not identically zero, and ``simplify`` need not try: on a wrong
    claim about a whole network it can run for many minutes.  A failure to show
    a non-zero value proves nothing, so the caller still simplifies.
    """
    reads = e.atoms(sp.Indexed)
    labels = {r.base.label for r in reads}
    free = sorted(
        reads
        | {s for s in e.free_symbols if isinstance(s, sp.Symbol) and s not in labels},
        key=sp.default_sort_key,
    )
    rng = np.random.default_rng(len(free))
    for _ in range(tries):
        point = {
            s: sp.Float(int(v) / 1009, 30)
            for s, v in zip(free, rng.integers(1, 1009, size=len(free)))
        }
        try:  # 30-digit floats: SymPy folds each node to a number as it rebuilds
            value = complex(e.xreplace(point).evalf(30))
        except (TypeError, ValueError, ZeroDivisionError):
            continue
        if np.isfinite(value) and abs(value) > 1e-12:
            return True
    return False
