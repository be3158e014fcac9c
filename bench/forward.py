"""Our lowered NumPy vs TensorFlow eager, per formula, measured in one run.

    .venv/bin/python bench/forward.py [--batch 256] [--width 128]

Prints, for every registered formula, the median time of our NumPy function and
of its TensorFlow reference (the very string ``nnbook show`` prints) on the same
float64 inputs, and the ratio ours ÷ TensorFlow (below 1 means we are faster).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nnmath import formula, names
from nnmath.checker.cases import Case, sample
from nnmath.checker.oracle import tensorflow
from nnmath.kernels import keep_freed_memory


def median_seconds(fn, repeat: int) -> float:
    fn()  # warm up (TensorFlow traces and allocates on first call)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    tf = tensorflow()
    print(f"batch {args.batch}, width {args.width}, float64, median of {args.repeat}")
    print(f"{'formula':34s} {'numpy':>10s} {'tensorflow':>11s} {'ratio':>7s}")
    ratios = []
    for name in names():
        f = formula(name)
        sizes = {d: args.batch if d == "N" else args.width for d in f.dim_symbols}
        arrays = sample(f, Case("bench", sizes))
        tensors = {k: tf.constant(v) for k, v in arrays.items()}
        ours = median_seconds(lambda: f.numpy(**arrays), args.repeat)
        theirs = median_seconds(
            lambda: np.asarray(eval(f.tf, {"tf": tf}, tensors)), args.repeat
        )  # noqa: S307
        ratios.append(ours / theirs)
        print(
            f"{name:34s} {ours * 1e6:8.1f}µs {theirs * 1e6:9.1f}µs {ours / theirs:7.2f}"
        )
    print(
        f"geometric mean ratio (ours ÷ TensorFlow): "
        f"{float(np.exp(np.mean(np.log(ratios)))):.2f}"
    )


if __name__ == "__main__":
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    main()
