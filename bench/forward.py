"""Our lowered NumPy vs TensorFlow eager, per formula, measured in one run.

    .venv/bin/python bench/forward.py [--batch 256] [--scale 8] [--seconds 0.4]

Each formula is sized from its own first test case, scaled up: the batch N to
``--batch``, every other dimension ``--scale`` times, except a window's extent
(a convolution kernel's height and width: a dimension whose index moves along
another one's, x[n, 2i + p, …]) and a size the formula's parameters fix, which
stay as the case has them, so a kernel stays a kernel.

Prints the median time of our NumPy function and of its TensorFlow reference
(the very string ``nnbook show`` prints) on the same float64 inputs, the ratio
ours ÷ TensorFlow (below 1 means we are faster), the peak memory our call
allocated (NumPy's allocations, by tracemalloc) and, at the end, the process's
peak resident memory.  These are figures to track, not
bars; the whole run takes under a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np
import sympy as sp

import machine
from nnmath import formula, names
from nnmath.checker.cases import Case, cases_for, sample
from nnmath.checker.oracle import reference, tensorflow
from nnmath.kernels import keep_freed_memory


def window_dims(f) -> set[str]:
    """The dimensions a window's offset runs over: the extent of every summed
    index that is added to another index inside an input's subscript."""
    extents = {}
    for s in f.expr.atoms(sp.Sum):
        for var, _, hi in s.limits:
            extents[var] = hi + 1
    dims = {sym: name for name, sym in f.dim_symbols.items()}
    moving = set()
    for node in f.expr.atoms(sp.Indexed):
        for idx in node.indices:
            if not idx.is_Symbol:
                for var in idx.free_symbols & set(extents):
                    moving |= {dims[d] for d in extents[var].free_symbols if d in dims}
    return moving


def bench_sizes(f, batch: int, scale: int) -> dict[str, int]:
    """The first case's sizes, N set to ``batch`` and every other dimension
    scaled, but a window's extent and a size the formula's parameters fix (the
    heads of a multi-head attention built for 3), which its own size check
    refuses to scale."""
    first = cases_for(f)[0].sizes
    derived = {str(s) for s, _ in f.derived}
    sizes = {d: v for d, v in first.items() if d not in derived}
    sizes["N"] = batch if "N" in sizes else None
    sizes = {d: v for d, v in sizes.items() if v is not None}
    for d in sorted(set(sizes) - {"N"} - window_dims(f)):
        trial = {**sizes, d: sizes[d] * scale}
        try:
            f.complete_sizes(trial)
        except ValueError:
            continue
        sizes = trial
    return f.complete_sizes(sizes)


def median_seconds(fn, budget: float) -> tuple[float, int]:
    """The median of as many calls as fit in about ``budget`` seconds (3 at
    least), after a warm-up call (TensorFlow traces and allocates on its first)."""
    fn()
    times = []
    end = time.perf_counter() + budget
    while len(times) < 3 or (time.perf_counter() < end and len(times) < 200):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), len(times)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--scale", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=0.4, help="per side, per formula")
    args = ap.parse_args()
    start = time.perf_counter()
    tf = tensorflow()
    print(
        f"batch {args.batch}, other dimensions ×{args.scale} (window extents kept), "
        "float64, median of the calls that fit in "
        f"{args.seconds:g} s per side"
    )
    print(
        f"{'formula':34s} {'numpy':>10s} {'tensorflow':>11s} {'ratio':>7s} "
        f"{'peak':>9s}  sizes"
    )
    ratios = []
    for name in names():
        f = formula(name)
        sizes = bench_sizes(f, args.batch, args.scale)
        arrays = sample(f, Case("bench", sizes))
        tensors = {k: tf.constant(v) for k, v in arrays.items()}
        ours, _ = median_seconds(lambda: f.numpy(**arrays), args.seconds)
        theirs, _ = median_seconds(
            lambda: np.asarray(reference(f, tensors)),
            args.seconds,
        )
        peak = peak_bytes(lambda: f.numpy(**arrays))
        ratios.append(ours / theirs)
        shown = ", ".join(f"{d}={v}" for d, v in sizes.items() if d in f.dim_symbols)
        print(
            f"{name:34s} {ours * 1e6:8.1f}µs {theirs * 1e6:9.1f}µs "
            f"{ours / theirs:7.2f} {peak / 2**20:7.1f}MB  {shown}"
        )
    print(
        f"geometric mean ratio (ours ÷ TensorFlow): "
        f"{float(np.exp(np.mean(np.log(ratios)))):.2f}"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10  # KB on Linux
    print(
        f"peak resident memory {rss:.0f} MB; {len(ratios)} formulas in "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    machine.describe()
    main()
