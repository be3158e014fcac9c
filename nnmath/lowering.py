"""SymPy (indexed form) → vectorized NumPy source: a printer, and nothing else.

A printer in the spirit of SymPy's NumPyPrinter: one ``_lower_<Node>`` method per
node kind, and anything without a method fails loudly.  Each method returns a
:class:`Term`: a NumPy expression and the index labels of its axes.  Element-wise
nodes align their operands by label (transpose, insert axes, broadcast);
``Sum`` over a product becomes one ``np.einsum`` contraction; ``Sum`` of anything
else and ``MaxShift`` become reductions along the labelled axis.  No Python loop
runs over elements.

Affine indices (``x[n, s*i + d*p - P, …]``) become strided windows: each such
axis is replaced by one view axis per index symbol
(:func:`nnmath.kernels.window`), padded where the read leaves the input and
dilated where the index is a fraction (``g[(u - p)/s]`` reads only where s
divides u − p).  A read outside an input is *absent*: it adds nothing to a sum
and never wins a ``Maximum`` (the view is padded with 0, or the lowest value
under a max).  A row-major decomposition of one index
(:func:`~nnmath.primitives.row_major_digits`) is a reshape.

The printed source calls NumPy and the runtime kernels of :mod:`nnmath.kernels`
(windows, windowed reductions, blocked contractions); it is checked against the
slow :func:`nnmath.checker.loop_oracle.loop_oracle`, built from
``sympy.lambdify``'s own loop code on the *elementary* form of the formula.
"""

from __future__ import annotations

import collections
import itertools
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp

from . import kernels
from .formula import nodes
from .primitives import (
    FirstArgMax,
    Maximum,
    MaxShift,
    clip,
    inside,
    masked,
    present,
    reciprocal,
    row_major_digits,
    row_major_index,
    sigmoid,
    softplus,
)

if TYPE_CHECKING:
    from .formula import Formula

__all__ = ["Lowered", "LoweringError", "lower", "lower_together"]

ATOM, CALL, POW, UNARY, MUL, ADD = 100, 90, 60, 50, 40, 30
#: ``a @ b``: Python binds it as tightly as ``*``, but a product or quotient
#: around it must not regroup it ((g * x) @ W is not g * (x @ W))
MATMUL = MUL - 1


class LoweringError(NotImplementedError):
    """A SymPy node the lowering has no rule for."""


@dataclass(frozen=True)
class Term:
    code: str
    labels: tuple[sp.Symbol, ...]
    prec: int = ATOM


@dataclass(frozen=True)
class Lowered:
    function: Callable
    dim_args: tuple[str, ...]
    #: the compiled code: its first line, then the rest
    head: str
    body: str
    #: the formulas it computes, whose equations :attr:`source` shows
    formulas: tuple = ()

    @cached_property
    def source(self) -> str:
        """The code as a person reads it: each equation as a comment after the
        first line (typeset only when asked: a check never reads it)."""
        eqs = "".join(
            f"    # {f.indexed_latex.replace(chr(10), ' ')}\n" for f in self.formulas
        )
        return self.head + eqs + self.body


# One table for the function calls: SymPy class → (NumPy template over the
# arguments, the least precedence an argument may have before it needs parentheses).
FUNCTIONS: dict[type, tuple[str, int]] = {
    sp.exp: ("np.exp({0})", 0),
    sp.log: ("np.log({0})", 0),
    sp.tanh: ("np.tanh({0})", 0),
    sp.Abs: ("np.abs({0})", 0),
    sp.cosh: ("np.cosh({0})", 0),
    sp.sinh: ("np.sinh({0})", 0),
    sp.sign: ("np.sign({0})", 0),  # −1, 0 or 1, as SymPy's sign
    sp.sin: ("np.sin({0})", 0),  # the sinusoidal positional encoding
    sp.cos: ("np.cos({0})", 0),
    sp.floor: ("np.floor({0})", 0),
    sp.Mod: ("np.mod({0}, {1})", 0),
    # SciPy's logistic: finite and exact to an ulp for every z, 3x faster than
    # the e^(−log(1 + e^(−z))) it replaces (12 against 38 µs on 32 × 32)
    sigmoid: ("expit({0})", 0),
    softplus: ("np.logaddexp(0, {0})", 0),  # log(1 + e^z) without overflow
    clip: ("np.clip({0}, {1}, {2})", 0),
    inside: ("(({1} < {0}) & ({0} < {2})).astype(float)", ADD),
    reciprocal: ("(1 / {0})", UNARY),  # once, then multiplied by (Keras's order)
    masked: ("np.where({0}, {1}, {2})", 0),  # attention's masks
}


#: the runtime kernels the printed source may call, by name (nnmath.kernels)
KERNELS = ("window", "reduce_window", "argmax_over", "contract", "einsum")

#: node kinds the printer lowers that are not functions a formula calls
STRUCTURE = {
    "Add",
    "Mul",
    "Pow",
    "And",
    "Integer",
    "Rational",
    "Float",
    "NumberSymbol",
    "Indexed",
    "Symbol",
    "NegativeInfinity",
    "Relational",
    "Piecewise",
    "Sum",
    "call",
    "Mul_terms",
}


def _tuple(items) -> str:
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _paren(t: Term, at_least: int) -> str:
    return t.code if t.prec >= at_least else f"({t.code})"


#: an einsum spec as the lowering prints it: ``'dha,nrd->nhar'``
_SPEC = re.compile(r"'([a-z,]+->[a-z]*)'")


def _relabelled(match: re.Match) -> str:
    letters: dict[str, str] = {}
    spec = "".join(
        c if c in ",->" else letters.setdefault(c, string.ascii_lowercase[len(letters)])
        for c in match.group(1)
    )
    return f"'{spec}'"


def array_key(code: str) -> str:
    """What ``code`` computes, whatever its summation indices are called: each
    einsum spec's letters renamed in order of appearance.  An einsum means the
    same under any one-to-one renaming of its own letters (another call's letters
    are its own), so ``einsum('dha,nrd->nhar', W_k, y)`` and ``einsum('dha,nud->
    nhau', W_k, y)`` (K read under two dummy indices) are one array, computed
    once."""
    return _SPEC.sub(_relabelled, code)


#: one read of :func:`~nnmath.kernels.window`: (axis, (steps…), …
_WINDOW_READ = re.compile(r"\(\d+, \(([-\d, ]*)\), \(")


def _sliced_at_most(t: Term) -> bool:
    """Is ``t`` an array, or one window of one that only slices it (each read
    one positive step along its axis: an LSTM gate's columns of the kernel)?
    Such a view goes to ``@`` as it is; a window that turns an axis into
    several (a convolution's) goes to :func:`~nnmath.kernels.contract`."""
    if "window(" not in t.code:
        return True
    if not t.code.startswith("window(") or t.code.count("window(") > 1:
        return False
    steps = _WINDOW_READ.findall(t.code)
    return bool(steps) and all(
        len(parts := [p for p in st.split(",") if p.strip()]) == 1 and int(parts[0]) > 0
        for st in steps
    )


@lru_cache(maxsize=4096)
def _affine(idx: sp.Expr, order: tuple) -> tuple[tuple, tuple, sp.Expr, int]:
    """idx = (offset + Σ steps·syms) / den over the indices ``order`` names,
    with integer steps and den (kept: each lowering pass reads the same
    indices again, and SymPy's expand and together are slow)."""
    num, den = sp.fraction(sp.together(sp.expand(idx)))
    num = sp.expand(num)
    syms = [s for s in order if num.has(s)]
    steps = [num.coeff(s) for s in syms]
    offset = sp.expand(num - sum(st * s for st, s in zip(steps, syms)))
    if not (den.is_Integer and all(st.is_Integer for st in steps)) or offset.has(*syms):
        raise LoweringError(f"index {idx} is not affine with integer steps")
    if den < 0:
        den, steps, offset = -den, [-st for st in steps], -offset
    return tuple(syms), tuple(int(st) for st in steps), offset, int(den)


def _computes(t: Term) -> bool:
    """Code that does work worth keeping: a call, a reduction, a product."""
    return t.prec != ATOM and ("(" in t.code or "@" in t.code)


class NumpyLowering:
    def __init__(
        self,
        formula: Formula,
        first: dict | None = None,
        shared: frozenset = frozenset(),
        common: NumpyLowering | None = None,
    ):
        self.formula = formula
        #: the first lowering's Term per (node, fill), or None in the first one
        self.first = first
        #: code the first lowering printed twice or more: computed once, named
        self.shared = shared
        self.printed: dict[tuple, Term] = {}
        #: how often each code is printed (the first lowering) or read (others)
        self.uses: collections.Counter = collections.Counter()
        self.names: dict[str, str] = {}
        self.steps: list[str] = []  # ``name = code``, each before its readers
        self.reserved = {
            "np",
            "expit",
            formula.name,
            *KERNELS,
            *formula.input_names,
            *formula.dim_symbols,
            *formula.constants,
        }
        if common is not None:  # one function for several formulas: one set of
            # named steps, each computed once for all of them (lower_together)
            self.uses, self.names, self.steps = common.uses, common.names, common.steps
            common.reserved |= self.reserved
            self.reserved = common.reserved
        self.inputs = {i.name: i for i in formula.inputs}
        self.order: list[sp.Symbol] = list(formula.indices)
        #: index symbol → its extent, as an expression of the dimensions
        self.extent: dict[sp.Symbol, sp.Expr] = {
            s: formula.dim_symbols[d]
            for s, d in zip(formula.indices, formula.output_shape)
        }
        for node in nodes(formula.expr):
            if isinstance(node, (sp.Sum, MaxShift, Maximum, FirstArgMax)):
                for k, _, hi in node.limits:
                    if k not in self.order:
                        self.order.append(k)
                    self.extent.setdefault(k, hi + 1)
        if common is not None:
            # intermediate arrays in the first formula's layout: ∂L/∂b = Σ_n δ^z
            # then reads the δ^z the other gradients compute, not its transpose
            # (the indices both use, in the first's order; the others stay put)
            first = {s: i for i, s in enumerate(common.order)}
            slots = [k for k, s in enumerate(self.order) if s in first]
            both = sorted((self.order[k] for k in slots), key=first.__getitem__)
            for k, s in zip(slots, both):
                self.order[k] = s
        self.axis_dim = self._axis_dims(formula.expr)
        self.fill = "0.0"  # what an absent read is inside the current reduction
        self.offsets: set[sp.Symbol] = set()  # indices that move a window over an input
        self.dims_used: set[str] = set()
        self.consts_used: set[str] = set()
        letters = iter(string.ascii_lowercase)
        self.letter: dict[sp.Symbol, str] = {}
        for s in self.order:  # prefer the index's own name as its einsum letter
            name = (
                s.name
                if len(s.name) == 1 and s.name not in self.letter.values()
                else None
            )
            self.letter[s] = name or next(
                c for c in letters if c not in self.letter.values()
            )

    def _axis_dims(self, expr: sp.Expr) -> dict[sp.Symbol, str]:
        found: dict[sp.Symbol, str] = {}
        # an index reading a derived axis may run over part of it (u < H of
        # G = 4H, see _part_of): the other axes it reads say how far it runs
        derived = {s.name for s, _ in self.formula.derived}
        partly: dict[sp.Symbol, str] = {}
        for node in nodes(expr):
            if isinstance(node, sp.Indexed):
                inp = self.inputs.get(str(node.base))
                if inp is None:
                    raise LoweringError(
                        f"{self.formula.name}: {node.base} is not an input"
                    )
                for idx, d in zip(node.indices, inp.shape):
                    if idx.is_Symbol:
                        (partly if d in derived else found).setdefault(idx, d)
        return {**partly, **found}

    # -- dispatch -----------------------------------------------------------
    def lower(self, e: sp.Expr) -> Term:
        """``e`` lowered; code that a first lowering printed more than once
        (``shared``) is computed once, into a local variable, and named
        wherever else it is read (see :func:`lower`)."""
        key = (e, self.fill)  # an absent read is filled by context: part of it
        if self.first is None:  # the first lowering: record what it prints
            t = self._dispatch(e)
            self.printed.setdefault(key, t)
            if _computes(t):
                self.uses[array_key(t.code)] += 1
            return t
        before = self.first.get(key)
        same = None if before is None else array_key(before.code)
        if same not in self.shared:
            return self._dispatch(e)
        # the same code computes the same array, whichever node printed it (e^(z_i
        # − max z) and e^(z_k − max z)); each reads its axes by its own labels
        self.uses[same] += 1
        name = self.names.get(same)
        if name is None:
            t = self._dispatch(e)
            name = next(
                n
                for n in (f"t{k}" for k in itertools.count(1))
                if n not in self.reserved
            )
            self.reserved.add(name)
            self.names[same] = name
            self.steps.append(f"{name} = {t.code}")
        return Term(name, before.labels, ATOM)

    def _dispatch(self, e: sp.Expr) -> Term:
        for cls in type(e).__mro__:
            method = getattr(self, f"_lower_{cls.__name__}", None)
            if method is not None:
                return method(e)
        if type(e) in FUNCTIONS or isinstance(e, tuple(FUNCTIONS)):
            return self._lower_call(e)
        known = sorted(
            {k.__name__ for k in FUNCTIONS}
            | {m[len("_lower_") :] for m in dir(self) if m.startswith("_lower_")}
            - STRUCTURE
        )
        raise LoweringError(
            f"no NumPy lowering for {type(e).__name__} (in {e}); lowered: "
            + ", ".join(known)
        )

    def _sorted(self, labels) -> tuple[sp.Symbol, ...]:
        return tuple(sorted(set(labels), key=self.order.index))

    def align(self, t: Term, target: tuple[sp.Symbol, ...]) -> str:
        """Code for ``t`` with its axes in ``target`` order, broadcastable to it."""
        if not t.labels or t.labels == target:
            return t.code
        present = [s for s in target if s in t.labels]
        code = t.code
        perm = [t.labels.index(s) for s in present]
        if perm != sorted(perm):
            code = f"{_paren(t, CALL)}.transpose({', '.join(map(str, perm))})"
        first = target.index(present[0])
        tail = target[first:]
        if len(tail) != len(present):  # a missing axis between present ones
            code = (
                f"{code if code != t.code else _paren(t, CALL)}["
                + ", ".join(":" if s in t.labels else "None" for s in tail)
                + "]"
            )
        return code

    # -- leaves -------------------------------------------------------------
    def _lower_Indexed(self, e: sp.Indexed) -> Term:
        inp = self.inputs[str(e.base)]
        flat = self._reshape(e, inp)
        if flat is not None:
            return flat
        axes = list(enumerate(zip(e.indices, inp.shape)))
        strict = "" if inp.name in self.formula.padded else str(e)
        return self._read(str(e.base), axes, self.fill, strict)

    def _read(self, code: str, axes: list, fill: str, strict: str = "") -> Term:
        """``code`` read at the given (axis, (index, dim)) pairs, affine ones
        windowed."""
        labels: list[sp.Symbol] = []
        reads = []
        for axis, (idx, dim) in axes:
            if idx.is_Symbol and not self._part_of(idx, dim):
                labels.append(idx)
                continue
            syms, steps, offset, den = self._affine(idx)
            self.offsets.update(syms)
            counts = _tuple(self.lower(self.extent[s]).code for s in syms)
            reads.append(
                f"({axis}, {_tuple(map(str, steps))}, {counts}, "
                f"{self.lower(offset).code}{f', {den}' if den != 1 else ''})"
            )
            labels += syms
        if reads:
            tail = f", fill={fill}" if fill != "0.0" and not strict else ""
            tail += f", strict={strict!r}" if strict else ""
            code = f"window({code}, {', '.join(reads)}{tail})"
        if len(set(labels)) != len(labels):
            raise LoweringError(
                f"repeated index in {code} (a diagonal) is not supported"
            )
        return Term(code, tuple(labels), CALL if "(" in code else ATOM)

    def _part_of(self, idx: sp.Symbol, dim: str) -> bool:
        """Does ``idx`` run over only the first part of an axis: u < H reading
        the kernel's G = 4H gates side by side (the LSTM's input gate)?  Only
        a derived axis can be longer than an index that reads it whole."""
        derived = {s.name for s, _ in self.formula.derived}
        extent = self.extent.get(idx)
        return (
            dim in derived
            and extent is not None
            and extent != self.formula.dim_symbols[dim]
        )

    def _affine(self, idx: sp.Expr) -> tuple[list[sp.Symbol], list[int], sp.Expr, int]:
        """idx = (offset + Σ steps·syms) / den, with integer steps and den."""
        syms, steps, offset, den = _affine(idx, tuple(self.order))
        return list(syms), list(steps), offset, den

    def _reshape(self, e: sp.Indexed, inp) -> Term | None:
        """x[n, a(k), b(k), c(k)] with (a, b, c) the row-major digits of k, or
        g[n, (a·B + b)·C + c], the row-major position of (a, b, c): a reshape."""
        if all(i.is_Symbol for i in e.indices[:-1]) and not e.indices[-1].is_Symbol:
            syms = [s for s in self.order if e.indices[-1].has(s)]
            sizes = [self.extent[s] for s in syms]
            if (
                len(syms) > 1
                and sp.expand(e.indices[-1] - row_major_index(syms, sizes)) == 0
            ):
                shape = [f"{e.base}.shape[{a}]" for a in range(len(e.indices) - 1)]
                shape += [self.lower(size).code for size in sizes]
                return Term(
                    f"{e.base}.reshape({', '.join(shape)})",
                    (*e.indices[:-1], *syms),
                    CALL,
                )
        for lead in range(len(e.indices) - 1):
            tail = e.indices[lead:]
            ks = set().union(*(i.free_symbols for i in tail)) & set(self.order)
            if len(ks) != 1 or all(i.is_Symbol for i in tail):
                continue
            (k,) = ks
            dims = tuple(self.formula.dim_symbols[d] for d in inp.shape[lead:])
            if tuple(tail) == row_major_digits(k, dims):
                head = e.indices[:lead]
                if not all(i.is_Symbol for i in head):
                    return None
                # the size itself, not -1, which NumPy cannot infer for an empty batch
                shape = ", ".join(
                    [f"{e.base}.shape[{a}]" for a in range(lead)]
                    + [self.lower(self.extent[k]).code]
                )
                return Term(f"{e.base}.reshape({shape})", (*head, k), CALL)
        return None

    def _lower_Symbol(self, e: sp.Symbol) -> Term:
        if e in self.extent and e not in self.formula.dim_symbols.values():
            # an index used as a number (a position in a window): 0, 1, …, extent − 1
            return Term(f"np.arange({self.lower(self.extent[e]).code})", (e,), CALL)
        if e.name in self.inputs:
            return Term(e.name, ())
        if e.name in self.formula.constants:
            self.consts_used.add(e.name)
            return Term(e.name, ())
        if e.name in self.formula.dim_symbols:
            self.dims_used.add(e.name)
            return Term(e.name, ())
        raise LoweringError(f"free symbol {e} is neither an input nor a dimension")

    def _lower_Integer(self, e) -> Term:
        return Term(str(int(e)), (), ATOM if e >= 0 else UNARY)

    def _lower_Rational(self, e) -> Term:
        return Term(f"{e.p} / {e.q}", (), MUL)

    def _lower_Float(self, e) -> Term:
        return Term(repr(float(e)), (), ATOM if e >= 0 else UNARY)

    def _lower_NumberSymbol(self, e) -> Term:
        return Term(repr(float(e)), ())

    def _lower_NegativeInfinity(self, e) -> Term:
        # a masked logit (attention's causal mask): e^{−∞} = 0 is its weight
        return Term("-np.inf", (), UNARY)

    # -- element-wise -------------------------------------------------------
    def _lower_Add(self, e: sp.Add) -> Term:
        # positive terms first and negated ones subtracted: ``z - m``, not ``-m + z``
        args = sorted(e.args, key=lambda a: a.could_extract_minus_sign())
        signed = [(-a, "-") if a.could_extract_minus_sign() else (a, "+") for a in args]
        terms = [self.lower(a) for a, _ in signed]
        target = self._sorted(itertools.chain.from_iterable(t.labels for t in terms))
        fused = [
            k
            for k, ((_, op), t) in enumerate(zip(signed, terms))
            # one contract(...) call only: a sum that begins with one
            # (contract(xW) + contract(hU)) is not a call to add into
            if op == "+"
            and t.prec == CALL
            and t.code.startswith("contract(")
            and ", add=" not in t.code  # (xW + b₀) + hU: b₀ is added already
            and t.labels == target
        ]
        if len(fused) == 1 and len(terms) > 1:  # a bias: added inside the blocked GEMM
            k = fused[0]
            rest = self.lower(
                sp.Add(
                    *(
                        a if op == "+" else -a
                        for j, (a, op) in enumerate(signed)
                        if j != k
                    )
                )
            )
            return Term(
                f"{terms[k].code[:-1]}, add={self.align(rest, target)})", target, CALL
            )
        code = ""
        for (a, op), t in zip(signed, terms):
            part = self.align(t, target)
            # a sum written unevaluated inside a sum is computed as written:
            # x·inv + (β − μ·inv) is not (x·inv + β) − μ·inv in floating point
            nested = op == "+" and code and isinstance(a, sp.Add)
            if (op == "-" or nested) and t.prec <= ADD and part == t.code:
                part = f"({part})"
            code = (
                (f"-{part}" if op == "-" else part)
                if not code
                else f"{code} {op} {part}"
            )
        return Term(code, target, ADD)

    def _lower_Mul(self, e: sp.Mul) -> Term:
        num, den = [], []
        sign = ""
        for f in e.args:
            if f == -1:
                sign = "-"
            elif f.is_Pow and f.exp.is_Number and f.exp < 0:
                den.append(sp.Pow(f.base, -f.exp))
            elif f.is_Rational and not f.is_Integer and f.p == 1:
                den.append(sp.Integer(f.q))
            else:
                num.append(f)
        nt = [self.lower(f) for f in num] or [Term("1", ())]
        dt = [self.lower(f) for f in den]
        target = self._sorted(itertools.chain.from_iterable(t.labels for t in nt + dt))
        # a product written unevaluated inside a product (x·(rsqrt(v)·γ)) is
        # computed as written, not left to right
        code = " * ".join(
            self.align(t, target)
            if t.prec > MUL or (t.prec == MUL and not (k and isinstance(f, sp.Mul)))
            else f"({self.align(t, target)})"
            for k, (f, t) in enumerate(zip(num or [None], nt))
        )
        for t in dt:
            a = self.align(t, target)
            code += f" / {a}" if t.prec > MUL else f" / ({a})"
        return Term(sign + code, target, UNARY if sign else MUL)

    def _lower_Pow(self, e: sp.Pow) -> Term:
        if e.exp.is_Number and e.exp < 0:
            return self._lower_Mul(sp.Mul(1, e, evaluate=False))
        base, exp = self.lower(e.base), self.lower(e.exp)
        target = self._sorted(base.labels + exp.labels)
        if exp.code == "2":
            return Term(f"{_paren(base, ATOM)} ** 2", target, POW)
        return Term(f"{_paren(base, ATOM)} ** {_paren(exp, ATOM)}", target, POW)

    def _lower_exp(self, e) -> Term:
        return self._lower_call(e)

    def _lower_call(self, e) -> Term:
        template, least = next(v for k, v in FUNCTIONS.items() if isinstance(e, k))
        return self._apply(template, e.args, least)

    def _apply(self, template: str, args, least: int = 0, prec: int = CALL) -> Term:
        """``template`` over the lowered ``args``, aligned to their joint labels;
        an argument of precedence below ``least`` is parenthesised."""
        terms = [self.lower(a) for a in args]
        target = self._sorted(itertools.chain.from_iterable(t.labels for t in terms))
        codes = [self.align(t, target) for t in terms]
        codes = [
            f"({c})" if t.prec < least and c == t.code else c
            for c, t in zip(codes, terms)
        ]
        return Term(template.format(*codes), target, prec)

    def _lower_sech(self, e) -> Term:
        # cosh overflows to inf beyond |z| ≈ 710, and 1/inf = 0 is sech's limit
        return self._apply("1 / np.cosh({0})", e.args, prec=MUL)

    def _lower_Heaviside(self, e) -> Term:
        # SymPy's Heaviside(x) is Heaviside(x, 1/2): H0 is the value at 0
        return self._apply("np.heaviside({0}, {1})", e.args)

    def _lower_KroneckerDelta(self, e) -> Term:
        # δ_ij over index labels: np.arange(I)[:, None] == np.arange(J)
        return self._apply("np.equal({0}, {1}).astype(float)", e.args)

    def _lower_Max(self, e) -> Term:
        return self._fold("np.maximum", e.args)

    def _lower_Min(self, e) -> Term:
        return self._fold("np.minimum", e.args)

    def _fold(self, ufunc: str, args) -> Term:
        """max(a, b, c) as np.maximum(np.maximum(a, b), c): any number of arguments."""
        template = "{0}"
        for k in range(1, len(args)):
            template = f"{ufunc}({template}, {{{k}}})"
        return self._apply(template, args)

    def _lower_Piecewise(self, e: sp.Piecewise) -> Term:
        *branches, (last, cond) = e.args
        if cond != sp.true:
            raise LoweringError("a Piecewise needs an otherwise-branch (True)")
        t = self.lower(last)
        for value, c in reversed(branches):
            v, ct = self.lower(value), self.lower(c)
            target = self._sorted(v.labels + ct.labels + t.labels)
            t = Term(
                f"np.where({self.align(ct, target)}, {self.align(v, target)}, "
                f"{self.align(t, target)})",
                target,
                CALL,
            )
        return t

    def _lower_Relational(self, e) -> Term:
        a, b = self.lower(e.lhs), self.lower(e.rhs)
        target = self._sorted(a.labels + b.labels)
        return Term(
            f"{self.align(a, target)} {e.rel_op} {self.align(b, target)}",
            target,
            ADD - 1,
        )

    def _lower_And(self, e) -> Term:
        ts = [self.lower(a) for a in e.args]
        target = self._sorted(itertools.chain.from_iterable(t.labels for t in ts))
        return Term(
            " & ".join(f"({self.align(t, target)})" for t in ts), target, ADD - 2
        )

    # -- reductions ---------------------------------------------------------
    def _check_full_range(self, lim) -> sp.Symbol:
        k, lo, hi = lim
        d = self.axis_dim.get(k)
        if d is not None:
            if lo != 0 or sp.simplify(hi - (self.formula.dim_symbols[d] - 1)) != 0:
                raise LoweringError(f"sum over {k} must run 0..{d}-1, not {lo}..{hi}")
        elif lo != 0 or not (hi + 1).free_symbols <= set(
            self.formula.dim_symbols.values()
        ):
            raise LoweringError(
                f"index {k} must run from 0 to a size − 1, not {lo}..{hi}"
            )
        return k

    def _side_by_side(self, e: sp.Sum) -> Term | None:
        """Σ_u (δ_{k,u}·a[…u…] + δ_{k,H+u}·b[…u…] + …), blocks of width H
        placed side by side along k (an LSTM's [h′ | c′], its four gates'
        gradients), as ``np.concatenate([a, b, …])`` along k: the sum of masks
        would build and add m arrays m times larger.  Only when the blocks are
        exactly 0, H, …, (m − 1)H, each of full shape, and k runs over m·H;
        anything else is None (lowered as any sum)."""
        if not isinstance(e.function, sp.Add):
            return None
        if len(e.limits) > 1:  # Σ_n Σ_u …: the blocks inside, the other sums out
            for i, lim in enumerate(e.limits):
                if self._blocks(e.function, lim[0]) is None:
                    continue
                inner = self._side_by_side(sp.Sum(e.function, lim))
                rest = [
                    self._check_full_range(other)
                    for other in e.limits[:i] + e.limits[i + 1 :]
                ]
                if inner is None or any(k not in inner.labels for k in rest):
                    return None
                axes = [inner.labels.index(k) for k in rest]
                out = tuple(s for s in inner.labels if s not in rest)
                axis = str(axes[0]) if len(axes) == 1 else _tuple(map(str, axes))
                return Term(f"{inner.code}.sum(axis={axis})", out, CALL)
            return None
        u = self._check_full_range(e.limits[0])
        width = self.extent.get(u)
        found = self._blocks(e.function, u)
        if width is None or found is None:
            return None
        at, blocks = found
        derived = dict(self.formula.derived)
        total = self.extent.get(at)
        if total is None or sorted(blocks) != list(range(len(blocks))):
            return None
        if sp.simplify((total - len(blocks) * width).subs(derived)) != 0:
            return None
        terms = [self.lower(blocks[q]) for q in range(len(blocks))]
        target = self._sorted(itertools.chain.from_iterable(t.labels for t in terms))
        if u not in target or at in target:
            return None
        if any(set(t.labels) != set(target) for t in terms):
            return None  # a block not of full shape would not concatenate
        codes = ", ".join(self.align(t, target) for t in terms)
        labels = tuple(at if s == u else s for s in target)
        return Term(f"np.concatenate([{codes}], axis={target.index(u)})", labels, CALL)

    def _blocks(
        self, function: sp.Expr, u: sp.Symbol
    ) -> tuple[sp.Symbol, dict[int, sp.Expr]] | None:
        """(k, {q: the block at qH}) if ``function`` is Σ_q δ_{k, qH+u}·block_q
        over u of extent H, else None."""
        width = self.extent.get(u)
        if width is None or not isinstance(function, sp.Add):
            return None
        blocks: dict[int, sp.Expr] = {}
        at = None
        for term in function.args:
            factors = sp.Mul.make_args(term)
            deltas = [f for f in factors if isinstance(f, sp.KroneckerDelta)]
            if len(deltas) != 1:
                return None
            a, b = deltas[0].args
            if a.has(u) == b.has(u):
                return None
            k, offset = (b, a - u) if a.has(u) else (a, b - u)
            if not k.is_Symbol or (at is not None and k != at) or offset.has(u):
                return None
            at = k
            q = sp.simplify(offset / width)
            if not q.is_Integer or int(q) in blocks:
                return None
            blocks[int(q)] = sp.Mul(*(f for f in factors if f is not deltas[0]))
        return at, blocks

    def _lower_Sum(self, e: sp.Sum) -> Term:
        blocks = self._side_by_side(e)
        if blocks is not None:
            return blocks
        reduced = [self._check_full_range(lim) for lim in e.limits]
        factors = sp.Mul.make_args(e.function)
        arrays = [f for f in factors if f.has(*reduced)]
        scalars = [f for f in factors if not f.has(*reduced)]
        if len(arrays) >= 2:
            terms = [self.lower(f) for f in arrays]
            labels = self._sorted(
                itertools.chain.from_iterable(t.labels for t in terms)
            )
            out = tuple(s for s in labels if s not in reduced)
            spec = ",".join("".join(self.letter[s] for s in t.labels) for t in terms)
            spec += "->" + "".join(self.letter[s] for s in out)
            codes = ", ".join(t.code for t in terms)
            product = self._matmul(terms, reduced, out)
            if product is not None:
                body = product
            elif len(terms) == 2 and any("window(" in t.code for t in terms):
                # a strided window view: im2col block by block into GEMM
                body = Term(f"contract('{spec}', {codes})", out, CALL)
            else:
                # einsum(), not np.einsum(optimize=True), which would search for
                # a contraction path on every call: the kernel finds it once per
                # shape signature and hands it to np.einsum (BLAS where it can)
                body = Term(f"einsum('{spec}', {codes})", out, CALL)
        else:
            t = self.lower(sp.Mul(*arrays)) if arrays else None
            if t is None or any(k not in t.labels for k in reduced):
                raise LoweringError(
                    f"sum over {reduced} of a term without that index: {e}"
                )
            axes = [t.labels.index(k) for k in reduced]
            axis = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
            out = tuple(s for s in t.labels if s not in reduced)
            if set(reduced) <= self.offsets:  # a sum over a window (average pooling)
                body = Term(
                    f"reduce_window({t.code}, {_tuple(map(str, axes))}, np.add)",
                    out,
                    CALL,
                )
            else:
                body = Term(f"{_paren(t, CALL)}.sum(axis={axis})", out, CALL)
        if scalars:
            return self._lower_Mul_terms(scalars, body)
        return body

    def _matmul(self, terms: list[Term], reduced: list, out: tuple) -> Term | None:
        """A sum over one index of a product of two vectors or matrices that
        share only that index, as ``a @ b``: a matrix product is what NumPy
        calls cheapest (one BLAS call, no planning), 4x faster than einsum on a
        dense layer of a batch of 32.  Anything else is None."""
        if len(terms) != 2 or len(reduced) != 1:
            return None
        (k,) = reduced
        a, b = terms
        if any(
            k not in t.labels or len(t.labels) > 2 or not _sliced_at_most(t)
            for t in terms
        ):
            return None
        free = [tuple(s for s in t.labels if s != k) for t in terms]
        if set(free[0]) & set(free[1]):
            return None  # an index in both and the output: a batch, not a GEMM
        if not free[0] and free[1]:
            (a, b), free = (b, a), free[::-1]  # the matrix first: x @ w, not w @ x.T
        elif free[0] and free[1]:
            if self.order.index(free[1][0]) < self.order.index(free[0][0]):
                (a, b), free = (b, a), free[::-1]  # the result's axes in index order
        # the left operand as (free, k), the right as (k, free)
        left = _paren(a, POW) if a.labels[-1] == k else f"{_paren(a, CALL)}.T"
        right = _paren(b, POW) if b.labels[0] == k else f"{_paren(b, CALL)}.T"
        return Term(f"{left} @ {right}", free[0] + free[1], MATMUL)

    def _lower_Mul_terms(self, scalars, body: Term) -> Term:
        coeff = self.lower(sp.Mul(*scalars))
        target = self._sorted(coeff.labels + body.labels)
        # both aligned: a factor over n before a sum over n, j needs [:, None]
        scale = self.align(coeff, target)
        scale = f"({scale})" if coeff.prec < MUL and scale == coeff.code else scale
        summed = self.align(body, target)
        summed = f"({summed})" if body.prec < MUL and summed == body.code else summed
        return Term(f"{scale} * {summed}", target, MUL)

    def _lower_MaxShift(self, e: MaxShift) -> Term:
        (lim,) = e.limits
        k = self._check_full_range(lim)
        t = self.lower(e.function)
        out = tuple(s for s in t.labels if s != k)
        # keepdims is not needed: alignment re-inserts the axis by label
        return Term(f"{_paren(t, CALL)}.max(axis={t.labels.index(k)})", out, CALL)

    # -- windows --------------------------------------------------------------
    def _windowed(self, e) -> tuple[Term, str]:
        """The reduced term with absent reads at the dtype's lowest value (as in
        TensorFlow), and its reduced axes."""
        reduced = [self._check_full_range(lim) for lim in e.limits]
        outer, self.fill = self.fill, "'lowest'"
        try:
            t = self.lower(e.function)
        finally:
            self.fill = outer
        if any(k not in t.labels for k in reduced):
            raise LoweringError(
                f"window over {reduced} of a term without that index: {e}"
            )
        axes = tuple(t.labels.index(k) for k in reduced)
        out = tuple(s for s in t.labels if s not in reduced)
        return Term(_paren(t, CALL), out, CALL), str(axes[0]) if len(
            axes
        ) == 1 else str(axes)

    def _lower_Maximum(self, e: Maximum) -> Term:
        t, axes = self._windowed(e)
        axes = axes if axes.startswith("(") else f"({axes},)"
        return Term(f"reduce_window({t.code}, {axes}, np.maximum)", t.labels, CALL)

    def _lower_FirstArgMax(self, e: FirstArgMax) -> Term:
        t, axes = self._windowed(e)
        axes = axes if axes.startswith("(") else f"({axes},)"
        return Term(f"argmax_over({t.code}, {axes})", t.labels, CALL)

    def _lower_present(self, e: present) -> Term:
        """A mask of the real cells: a window over ones shaped like the affine axes."""
        read = e.args[0]
        inp = self.inputs[str(read.base)]
        axes = [
            (idx, d) for idx, d in zip(read.indices, inp.shape) if not idx.is_Symbol
        ]
        shape = _tuple(self.lower(self.formula.dim_symbols[d]).code for _, d in axes)
        return self._read(
            f"np.ones({shape}, {read.base}.dtype)", list(enumerate(axes)), "0.0"
        )


def _lowered(
    formulas: Sequence[Formula],
    first: Sequence[dict] | None = None,
    shared: frozenset = frozenset(),
) -> tuple[list[NumpyLowering], list[Term]]:
    lows: list[NumpyLowering] = []
    for k, formula in enumerate(formulas):
        # all of them before any lowers: a local variable must avoid every
        # formula's inputs, sizes and constants, not only those seen so far
        lows.append(
            NumpyLowering(
                formula,
                None if first is None else first[k],
                shared,
                lows[0] if lows else None,
            )
        )
    bodies: list[Term] = []
    for formula, low in zip(formulas, lows):
        try:
            bodies.append(low.lower(formula.expr))
        except LoweringError as exc:
            raise LoweringError(f"{formula.name}: {exc}") from None
    return lows, bodies


def _passes(formulas: Sequence[Formula]) -> tuple[list[NumpyLowering], list[Term]]:
    """The lowerings of ``formulas``, code printed twice or more (in any of
    them) computed once: see :func:`lower`."""
    firsts, bodies = _lowered(formulas)
    printed = [low.printed for low in firsts]
    shared = frozenset(code for code, k in firsts[0].uses.items() if k > 1)
    lows = firsts
    while shared:
        lows, bodies = _lowered(formulas, printed, shared)
        still = frozenset(code for code, k in lows[0].uses.items() if k > 1)
        if still == shared:
            break
        shared = still
    return lows, bodies


def _output(formula: Formula, low: NumpyLowering, body: Term) -> str:
    """The code of ``body`` as ``formula``'s output: its axes in the output's
    order, broadcast along the axes it is constant on."""
    if not set(body.labels) <= set(formula.indices):
        raise LoweringError(
            f"{formula.name}: expression has indices {body.labels}, "
            f"output has {formula.indices}"
        )
    code = low.align(body, tuple(formula.indices))
    if set(body.labels) != set(formula.indices):
        # constant along some output axes (a claim g[n]/(H·W) about x[n, h, w])
        shape = _tuple(
            low.lower(formula.dim_symbols[d]).code for d in formula.output_shape
        )
        code = f"np.broadcast_to({code}, {shape})"
    return code


def _compiled(
    name: str,
    formulas: Sequence[Formula],
    lows: list[NumpyLowering],
    returned: str,
) -> Lowered:
    inputs = list(dict.fromkeys(i for f in formulas for i in f.input_names))
    dim_args = tuple(sorted(set().union(*(low.dims_used for low in lows))))
    constants: dict[str, object] = {}
    for f, low in zip(formulas, lows):
        for c in low.consts_used:
            if constants.setdefault(c, f.constants[c]) != f.constants[c]:
                raise LoweringError(
                    f"{name}: the formulas give the constant {c} different values"
                )
    keywords = list(dim_args) + [f"{c}={constants[c]!r}" for c in sorted(constants)]
    args = ", ".join(inputs) + (", *, " + ", ".join(keywords) if keywords else "")
    steps = "".join(f"    {step}\n" for step in lows[0].steps)
    head, body = f"def {name}({args}):\n", f"{steps}    return {returned}\n"
    from scipy.special import expit

    namespace: dict = {
        "np": np,
        "expit": expit,
        **{k: getattr(kernels, k) for k in KERNELS},
    }
    exec(compile(head + body, f"<nnmath lowering of {name}>", "exec"), namespace)
    return Lowered(namespace[name], dim_args, head, body, tuple(formulas))


def prepare() -> None:
    """Import what compiling a lowering needs (scipy.special, 0.13 s), ahead
    of the first: ``verify -j`` calls this before it forks its workers, each
    of which would otherwise import it for itself, once a batch; a command that
    lowers nothing (a verify with every check reused) never pays it."""
    import scipy.special  # noqa: F401


def lower(formula: Formula) -> Lowered:
    """Lower a formula to NumPy source and compile it.

    Code the printed expression would compute more than once is computed once,
    into a local variable (``t1 = np.exp(z - z.max(axis=1)[:, None])``, read
    above and below softmax's fraction bar): the same operations in the same
    order, so the same numbers, without the repeats.  A first lowering prints
    everything in full and counts each piece of code; a second names those
    printed twice; where a named piece held the only repeats of another (max z
    inside e^(z − max z)), a third names only what is still read twice.
    """
    lows, bodies = _passes([formula])
    return _compiled(
        formula.name, [formula], lows, _output(formula, lows[0], bodies[0])
    )


def lower_together(name: str, formulas: Sequence[Formula]) -> Lowered:
    """Several formulas in one function, which returns their values as a tuple,
    in order: code that any two of them print is computed once for all (an LSTM
    cell's five gradients each recompute its four gates from x, h and the
    weights; together, the gates are computed once).  Intermediate arrays take
    the first formula's layout, so that ∂L/∂b = Σ_n δ^z reads the δ^z the
    others read rather than its transpose.  Each value is computed by the same
    operations as :func:`lower` computes it alone; a sum over an axis the
    layouts order differently adds the same terms in another order (∂L/∂b of
    the LSTM: at most 20 ulps of its largest entry, measured at N = 1000), and
    every other value is the same number.  The function takes every formula's
    inputs, each once, in order of first appearance."""
    if not formulas:
        raise ValueError(f"{name}: no formulas to lower together")
    inputs: dict[str, tuple] = {}
    for f in formulas:
        for i in f.inputs:
            if inputs.setdefault(i.name, i.shape) != i.shape:
                raise ValueError(
                    f"{name}: {f.name} declares {i.name} {i.shape_text}, an earlier "
                    f"formula {i.name} with axes {inputs[i.name]}; formulas lowered "
                    "together must agree on every input they share"
                )
    sizes = {d for f in formulas for d in f.dim_symbols}
    if sizes & set(inputs):
        raise ValueError(
            f"{name}: {', '.join(sorted(sizes & set(inputs)))} is an input of one "
            "formula and a size of another"
        )
    lows, bodies = _passes(formulas)
    returned = ", ".join(
        _output(f, low, body) for f, low, body in zip(formulas, lows, bodies)
    )
    return _compiled(name, formulas, lows, f"({returned},)")
