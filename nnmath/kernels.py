"""Runtime kernels: what the lowered NumPy source calls beyond NumPy itself.

Strided windows over affine indices (:func:`window`), windowed reductions split
over the cores (:func:`reduce_window`), contractions of a window view without
copying it, through NumPy's own BLAS (:func:`contract`), and the position of a
window's first maximum (:func:`argmax_over`).  :mod:`nnmath.lowering` prints
calls to these by name; they know nothing of SymPy.

:func:`keep_freed_memory` is a process-wide glibc setting that the entry points
which evaluate formulas in bulk call once (the ``nnbook`` command, its render
workers, the benchmarks, the tests): nothing here changes the process on import.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .formula import out_of_bounds

__all__ = [
    "argmax_over",
    "contract",
    "einsum",
    "keep_freed_memory",
    "reduce_window",
    "window",
]


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


def _slice_of(a: np.ndarray, axis, steps, counts, offset, den=1) -> bool:
    """Is this read one positive step along one axis, whole, inside ``a``?"""
    return (
        den == 1
        and len(steps) == 1
        and steps[0] > 0
        and counts[0] >= 1
        and 0 <= offset
        and offset + steps[0] * (counts[0] - 1) < a.shape[axis]
    )


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
    if len(reads) == 1 and _slice_of(a, *reads[0]):
        # one axis read as a[…, o : o + c]: a plain slice, in bounds (an
        # LSTM's gate of its kernel); a slice costs less than the strides
        # below, and it is called T times per batch
        axis, (step,), (count,), offset = reads[0][:4]
        index = [slice(None)] * a.ndim
        index[axis] = slice(offset, offset + step * (count - 1) + 1, step)
        view = a[tuple(index)]
        view.flags.writeable = False
        return view
    if fill == "lowest":
        fill = np.finfo(a.dtype if a.dtype.kind == "f" else float).min
    key = tuple(
        sorted(
            (r[0], tuple(r[1]), tuple(r[2]), r[3], r[4] if len(r) > 4 else 1)
            for r in reads
        )
    )
    geo = _geometry(a.shape, key)
    if strict and geo.outside:  # an input not declared padded: reading out is wrong
        raise out_of_bounds(
            "", strict, ", ".join(geo.outside), strict.partition("[")[0]
        )
    if geo.dilated is not None:  # a read at a fraction of an index is absent
        shape, spread = geo.dilated
        dilated = np.full(shape, fill, dtype=a.dtype if a.dtype.kind == "f" else float)
        dilated[spread] = a
        a = dilated
    if geo.padded:  # np.pad's result, without its 50 µs of set-up per call
        padded = np.empty(geo.padded_shape, dtype=a.dtype)
        padded[...] = fill
        padded[geo.inner] = a
        a = padded
    a = a[geo.start]
    strides = [st * a.strides[axis] for axis, st in geo.strides]
    view = np.lib.stride_tricks.as_strided(a, geo.shape, strides, writeable=False)
    if geo.flips is not None:  # a negative step reads the window backwards
        view = view[geo.flips]
    return view


@dataclass(frozen=True)
class _Geometry:
    """How :func:`window` reads an array of one shape: worked out once per
    (shape, reads), since a formula called in a loop (a finite difference,
    a training step) reads the same shapes every time."""

    outside: tuple  # what the reads do outside the array, for a strict read
    dilated: tuple | None  # (shape, spread): the array with fractional cells
    pad: tuple
    padded: bool
    padded_shape: tuple  # the array's, padded
    inner: tuple  # the slices of the padded array that hold the array
    start: tuple  # the slices that drop the padding before the first read
    shape: tuple  # the view's
    strides: tuple  # (axis, step): the view's strides, as the array's times a step
    flips: tuple | None  # slices reversing the axes read backwards


@functools.lru_cache(maxsize=4096)
def _geometry(shape: tuple, reads: tuple) -> _Geometry:
    outside = tuple(_outside(shape, list(reads)))
    dilated = None
    if any(den != 1 for *_, den in reads):
        full, spread = list(shape), [slice(None)] * len(shape)
        for axis, *_, den in reads:
            full[axis] = max(0, (shape[axis] - 1) * den + 1)  # an empty axis stays
            spread[axis] = slice(None, None, den)
        dilated, shape = (tuple(full), tuple(spread)), tuple(full)
    ndim = len(shape)
    pad, start, plan = [(0, 0)] * ndim, [slice(None)] * ndim, {}
    for axis, steps, counts, offset, _ in reads:
        flip = tuple(st < 0 for st in steps)
        offset += sum(st * (c - 1) for st, c in zip(steps, counts) if st < 0)
        steps = tuple(abs(st) for st in steps)
        top = offset + sum(st * (c - 1) for st, c in zip(steps, counts))
        pad[axis] = (max(0, -offset), max(0, top - (shape[axis] - 1)))
        start[axis] = slice(offset + pad[axis][0], None)
        plan[axis] = steps, tuple(counts), flip
    view, strides, flips = [], [], []
    for axis in range(ndim):
        if axis in plan:
            steps, counts, flip = plan[axis]
            view += counts
            strides += [(axis, st) for st in steps]
            flips += flip
        else:
            view.append(shape[axis])
            strides.append((axis, 1))
            flips.append(False)
    return _Geometry(
        outside,
        dilated,
        tuple(pad),
        any(lo or hi for lo, hi in pad),
        tuple(n + lo + hi for n, (lo, hi) in zip(shape, pad)),
        tuple(slice(lo, lo + n) for n, (lo, _) in zip(shape, pad)),
        tuple(start),
        tuple(view),
        tuple(strides),
        tuple(slice(None, None, -1 if f else 1) for f in flips) if any(flips) else None,
    )


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

    It changes the whole process, so nothing calls it on import: the entry
    points that evaluate formulas in bulk call it once (``nnbook verify``,
    ``render`` and ``build``, each render worker and dry-run worker, the
    benchmarks in ``bench/`` and the test suite's ``conftest.py``).
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from <malloc.h>
    return bool(
        mallopt(m_mmap_threshold, 1 << 30) and mallopt(m_trim_threshold, 1 << 31)
    )


#: bytes of the im2col block :func:`contract` copies a window view into per GEMM:
#: small enough to stay in cache while BLAS reads it
GEMM_BLOCK_BYTES = 2 << 20


@functools.lru_cache(maxsize=1024)
def _einsum_path(spec: str, *shapes: tuple[int, ...]) -> list:
    # einsum_path looks at shapes only: empty arrays of the right shape plan it
    operands = [np.empty(shape) for shape in shapes]
    return np.einsum_path(spec, *operands, optimize="greedy")[0]


def einsum(spec: str, *operands: np.ndarray) -> np.ndarray:
    """``np.einsum(spec, *operands, optimize=True)``, with the contraction path
    searched once per shape signature instead of on every call.

    The path (pairwise contractions, BLAS where a pair allows it) is NumPy's
    own greedy choice, what ``optimize=True`` searches for each time.
    """
    path = _einsum_path(spec, *(np.shape(x) for x in operands))
    return np.einsum(spec, *operands, optimize=path)


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
        a.ndim == b.ndim == 2
        and len(summed) == 1
        and summed[0] not in out
        and len(out) == 2
        and set(out) == set(sa + sb) - set(summed)
    ):
        # two matrices, one summed axis (a gate's slice of a kernel): one
        # matrix product; blocking and row shifts pay only on large windows
        (c,) = summed
        if out[0] not in sa:  # the output's rows are b's: b @ a
            a, b, sa, sb = b, a, sb, sa
        left = a if sa[1] == c else a.T  # (out's rows, c)
        right = b if sb[0] == c else b.T  # (c, out's columns)
        product = left @ right  # in the output's order: no transposed copy
        return product if add is None else product + add
    if (
        any(c in out for c in summed)
        or len(set(sa)) < len(sa)
        or len(set(sb)) < len(sb)
        or a.size == 0  # an empty batch, no channels, an output of size 0:
        or b.size == 0  # einsum gives the empty (or all-zero) result
    ):
        product = einsum(spec, a, b)
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
    if plan is not None and plan.rows * plan.matrix.shape[1] * small.shape[1] < (
        SHIFT_MIN_MACS
    ):
        plan = None  # a GEMM a tap costs more in calls than it saves in copying
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
#: the fewest multiply-adds a tap's GEMM must have for the shifted rows to pay:
#: each is a call through ctypes (about 8 µs).  Measured, float64, 2 cores:
#: 1232 a tap, 156 µs shifted against 27 µs by im2col; 131,072, 181 against
#: 87 µs; 1.6 million, 432 against 451 µs; 3.2 million, 1517 against 2325 µs
SHIFT_MIN_MACS = 1 << 19


@dataclass(frozen=True)
class _Shift:
    """A window view read as shifted row ranges of one matrix (see
    :func:`_shifted_rows`)."""

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
    if any(
        n > 1 and (s <= 0 or s % row)
        for k, (n, s) in enumerate(zip(shape, strides))
        if k != channel[0]
    ):
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
    per_tap = np.moveaxis(
        small.reshape(big.shape[n_free:] + (width,)), plan.channel, -2
    )
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
