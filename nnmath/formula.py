"""The Formula: one named equation, written once in indexed SymPy form.

Everything else about a formula is derived from ``expr``: its LaTeX, its lowered
NumPy function and source (:mod:`nnmath.lowering`), and the concrete scalar
equations that the symbolic checks differentiate (:mod:`nnmath.checker.symbolic`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Callable

import numpy as np
import sympy as sp
from sympy.concrete.expr_with_limits import ExprWithLimits

from .typeset import latex

__all__ = [
    "Input",
    "Formula",
    "dims",
    "indices",
    "ShapeError",
    "OutOfBounds",
    "defined",
    "where_latex",
]

#: how random test inputs are drawn and how the symbolic instance constrains them
DOMAINS = (
    "real",
    "prob",
    "simplex",
    "onehot",
    "binary",
    "distinct",
    "mask",
    "ids",
    "kernel",
)

#: distinct input shapes a formula remembers as checked (see Formula.numpy)
SIGNATURES = 256
ARRAY = np.ndarray  # exactly: a subclass (np.matrix) is made a plain array


class ShapeError(ValueError):
    """Arrays whose shapes do not fit a formula's shape conventions."""


class OutOfBounds(IndexError):
    """A formula reads an input outside its bounds, and that input is not
    declared padded (``Formula(..., padded=("x",))``)."""

    def __str__(self) -> str:  # IndexError would not quote, but be explicit
        return str(self.args[0])


def out_of_bounds(formula: str, read: str, detail: str, base: str) -> OutOfBounds:
    """The one message for an undeclared read outside an input, wherever found."""
    return OutOfBounds(
        f"{formula + ' ' if formula else ''}reads {read} outside {base}: {detail}; "
        f"a read outside an input "
        f"is an error unless the formula declares it padding "
        f"(padded=({base!r},): such reads add nothing to a sum and never win a max)"
    )


def dims(names: str) -> tuple[sp.Symbol, ...]:
    """Shape symbols (sizes of axes), e.g. ``N, J = dims("N J")``."""
    return sp.symbols(names, integer=True, positive=True)


def indices(names: str) -> tuple[sp.Symbol, ...]:
    """Index symbols that run over an axis, e.g. ``n, j = indices("n j")``."""
    return sp.symbols(names, integer=True, nonnegative=True)


def defined(shown: sp.Expr, where: tuple) -> sp.Expr:
    """``shown`` with each named part of ``where`` ((name, definition), …) put in,
    definitions inside definitions too.

    A part named by an indexed read (``μ[i]``) is defined for every index:
    ``μ[m]`` gets the definition with i renamed m.  The tree is rebuilt as it was
    written: a sum or product written unevaluated (Keras's ``x·inv + (β − μ·inv)``)
    stays one, so the NumPy lowered from the result computes in the written order.
    """
    return _defined(shown, tuple(tuple(part) for part in where))


#: kept: a claim written in parts is put together by its builder, then again by
#: Claim's own check that its rhs is that (0.3 s of building the library)
@lru_cache(maxsize=1024)
def _defined(shown: sp.Expr, where: tuple) -> sp.Expr:
    table: dict = {}
    for name, definition in where:
        key = name.base if isinstance(name, sp.Indexed) else name
        table[key] = (name.indices if isinstance(name, sp.Indexed) else (), definition)

    done: dict = {}  # a part read in several places is rebuilt once per renaming

    def put(e: sp.Basic, rename: dict) -> sp.Basic:
        key = (e, tuple(rename.items()))
        if key not in done:
            done[key] = _put(e, rename)
        return done[key]

    def _put(e: sp.Basic, rename: dict) -> sp.Basic:
        if isinstance(e, sp.Indexed):
            at = tuple(put(k, rename) for k in e.indices)
            if e.base in table:
                names, definition = table[e.base]
                return put(definition, dict(zip(names, at)))
            return e.base[at]
        if e in table:
            return put(table[e][1], {})
        if e.is_Symbol:
            return rename.get(e, e)
        if e.is_Atom or not e.args:
            return e
        args = [put(a, rename) for a in e.args]
        if isinstance(e, (sp.Add, sp.Mul, sp.Pow)):
            return e.func(*args, evaluate=False)
        return e.func(*args)

    return put(shown, {})


def nodes(*exprs: sp.Basic) -> list[sp.Basic]:
    """The nodes of ``exprs`` in preorder, each shared part once (the first
    time it is met): a gradient written in parts reads the same part many
    times, and ``sp.preorder_traversal`` walks it again each time."""
    seen: set = set()
    out: list[sp.Basic] = []
    stack = list(reversed(exprs))
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        out.append(node)
        stack.extend(reversed(node.args))
    return out


def free_symbols(expr: sp.Basic, memo: dict | None = None) -> frozenset:
    """The plain symbols of ``expr.free_symbols`` (no indexed reads), each shared
    subtree walked once: SymPy walks the whole tree, and a gradient written in
    parts reads the same part many times (0.4 s a process over the library's
    formulas and claims, for nothing).  ``memo`` keeps the answers for the
    subtrees between calls."""
    memo = {} if memo is None else memo

    def walk(e: sp.Basic) -> frozenset:
        if e in memo:
            return memo[e]
        if isinstance(e, ExprWithLimits):
            inner = set(walk(e.function))
            for limit in e.limits:
                for bound in limit[1:]:
                    inner |= walk(bound)
            out = frozenset(inner - {limit[0] for limit in e.limits})
        elif type(e).free_symbols is sp.Basic.free_symbols:  # its arguments'
            out = frozenset().union(*map(walk, e.args))
        else:  # a symbol, an indexed read: its own rule
            out = frozenset(s for s in e.free_symbols if s.is_Symbol)
        memo[e] = out
        return out

    return walk(expr)


def where_latex(where: tuple) -> str:
    """``,\\quad μ_i = …,\\quad σ²_i = …``: the named parts after an equation."""
    return "".join(rf",\quad {latex(name)} = {latex(d)}" for name, d in where)


@dataclass(frozen=True)
class Input:
    """A named input: its shape as dimension names, its meaning and its domain."""

    name: str
    shape: tuple[str, ...]
    description: str
    domain: str = "real"

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(
                f"unknown domain {self.domain!r}; valid: {', '.join(DOMAINS)}"
            )

    @property
    def shape_text(self) -> str:
        return "()" if not self.shape else "(" + ", ".join(self.shape) + ")"


@dataclass(frozen=True, eq=False)
class Formula:
    """One equation ``output[indices] = expr``, plus what is needed to check it.

    ``expr`` uses ``IndexedBase`` objects named like the inputs, index symbols for
    the free output indices, and dimension symbols for sizes.  ``tf`` is the
    TensorFlow reference as Python source over the input names: it is printed by
    ``nnbook show`` and evaluated, as written, by the oracle.
    """

    name: str
    title: str
    output: str
    indices: tuple[sp.Symbol, ...]
    expr: sp.Expr
    inputs: tuple[Input, ...]
    tf: str
    params: dict = field(default_factory=dict)
    output_shape: tuple[str, ...] = ()
    #: for element-wise formulas: the same function as a scalar expression of ``var``
    scalar: sp.Expr | None = None
    var: sp.Symbol | None = None
    #: how the scalar function is named in print, e.g. ``\\sigma``
    symbol: str = ""
    #: named constants (Keras's epsilon, a leaky slope) kept symbolic in the
    #: equation and in the proofs, and bound to these values when evaluated
    constants: dict = field(default_factory=dict)
    #: dtype → (rtol, atol) that replaces the default against TensorFlow, with the
    #: reason in ``tf_note`` (e.g. an op that keeps a parameter in float32)
    tf_tolerance: dict = field(default_factory=dict)
    tf_note: str = ""
    #: why the float32 rows against TensorFlow leave out the large-magnitude
    #: case (multi-head attention's logits there are beyond float32's reach);
    #: empty: they do not (fingerprinted only when set, so that adding the
    #: field left every other formula's fingerprint as it was)
    tf_float32_large: str = field(default="", metadata={"fingerprint": "if-set"})
    notes: str = ""
    #: sizes computed from the input sizes (an output height, a padding):
    #: ((symbol, expression of the dimension symbols), …), each after those it uses
    derived: tuple = ()
    #: (case name, sizes of the non-derived dimensions) replacing the default
    #: test shapes, for formulas whose shapes must fit together (kernel ≤ input)
    cases: tuple = ()
    #: raises ValueError, naming the valid choices, on sizes the formula rejects
    check_sizes: Callable[[dict], None] | None = None
    #: for an update rule, what it claims to compute: a
    #: :class:`nnmath.update_rules.KerasRule` (checked against that Keras optimizer),
    #: :class:`nnmath.update_rules.NoKeras` (no counterpart, reported), or None
    keras: object = None
    #: inputs this formula may read outside their bounds (a convolution's zero
    #: border): such a read is padding, adding nothing to a sum and never winning
    #: a max.  A read outside any other input is an error (:class:`OutOfBounds`).
    padded: tuple[str, ...] = ()
    #: raises ValueError, naming what is valid, on input values the formula
    #: rejects (a dropout mask that is not 0/1); called with the arrays by
    #: :meth:`numpy`.  A dataclass, not a closure, keeps the fingerprint stable
    check_inputs: Callable[[dict], None] | None = None
    #: a long right-hand side as it is printed: ``shown`` in named parts (μ, σ²),
    #: each defined in ``where`` ((name, definition), …); then ``expr`` must be
    #: :func:`defined` (shown, where), which is checked here
    shown: sp.Expr | None = None
    where: tuple = ()
    #: a formula with several outputs puts them side by side along its last
    #: axis, in blocks of equal width, each a named part of ``where`` (the LSTM
    #: cell's [h′ | c′], see :mod:`nnmath.library.recurrent`): their names, in
    #: order.  Empty: one output.  (Fingerprinted only when set.)
    outputs: tuple[str, ...] = field(default=(), metadata={"fingerprint": "if-set"})

    def __post_init__(self) -> None:
        if self.shown is not None and defined(self.shown, self.where) != self.expr:
            raise ValueError(
                f"{self.name}: expr is not its shown form with the "
                "definitions of where put in (use formula.defined)"
            )

    # -- the equation -------------------------------------------------------
    @property
    def lhs(self) -> sp.Expr:
        if not self.indices:
            return sp.Symbol(self.output)
        return sp.IndexedBase(self.output)[self.indices]

    @property
    def latex(self) -> str:
        """The typeset equation, ``lhs = rhs``.

        Element-wise functions are shown in their scalar form, e.g.
        ``\\sigma(z) = \\frac{1}{1 + e^{-z}}``, which is how a textbook prints them.
        """
        if self.scalar is not None:
            from .primitives import elementary

            name = self.symbol or rf"\operatorname{{{self.name}}}"
            definition = elementary(self.scalar)
            if isinstance(definition, sp.Function) and definition.args == (self.var,):
                definition = definition.rewrite(
                    sp.exp
                )  # tanh(z) = tanh(z) says nothing
            return rf"{name}\left({latex(self.var)}\right) = {latex(definition)}"
        return self.indexed_latex

    @property
    def indexed_latex(self) -> str:
        """The equation in indexed form, over a batch (in its named parts, if any).

        A formula with several outputs prints its named parts, one equation
        each, in the order they are computed, ending with its outputs."""
        if self.outputs:
            parts = (f"{latex(name)} = {latex(d)}" for name, d in self.where)
            return r",\quad ".join(parts)
        if self.shown is not None:
            return f"{latex(self.lhs)} = {latex(self.shown)}{where_latex(self.where)}"
        return f"{latex(self.lhs)} = {latex(self.expr)}"

    @cached_property
    def constant_symbols(self) -> dict[sp.Symbol, float]:
        by_name = {s.name: s for s in self._free}
        return {by_name[k]: v for k, v in self.constants.items() if k in by_name}

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def input(self, name: str) -> Input:
        for i in self.inputs:
            if i.name == name:
                return i
        raise KeyError(
            f"{self.name} has no input {name!r}; inputs: {', '.join(self.input_names)}"
        )

    @cached_property
    def _free(self) -> frozenset:
        return free_symbols(self.expr)

    @cached_property
    def dim_symbols(self) -> dict[str, sp.Symbol]:
        found = {}
        for s in self._free:
            if (
                s.is_Symbol
                and s.is_positive
                and s.is_integer
                and s.name not in self.constants
            ):
                found[s.name] = s
        for inp in self.inputs:
            for d in inp.shape:
                found.setdefault(d, sp.Symbol(d, integer=True, positive=True))
        for s, _ in self.derived:
            found[s.name] = s
        return found

    @cached_property
    def _derived_sizes(self) -> Callable[[dict], tuple]:
        """All derived sizes as Python integer code in one compiled call: exact (a
        float ⌊7/3 − 4/3⌋ is 0), and cheap (SymPy's subs costs ~100 µs; see
        :func:`nnmath.integers.sizes_function`)."""
        from .integers import sizes_function

        return sizes_function(self.derived)[0]

    def complete_sizes(self, sizes: dict[str, int]) -> dict[str, int]:
        """``sizes`` plus every derived size; ShapeError where they disagree."""
        out = dict(sizes)
        if self.derived:
            for (s, expr), value in zip(self.derived, self._derived_sizes(out)):
                if s.name in out and out[s.name] != value:
                    if sp.sympify(expr).is_Number:  # a fixed size (a GRU's 2 rows)
                        having = [i for i in self.inputs if s.name in i.shape]
                        raise ShapeError(
                            f"{self.name}: an input gives {s.name}={out[s.name]}; "
                            f"valid: {s.name}={value} ("
                            + ", ".join(f"{i.name} {i.shape_text}" for i in having)
                            + ")"
                        )
                    raise ShapeError(
                        f"{self.name}: {s.name} must be {expr} = {value} for "
                        f"these inputs, but an input gives {out[s.name]}"
                    )
                out[s.name] = value
        if self.check_sizes is not None:
            self.check_sizes(out)
        return out

    # -- lowering -----------------------------------------------------------
    @cached_property
    def lowered(self):
        from .lowering import lower

        return lower(self)

    @property
    def source(self) -> str:
        """The generated NumPy source, as a person would read it."""
        return self.lowered.source

    def bind_dims(self, arrays: dict[str, np.ndarray]) -> dict[str, int]:
        """Read every dimension off the arrays; raise ShapeError on any mismatch."""
        return self.bind_shapes({k: np.shape(v) for k, v in arrays.items()})

    def bind_shapes(self, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
        """Read every dimension off the inputs' shapes; ShapeError on any mismatch."""
        missing = [n for n in self.input_names if n not in shapes]
        extra = [n for n in shapes if n not in self.input_names]
        if missing or extra:
            raise ValueError(
                f"{self.name} takes inputs {', '.join(self.input_names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else "")
            )
        bound: dict[str, int] = {}
        source: dict[str, str] = {}
        for inp in self.inputs:
            shape = shapes[inp.name]
            if len(shape) != len(inp.shape):
                raise ShapeError(
                    f"{self.name}: {inp.name} has shape {shape} but must be "
                    f"{inp.shape_text} ({len(inp.shape)} axes); broadcasting between "
                    "inputs is not allowed, reshape it explicitly"
                )
            for d, size in zip(inp.shape, shape):
                if d in bound and bound[d] != size:
                    raise ShapeError(
                        f"{self.name}: {inp.name} has shape {shape}, so {d}={size}, "
                        f"but {source[d]} gives {d}={bound[d]}; inputs must agree on "
                        + ", ".join(f"{i.name} {i.shape_text}" for i in self.inputs)
                    )
                bound[d] = size
                source[d] = f"{inp.name} {shape}"
        return self.complete_sizes(bound) if self.derived or self.check_sizes else bound

    @cached_property
    def _signatures(self) -> dict[tuple, tuple[Callable, dict[str, int]]]:
        """(input names as passed, their shapes) → the lowered function and its
        dimension keywords: the shapes are bound and checked once per signature."""
        return {}

    def _bind(self, arrays: dict[str, np.ndarray], signature: tuple) -> tuple:
        """Bind and check a signature not seen before (every check of
        :meth:`bind_dims`, raising as it does), then remember it."""
        sizes = self.bind_dims(arrays)
        plan = (self.lowered.function, {n: sizes[n] for n in self.lowered.dim_args})
        if len(self._signatures) >= SIGNATURES:  # shapes without end: start over
            self._signatures.clear()
        self._signatures[signature] = plan
        return plan

    def numpy(self, **arrays: np.ndarray) -> np.ndarray:
        """Evaluate the lowered, vectorized NumPy function on real arrays.

        The shapes are checked once per signature (names and shapes, as
        passed), a dictionary look-up after that: a call costs what its NumPy
        costs (``bench/overhead.py``).  Values are checked on every call.
        """
        # the names as passed, then the shape of each input that is an array: an
        # input that is not (a list, a number) leaves the signature too short to
        # be one seen before, and is made an array below
        signature = (*arrays, *[a.shape for a in arrays.values() if type(a) is ARRAY])
        plan = self._signatures.get(signature)
        if plan is None:
            arrays = {k: np.asarray(v) for k, v in arrays.items()}
            signature = (*arrays, *[a.shape for a in arrays.values()])
            plan = self._signatures.get(signature)
            if plan is None:
                plan = self._bind(arrays, signature)
        if self.check_inputs is not None:
            self.check_inputs(arrays)
        function, sizes = plan
        try:
            return function(**arrays, **sizes) if sizes else function(**arrays)
        except OutOfBounds as exc:  # raised by window(), which knows no formula
            raise OutOfBounds(f"{self.name} {exc}") from None

    def prepare(self, **shapes: tuple[int, ...]) -> Callable[..., np.ndarray]:
        """This formula for one shape per input, e.g. ``dense.prepare(x=(32, 64),
        W=(10, 64), b=(10,))``: a function of the inputs (by position, in the
        order of :attr:`input_names`, or by name) for a loop that calls a formula
        many times at the same shapes.

        Every check :meth:`numpy` makes of these shapes is made here, raising as
        it does.  A call then compares each input's shape with its prepared one
        (a few integer comparisons), checks the values (``check_inputs``) and
        runs the lowered NumPy: the same function, so the same numbers.  Any
        other call (another shape, a list, a number) is :meth:`numpy`'s, checked
        and computed as always, with the same errors (:mod:`nnmath.prepared`).
        """
        from .prepared import prepare

        return prepare(self, shapes)

    def split(self, value: np.ndarray) -> dict[str, np.ndarray]:
        """A value of a formula with several outputs, by output name:
        ``{"h'": …, "c'": …}`` from [h′ | c′] (blocks of its last axis)."""
        if not self.outputs:
            return {self.output: value}
        blocks = np.split(np.asarray(value), len(self.outputs), axis=-1)
        return dict(zip(self.outputs, blocks))

    def __repr__(self) -> str:
        return f"Formula({self.name!r})"
