"""SymPy (indexed form) → vectorized NumPy source.

A printer in the spirit of SymPy's NumPyPrinter: one ``_lower_<Node>`` method per
node kind, and anything without a method fails loudly.  Each method returns a
:class:`Term`: a NumPy expression and the index labels of its axes.  Element-wise
nodes align their operands by label (transpose, insert axes, broadcast);
``Sum`` over a product becomes one ``np.einsum`` contraction; ``Sum`` of anything
else and ``MaxShift`` become reductions along the labelled axis.  No Python loop
runs over elements.

Affine indices (``x[n, s*i + d*p - P, …]``) become strided windows: each such
axis is replaced by one view axis per index symbol (:func:`window`), padded
where the read leaves the input and dilated where the index is a fraction
(``g[(u - p)/s]`` reads only where s divides u − p).  A read outside an input
is *absent*: it adds nothing to a sum and never wins a ``Maximum`` (the view is
padded with 0, or the lowest value under a max).  A row-major decomposition of one index
(:func:`~nnmath.primitives.row_major_digits`) is a reshape.

The slow oracle this lowering is checked against is :func:`loop_oracle`, built
from ``sympy.lambdify``'s own loop code on the *elementary* form of the formula.
"""

from __future__ import annotations

import functools
import itertools
import os
import string
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import sympy as sp
from sympy.printing.pycode import MpmathPrinter

from .integers import quotient
from .formula import out_of_bounds
from .primitives import (
    FirstArgMax,
    Maximum,
    MaxShift,
    clip,
    elementary,
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

__all__ = [
    "Lowered",
    "LoweringError",
    "argmax_over",
    "contract",
    "keep_freed_memory",
    "loop_oracle",
    "lower",
    "reduce_window",
    "window",
]

ATOM, CALL, POW, UNARY, MUL, ADD = 100, 90, 60, 50, 40, 30


class LoweringError(NotImplementedError):
    """A SymPy node the lowering has no rule for."""


@dataclass(frozen=True)
class Term:
    code: str
    labels: tuple[sp.Symbol, ...]
    prec: int = ATOM


@dataclass(frozen=True)
class Lowered:
    source: str
    function: Callable
    dim_args: tuple[str, ...]


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
    # stable for |z| up to 1e308; the argument is negated, so it must be atomic
    sigmoid: ("np.exp(-np.logaddexp(0, -{0}))", POW),
    softplus: ("np.logaddexp(0, {0})", 0),  # log(1 + e^z) without overflow
    clip: ("np.clip({0}, {1}, {2})", 0),
    inside: ("(({1} < {0}) & ({0} < {2})).astype(float)", ADD),
    reciprocal: ("(1 / {0})", UNARY),  # once, then multiplied by (Keras's order)
    masked: ("np.where({0}, {1}, {2})", 0),  # attention's masks
}


def _outside(shape: tuple, reads: list) -> list[str]:
    """What each read of ``reads`` (sorted, 5-tuples) does outside ``shape``."""
    bad = []
    for axis, steps, counts, offset, den in reads:
        spans = [st * (c - 1) for st, c in zip(steps, counts)]
        lo = offset + sum(min(0, x) for x in spans)
        hi = offset + sum(max(0, x) for x in spans)
        size = shape[axis]
        if den != 1:
            bad.append(f"fractional indices (÷{den}) on axis {axis}")
        if lo < 0 or hi > (size - 1) * den:
            at = lo if lo < 0 else hi
            at = at if den == 1 else f"{at}/{den}"
            bad.append(f"index {at} on axis {axis} (size {size})")
    return bad


#: node kinds the printer lowers that are not functions a formula calls
STRUCTURE = {"Add", "Mul", "Pow", "And", "Integer", "Rational", "Float", "NumberSymbol",
             "Indexed", "Symbol", "NegativeInfinity", "Relational", "Piecewise", "Sum", "call", "Mul_terms"}


def window(
    a: np.ndarray, *reads: tuple, fill: float | str = 0.0, strict: str = ""
) -> np.ndarray:
    """``a`` read along several axes at once, each at an affine index.

    Each read is ``(axis, steps, counts, offset)`` or ``(axis, steps, counts,
    offset, den)``: the axis is read at (offset + Σ_k steps[k]·t_k) / den for
    t_k < counts[k], and replaced by one axis per t_k (``sliding_window_view``
    generalised).  The result is a strided view of ``a``: nothing is copied
    unless a read leaves ``a`` (padded with ``fill``, all axes in one copy) or
    ``den`` > 1 (``a`` dilated by den − 1 cells of ``fill``).  With ``strict``
    (the read as text, ``"x[n, i + 1]"``), reading outside ``a`` or at a
    fraction raises :class:`~nnmath.formula.OutOfBounds` instead.  Padding every
    axis in one copy matters: padding one axis of a view already windowed
    along another would copy the overlapping windows out, KW times the input.

    ``fill="lowest"`` is the dtype's lowest finite value, TensorFlow's start for a
    max: never above a real cell, and what a window of padding alone yields.
    """
    a = np.asarray(a)
    if fill == "lowest":
        fill = np.finfo(a.dtype if a.dtype.kind == "f" else float).min
    reads = sorted((r[0], r[1], r[2], r[3], r[4] if len(r) > 4 else 1) for r in reads)
    if strict:  # an input not declared padded: a read outside it is an error
        bad = _outside(a.shape, reads)
        if bad:
            raise out_of_bounds("", strict, ", ".join(bad), strict.partition("[")[0])
    if any(den != 1 for *_, den in reads):  # a read at a fraction of an index is absent
        shape, spread = list(a.shape), [slice(None)] * a.ndim
        for axis, *_, den in reads:
            shape[axis] = max(0, (a.shape[axis] - 1) * den + 1)  # an empty axis stays
            spread[axis] = slice(None, None, den)
        dilated = np.full(shape, fill, dtype=a.dtype if a.dtype.kind == "f" else float)
        dilated[tuple(spread)] = a
        a = dilated
    pad, start, plan = [(0, 0)] * a.ndim, [slice(None)] * a.ndim, {}
    for axis, steps, counts, offset, _ in reads:
        flip = tuple(st < 0 for st in steps)
        offset += sum(st * (c - 1) for st, c in zip(steps, counts) if st < 0)
        steps = tuple(abs(st) for st in steps)
        top = offset + sum(st * (c - 1) for st, c in zip(steps, counts))
        pad[axis] = (max(0, -offset), max(0, top - (a.shape[axis] - 1)))
        start[axis] = slice(offset + pad[axis][0], None)
        plan[axis] = steps, tuple(counts), flip
    if any(lo or hi for lo, hi in pad):
        a = np.pad(a, pad, constant_values=fill)
    a = a[tuple(start)]
    shape, strides, flips = [], [], []
    for axis in range(a.ndim):
        if axis in plan:
            steps, counts, flip = plan[axis]
            shape += counts
            strides += [st * a.strides[axis] for st in steps]
            flips += flip
        else:
            shape.append(a.shape[axis])
            strides.append(a.strides[axis])
            flips.append(False)
    view = np.lib.stride_tricks.as_strided(a, shape, strides, writeable=False)
    if any(flips):  # a negative step reads the window backwards
        view = view[tuple(slice(None, None, -1 if f else 1) for f in flips)]
    return view


#: result bytes from which :func:`reduce_window` splits its work over threads
THREAD_BYTES = 2 << 20


@functools.cache
def _threads() -> tuple[int, ThreadPoolExecutor | None]:
    """How many cores this process may use, and a pool of that many threads."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    cores = min(cores, 8)
    return cores, ThreadPoolExecutor(cores, "nnbook-window") if cores > 1 else None


def reduce_window(a: np.ndarray, axes: tuple[int, ...], ufunc: np.ufunc) -> np.ndarray:
    """``ufunc.reduce`` over the small window axes of a strided view.

    One whole-array ``ufunc`` per window offset (4 for a 2×2 pool), each over
    slices whose last axis is contiguous: 5–10× faster than ``view.max(axis=…)``,
    whose inner loop runs along the strided window axes.  A result of
    ``THREAD_BYTES`` or more is cut along its first axis into one part per
    core, each reduced in a thread (NumPy's loops release the GIL), as
    TensorFlow pools on every core.  Measured here (median of 40 runs), a
    float64 2×2 pool of (64, 28, 28, 32), a 3.2 MB result: max 0.61 ms on 2
    cores against 0.67 on one, sum 0.67 against 0.87.  The float32 pool (1.6
    MB) was slower in threads, 0.36 against 0.32 ms, as were parts small
    enough to stay in cache: the threads then queue for the GIL.
    """
    keep = [k for k in range(a.ndim) if k not in axes]
    out = np.empty([a.shape[k] for k in keep], dtype=a.dtype)
    cells = list(np.ndindex(*(a.shape[ax] for ax in axes)))

    def part(lead: slice) -> None:
        at = [slice(None)] * a.ndim
        if keep:
            at[keep[0]] = lead
        target = out[lead] if keep else out
        for n, cell in enumerate(cells):
            for ax, k in zip(axes, cell):
                at[ax] = k
            if n:
                ufunc(target, a[tuple(at)], out=target)
            else:
                np.copyto(target, a[tuple(at)])

    cores, pool = _threads()
    rows = out.shape[0] if keep else 1
    parts = min(cores, rows, out.nbytes // THREAD_BYTES)
    if parts < 2 or pool is None:
        part(slice(None))
        return out
    cuts = [rows * k // parts for k in range(parts + 1)]  # exact, no float rounding
    jobs = [pool.submit(part, slice(lo, hi)) for lo, hi in zip(cuts[:-1], cuts[1:])]
    for job in jobs:
        job.result()
    return out


def keep_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed blocks instead of returning them to the OS.

    By default every temporary over 128 KiB is an ``mmap`` of its own, so each
    call of a lowered formula page-faults its megabytes of temporaries back in:
    a 2×2 average pool over (64, 28, 28, 32) float64 spent 2.4 of its 3.1 ms so
    (TensorFlow keeps its own allocator for the same reason).  Returns whether
    the setting took; elsewhere than glibc it does nothing.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(mallopt(m_mmap_threshold, 1 << 30) and mallopt(m_trim_threshold, 1 << 31))


keep_freed_memory()


#: bytes of the im2col block :func:`contract` copies a window view into per GEMM:
#: small enough to stay in cache while BLAS reads it
GEMM_BLOCK_BYTES = 2 << 20


def contract(spec: str, a: np.ndarray, b: np.ndarray, add=None) -> np.ndarray:
    """``np.einsum(spec, a, b) + add`` as one blocked matrix product, for a
    windowed operand.

    einsum would copy the strided window view (im2col) in one piece, tens of MB
    for a convolution layer, and only then multiply.  Here the larger operand is
    put in (free axes, summed axes) order and copied block by block along its
    first axis into a contiguous buffer that stays in cache; each block goes
    straight to ``np.matmul``, and ``add`` (a bias, broadcast) is added to the
    block's result while it is still in cache.  1.6× faster than einsum + bias
    on (64, 28, 28, 32) ∗ (3, 3, 32, 64).  Specs with an axis shared by both
    operands and the output fall back to einsum.

    A stride-1 window (conv2d with stride 1, any padding or dilation) is not
    copied at all: :func:`_shifted_rows` finds it, and :func:`_shifted_gemm`
    multiplies row ranges of the input itself, one GEMM per kernel tap.  On
    (64, 28, 28, 32) ∗ (3, 3, 32, 64) float32 that takes 6.1 ms against 8.9 ms
    for the blocked im2col (10.4 against 12.5 ms with OpenBLAS pinned to its
    AVX2 kernel).
    """
    inputs, out = spec.split("->")
    sa, sb = inputs.split(",")
    summed = [c for c in sa if c in sb]
    if (
        any(c in out for c in summed)
        or len(set(sa)) < len(sa)
        or len(set(sb)) < len(sb)
        or a.size == 0  # an empty batch, no channels, an output of size 0:
        or b.size == 0  # einsum gives the empty (or all-zero) result
    ):
        product = np.einsum(spec, a, b, optimize=True)
        return product if add is None else product + add
    if a.size > b.size:
        a, b, sa, sb = b, a, sb, sa
    free_a = [c for c in sa if c not in summed]
    free_b = [c for c in sb if c not in summed]
    labels = free_b + free_a
    small = np.transpose(a, [sa.index(c) for c in summed + free_a])
    k = int(np.prod(small.shape[: len(summed)], dtype=np.int64))
    small = small.reshape(k, -1)
    big = np.transpose(b, [sb.index(c) for c in free_b + summed])
    shape = big.shape[: len(free_b)] + tuple(a.shape[sa.index(c)] for c in free_a)
    dtype = np.result_type(a, b) if add is None else np.result_type(a, b, add)
    result = np.empty(shape, dtype=dtype)
    if add is not None:  # broadcast in the output's order, then put in ours
        out_shape = tuple(shape[labels.index(c)] for c in out)
        add = np.broadcast_to(add, out_shape).transpose([out.index(c) for c in labels])
    plan = _shifted_rows(big, len(free_b))  # None unless big is float32/float64
    same = plan is not None and small.dtype == big.dtype == dtype
    gemm = _numpy_blas_gemm(dtype) if same else None
    if gemm is not None:
        result = _shifted_gemm(gemm, big, small, plan, shape, add)
        return result.transpose([labels.index(c) for c in out])
    rows = max(1, GEMM_BLOCK_BYTES // max(1, big[:1].size * big.itemsize))
    for start in range(0, big.shape[0], rows):
        block = np.ascontiguousarray(big[start : start + rows]).reshape(-1, k)
        target = result[start : start + rows]
        np.matmul(block, small, out=target.reshape(-1, small.shape[1]))
        if add is not None:
            target += add[start : start + rows]
    return result.transpose([labels.index(c) for c in out])


#: how many rows a shifted contraction may compute, per row it keeps (the rest
#: fall in the padding between the window's rows and are dropped)
SHIFT_MAX_WASTE = 1.5


@dataclass(frozen=True)
class _Shift:
    """A window view read as shifted row ranges of one matrix: see :func:`_shifted_rows`."""

    channel: int  # which summed axis is the contiguous one
    rows: int  # rows computed: the grid the free axes span, gaps included
    steps: tuple[int, ...]  # rows moved per step of each free axis
    offsets: tuple[int, ...]  # rows moved by each tap (the other summed axes, C order)
    matrix: np.ndarray  # (rows + max offset) × channels, a view of the input


def _shifted_rows(big: np.ndarray, n_free: int) -> _Shift | None:
    """The shift structure of a stride-1 window view, or None.

    conv2d reads x[n, i + p, j + q, c]: with c contiguous, every element is in
    row ``r + t`` of one matrix M (one row per input pixel, one column per
    channel, a view of x), where r = (n·H + i)·W + j moves with the output
    position and t = p·W + q with the kernel tap.  So the contraction is
    Σ_t M[t : t + rows] @ w_t, one GEMM per tap on a contiguous slice of x:
    nothing is copied.  The rows r that no output position has (the last
    columns of each input row) are computed and dropped; that costs
    (H·W)/(Ho·Wo) more multiply-adds, so strided windows, which would waste
    s² as much, are left to the im2col path.

    Needs positive strides, every free and tap axis stepping whole rows of one
    contiguous summed axis, distinct rows for distinct output positions, and
    float32/float64.
    """
    e = big.itemsize
    if big.dtype not in (np.float32, np.float64) or big.size == 0:
        return None
    shape, strides = big.shape, big.strides
    summed = range(n_free, big.ndim)
    channel = [k for k in summed if strides[k] == e and shape[k] > 1]
    if len(channel) != 1:
        return None
    row = shape[channel[0]] * e
    if any(n > 1 and (s <= 0 or s % row) for k, (n, s) in enumerate(zip(shape, strides))
           if k != channel[0]):
        return None
    steps = tuple(s // row if n > 1 else 0 for n, s in zip(shape[:n_free], strides))
    span = 0  # the largest row an output position reaches so far
    for step, n in sorted((st, n) for st, n in zip(steps, shape) if n > 1):
        if step <= span:  # two output positions would share a row
            return None
        span += (n - 1) * step
    rows = span + 1
    if rows > SHIFT_MAX_WASTE * int(np.prod(shape[:n_free], dtype=np.int64)):
        return None
    taps = [k for k in summed if k != channel[0]]
    offsets = tuple(
        sum(t * strides[k] // row for t, k in zip(at, taps))
        for at in np.ndindex(*(shape[k] for k in taps))
    )
    matrix = np.lib.stride_tricks.as_strided(
        big, (rows + max(offsets), shape[channel[0]]), (row, e), writeable=False
    )
    return _Shift(channel[0] - n_free, rows, steps, offsets, matrix)


@functools.cache
def _numpy_blas_gemm(dtype: np.dtype):
    """NumPy's own BLAS ``cblas_?gemm``, called through ctypes, or None.

    NumPy's ``matmul`` cannot accumulate into its output (GEMM's β = 1).  SciPy's
    wrappers can, but SciPy ships a second OpenBLAS whose idle threads spin on
    both cores while NumPy's work, and the other way round: measured here, a
    1024² matmul right after took 2–4× its time.  So this calls the very
    library NumPy's matmul uses (the OpenBLAS inside NumPy's wheel).  Other
    NumPy builds (MKL, Accelerate) return None, and :func:`contract` copies
    windows instead.
    """
    import ctypes
    import glob

    root = os.path.dirname(os.path.dirname(np.__file__))
    letter = {np.dtype(np.float32): "s", np.dtype(np.float64): "d"}[np.dtype(dtype)]
    real = ctypes.c_float if letter == "s" else ctypes.c_double
    for path in glob.glob(os.path.join(root, "numpy.libs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name, integer in (
            (f"scipy_cblas_{letter}gemm64_", ctypes.c_int64),
            (f"cblas_{letter}gemm64_", ctypes.c_int64),
            (f"scipy_cblas_{letter}gemm", ctypes.c_int),
            (f"cblas_{letter}gemm", ctypes.c_int),
        ):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = None
                fn.argtypes = [ctypes.c_int] * 3 + [integer] * 3 + [
                    real, ctypes.c_void_p, integer, ctypes.c_void_p, integer,
                    real, ctypes.c_void_p, integer,
                ]  # fmt: skip
                return fn
    return None


def _shifted_gemm(gemm, big, small, plan: _Shift, shape, add) -> np.ndarray:
    """``big · small`` (free axes of ``big`` first, then ``small``'s) by the plan:
    one GEMM per tap and row block, accumulated in place by BLAS (β = 1), the
    block of the result staying in cache across the taps.  A bias that varies
    only along ``small``'s axes is the block's starting value."""
    row_major, no_trans = 101, 111  # from <cblas.h>
    n_free = len(plan.steps)
    channels, width = plan.matrix.shape[1], small.shape[1]
    per_tap = np.moveaxis(small.reshape(big.shape[n_free:] + (width,)), plan.channel, -2)
    weights = [np.ascontiguousarray(w) for w in per_tap.reshape(-1, channels, width)]
    first = None
    if add is not None and all(
        s == 0 or n == 1 for s, n in zip(add.strides[:n_free], add.shape)
    ):
        first, add = np.ascontiguousarray(add[(0,) * n_free]).reshape(width), None
    out = np.empty((plan.rows, width), dtype=big.dtype)
    e = big.itemsize
    matrix = plan.matrix.ctypes.data
    block = max(1, GEMM_BLOCK_BYTES // (width * e))
    for r0 in range(0, plan.rows, block):
        r1 = min(plan.rows, r0 + block)
        if first is not None:
            out[r0:r1] = first
        target = out[r0:r1].ctypes.data
        for k, (offset, w) in enumerate(zip(plan.offsets, weights)):
            beta = 1.0 if k or first is not None else 0.0
            gemm(row_major, no_trans, no_trans, r1 - r0, width, channels,
                 1.0, matrix + (r0 + offset) * channels * e, channels,
                 w.ctypes.data, width, beta, target, width)  # fmt: skip
    inner = np.empty(shape[n_free:], dtype=np.int8).strides  # small's axes, C order
    result = np.lib.stride_tricks.as_strided(
        out,
        shape,
        tuple(step * width * e for step in plan.steps) + tuple(s * e for s in inner),
    )
    if add is not None:
        result = result + add
    return result


def argmax_over(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The row-major position of the first maximum over ``axes`` (NumPy's tie rule)."""
    moved = np.moveaxis(a, axes, tuple(range(-len(axes), 0)))
    cells = int(np.prod(moved.shape[-len(axes) :], dtype=np.int64))
    # the window's size, not -1, which NumPy cannot infer for an empty batch
    return moved.reshape(moved.shape[: -len(axes)] + (cells,)).argmax(axis=-1)


def _tuple(items) -> str:
    items = list(items)
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def _paren(t: Term, at_least: int) -> str:
    return t.code if t.prec >= at_least else f"({t.code})"


class NumpyLowering:
    def __init__(self, formula: Formula):
        self.formula = formula
        self.inputs = {i.name: i for i in formula.inputs}
        self.order: list[sp.Symbol] = list(formula.indices)
        #: index symbol → its extent, as an expression of the dimensions
        self.extent: dict[sp.Symbol, sp.Expr] = {
            s: formula.dim_symbols[d]
            for s, d in zip(formula.indices, formula.output_shape)
        }
        for node in sp.preorder_traversal(formula.expr):
            if isinstance(node, (sp.Sum, MaxShift, Maximum, FirstArgMax)):
                for k, _, hi in node.limits:
                    if k not in self.order:
                        self.order.append(k)
                    self.extent.setdefault(k, hi + 1)
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
        for node in sp.preorder_traversal(expr):
            if isinstance(node, sp.Indexed):
                inp = self.inputs.get(str(node.base))
                if inp is None:
                    raise LoweringError(
                        f"{self.formula.name}: {node.base} is not an input"
                    )
                for idx, d in zip(node.indices, inp.shape):
                    if idx.is_Symbol:
                        found.setdefault(idx, d)
        return found

    # -- dispatch -----------------------------------------------------------
    def lower(self, e: sp.Expr) -> Term:
        for cls in type(e).__mro__:
            method = getattr(self, f"_lower_{cls.__name__}", None)
            if method is not None:
                return method(e)
        if type(e) in FUNCTIONS or isinstance(e, tuple(FUNCTIONS)):
            return self._lower_call(e)
        known = sorted(
            {k.__name__ for k in FUNCTIONS}
            | {m[len("_lower_"):] for m in dir(self) if m.startswith("_lower_")}
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
        elif target[len(target) - len(present) :] != tuple(present):
            pass  # unreachable: tail == present means trailing alignment holds
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
        """``code`` read at the given (axis, (index, dim)) pairs, affine ones windowed."""
        labels: list[sp.Symbol] = []
        reads = []
        for axis, (idx, _) in axes:
            if idx.is_Symbol:
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

    def _affine(self, idx: sp.Expr) -> tuple[list[sp.Symbol], list[int], sp.Expr, int]:
        """idx = (offset + Σ steps·syms) / den, with integer steps and den."""
        num, den = sp.fraction(sp.together(sp.expand(idx)))
        num = sp.expand(num)
        syms = [s for s in self.order if num.has(s)]
        steps = [num.coeff(s) for s in syms]
        offset = sp.expand(num - sum(st * s for st, s in zip(steps, syms)))
        if not (den.is_Integer and all(st.is_Integer for st in steps)) or offset.has(
            *syms
        ):
            raise LoweringError(f"index {idx} is not affine with integer steps")
        if den < 0:
            den, steps, offset = -den, [-st for st in steps], -offset
        return syms, [int(st) for st in steps], offset, int(den)

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
        fused = [k for k, ((_, op), t) in enumerate(zip(signed, terms))
                 if op == "+" and t.code.startswith("contract(") and t.labels == target]
        if len(fused) == 1 and len(terms) > 1:  # a bias: added inside the blocked GEMM
            k = fused[0]
            rest = self.lower(sp.Add(*(a if op == "+" else -a
                                       for j, (a, op) in enumerate(signed) if j != k)))
            return Term(f"{terms[k].code[:-1]}, add={self.align(rest, target)})",
                        target, CALL)
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

    def _lower_Sum(self, e: sp.Sum) -> Term:
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
            if len(terms) == 2 and any("window(" in t.code for t in terms):
                # a strided window view: im2col block by block into GEMM
                body = Term(f"contract('{spec}', {codes})", out, CALL)
            else:
                # optimize=True lets einsum hand the contraction to BLAS (GEMM): 8x
                # faster for a 256x128 dense layer, about 6 µs slower on tiny arrays
                body = Term(f"np.einsum('{spec}', {codes}, optimize=True)", out, CALL)
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

    def _lower_Mul_terms(self, scalars, body: Term) -> Term:
        coeff = self.lower(sp.Mul(*scalars))
        target = self._sorted(coeff.labels + body.labels)
        # both aligned: a factor over n before a sum over n, j needs [:, None]
        scale = self.align(coeff, target)
        scale = f"({scale})" if coeff.prec < MUL and scale == coeff.code else scale
        return Term(f"{scale} * {self.align(body, target)}", target, MUL)

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


def lower(formula: Formula) -> Lowered:
    """Lower a formula to NumPy source and compile it."""
    low = NumpyLowering(formula)
    try:
        body = low.lower(formula.expr)
    except LoweringError as exc:
        raise LoweringError(f"{formula.name}: {exc}") from None
    if not set(body.labels) <= set(formula.indices):
        raise LoweringError(
            f"{formula.name}: expression has indices {body.labels}, output has {formula.indices}"
        )
    code = low.align(body, tuple(formula.indices))
    if set(body.labels) != set(formula.indices):
        # constant along some output axes (a claim g[n]/(H·W) about x[n, h, w])
        shape = _tuple(
            low.lower(formula.dim_symbols[d]).code for d in formula.output_shape
        )
        code = f"np.broadcast_to({code}, {shape})"
    dim_args = tuple(sorted(low.dims_used))
    args = ", ".join(formula.input_names)
    keywords = list(dim_args) + [
        f"{c}={formula.constants[c]!r}" for c in sorted(low.consts_used)
    ]
    if keywords:
        args += ", *, " + ", ".join(keywords)
    eq = formula.indexed_latex.replace("\n", " ")
    source = f"def {formula.name}({args}):\n    # {eq}\n    return {code}\n"
    namespace: dict = {
        "np": np,
        "window": window,
        "reduce_window": reduce_window,
        "argmax_over": argmax_over,
        "contract": contract,
    }
    exec(compile(source, f"<nnmath lowering of {formula.name}>", "exec"), namespace)
    return Lowered(source, namespace[formula.name], dim_args)


# -- the slow oracle ---------------------------------------------------------
class _Absent:
    """A read outside an input in the loop oracle: adds nothing, multiplies to
    nothing, never wins a max."""

    def __add__(self, other):
        return other

    __radd__ = __add__

    def __mul__(self, other):
        return self

    __rmul__ = __truediv__ = __neg__ = __mul__

    def __sub__(self, other):  # 0 − x
        return -other

    def __rsub__(self, other):  # x − 0
        return other

    def __lt__(self, other):
        return True

    def __gt__(self, other):
        return False


ABSENT = _Absent()
#: an index a/b where b does not divide a: between two cells of a dilated input
BETWEEN = object()


def _exact(a: int, b: int):
    """a/b in integers: a // b when b divides a, else BETWEEN (never a float, so
    no rounding can make a fraction an index or an index a fraction)."""
    return a // b if a % b == 0 else BETWEEN


class _ZeroOutside:
    """An input array whose reads outside it, or between its cells, are ABSENT
    if the formula declares it padded, and an :class:`OutOfBounds` error if not."""

    def __init__(self, values: np.ndarray, name: str, padded: bool, formula: str):
        self.values, self.name, self.padded, self.formula = values, name, padded, formula

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        shape = self.values.shape
        bad = [
            f"a fractional index on axis {a}" if i is BETWEEN
            else f"index {i} on axis {a} (size {n})"
            for a, (i, n) in enumerate(zip(idx, shape))
            if i is BETWEEN or not 0 <= i < n
        ]
        if bad:
            if self.padded:
                return ABSENT
            shown = ", ".join("a fraction" if i is BETWEEN else str(i) for i in idx)
            raise out_of_bounds(self.formula, f"{self.name}[{shown}]", ", ".join(bad),
                                self.name)
        return self.values[tuple(int(i) for i in idx)]


def _first_argmax(values: list) -> int:
    """Position of the first maximum, skipping absent cells (TensorFlow's rule)."""
    best = max(v for v in values if v is not ABSENT)
    return next(k for k, v in enumerate(values) if v is not ABSENT and v == best)


class _OraclePrinter(MpmathPrinter):
    """lambdify's mpmath printer, taught the max/argmax reductions as Python loops."""

    def _loops(self, e) -> str:
        return " ".join(
            f"for {self._print(k)} in range({self._print(lo)}, {self._print(hi)}+1)"
            for k, lo, hi in e.limits
        )

    def _print_MaxShift(self, e):
        return f"(builtins.max({self._print(e.function)} {self._loops(e)}))"

    _print_Maximum = _print_MaxShift

    def _print_masked(self, e):
        cond, x, fill = (self._print(a) for a in e.args)
        return f"(({x}) if ({cond}) else ({fill}))"

    def _print_FirstArgMax(self, e):
        return f"(_first_argmax([{self._print(e.function)} {self._loops(e)}]))"

    def _print_present(self, e):
        return f"(0 if {self._print(e.args[0])} is ABSENT else 1)"

    def _print_Indexed(self, e):
        """Indices in Python integers: (u + P − p)/s as _exact(u + P − p, s), a
        row-major digit ⌊k/(W·C)⌋ as k // (W*C); mpmath would round both."""
        def index(i):
            num, den = quotient(i, self._print)
            return num if den == "1" else f"_exact({num}, {den})"

        return f"{e.base}[{', '.join(index(i) for i in e.indices)}]"


def loop_oracle(formula: Formula, digits: int = 50) -> Callable[..., np.ndarray]:
    """A slow reference: sympy.lambdify of the elementary form, looped per element.

    Sums become Python generator loops inside lambdify's code and this wrapper
    loops over the output indices.  It evaluates in mpmath at ``digits``
    significant digits, so the naive definitions (e^1000, log 0 clipped to
    log ε) are computed exactly where float64 would overflow.  Tiny shapes only.
    """
    import builtins

    import mpmath

    # a mask stays whole: as a Piecewise, SymPy would fold the condition on a
    # bound key out of the sum that binds it
    expr = elementary(formula.expr, keep=(masked,))
    dim_names = sorted(formula.dim_symbols)
    consts = sorted(formula.constant_symbols, key=lambda s: s.name)
    bases = [
        sp.IndexedBase(n) if formula.input(n).shape else sp.Symbol(n)
        for n in formula.input_names
    ]
    args = (
        bases
        + [formula.dim_symbols[d] for d in dim_names]
        + consts
        + list(formula.indices)
    )
    f = sp.lambdify(
        args,
        expr,
        modules=[
            "mpmath",
            {
                "builtins": builtins,
                "mpmath": mpmath,
                "ABSENT": ABSENT,
                "_first_argmax": _first_argmax,
                "_exact": _exact,
            },
        ],
        printer=_OraclePrinter,
    )

    def run(**arrays):
        sizes = formula.bind_dims(arrays)
        with mpmath.workdps(digits):
            vals = [
                _ZeroOutside(
                    np.vectorize(mpmath.mpf, otypes=[object])(
                        np.asarray(arrays[n], float)
                    ),
                    n,
                    n in formula.padded,
                    formula.name,
                )
                if np.ndim(arrays[n])
                else mpmath.mpf(float(arrays[n]))
                for n in formula.input_names
            ]
            fixed = [sizes[d] for d in dim_names] + [
                mpmath.mpf(formula.constant_symbols[c]) for c in consts
            ]
            shape = tuple(sizes[d] for d in formula.output_shape)
            out = np.empty(shape)
            for idx in np.ndindex(*shape):
                out[idx] = float(f(*vals, *fixed, *idx))
        return out

    return run
