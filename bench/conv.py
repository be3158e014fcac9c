"""Our lowered conv2d and pooling vs TensorFlow, measured in one run.

    .venv/bin/python bench/conv.py [--repeat 7]

For the book's digits CNN (x 64×8×8×1, w 3×3×1×8) and a mid-sized layer
(x 64×28×28×32, w 3×3×32×64), 'same' padding, float32 and float64, prints:

* our time ÷ TensorFlow's (the reference string ``nnbook show conv2d`` prints);
* our GFLOP/s as a fraction of NumPy's own matmul GFLOP/s (1024×1024, same
  dtype, same run), and, for context, a plain im2col + one GEMM;
* the speed-up over a direct Python-loop evaluation of the formula: the loop
  oracle (``nnmath.checker.loop_oracle``) timed on a 1×5×5×2 input with a
  3×3×2×2 kernel and scaled by the ratio of multiply-adds;
* max/avg pooling (2×2, stride 2) ÷ ``tf.nn.max_pool2d``/``avg_pool2d``.

Times are the minimum over ``--repeat`` rounds, ours and TensorFlow's
interleaved so a busy machine slows both alike; each round lets the cores
settle, then times three calls in a row of each (see ``_min_seconds``).  The
bars are printed with PASS/FAIL.  The first line names the BLAS kernel NumPy's
matmul runs, and OpenBLAS's own choice when the environment pins another.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

import machine
from nnmath import formula
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.checker.oracle import tensorflow
from nnmath.kernels import keep_freed_memory, window

CONV_SHAPES = (((64, 8, 8, 1), (3, 3, 1, 8)), ((64, 28, 28, 32), (3, 3, 32, 64)))
POOL_SHAPES = ((64, 8, 8, 8), (64, 28, 28, 32))
BARS = {"tf": 1.5, "loop": 100.0, "pool": 2.0}


#: seconds to wait before timing a function: OpenBLAS's idle threads spin for
#: 2^28 cycles (about 0.1 s) after a call before they sleep, TensorFlow's for less
SETTLE = 0.25


def _min_seconds(fns: list, repeat: int, burst: int = 3) -> list[float]:
    """The best time of each function, measured round-robin in bursts.

    Each round waits ``SETTLE`` seconds, then calls each function ``burst``
    times in a row.  Without the wait, the other library's threads, still
    spinning after its own call, would take the cores from whichever runs
    next: measured here, TensorFlow's conv2d took 3.5 ms alone and 9.3 ms right
    after NumPy's matmul.
    """
    for fn in fns:
        fn()  # warm up: TensorFlow traces, NumPy allocates
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            time.sleep(SETTLE)
            for _ in range(burst):
                start = time.perf_counter()
                fn()
                best[k] = min(best[k], time.perf_counter() - start)
    return best


def _macs(x_shape, w_shape) -> int:
    """Multiply-adds of a stride-1 'same' convolution."""
    n, h, w, _ = x_shape
    kh, kw, c, o = w_shape
    return n * h * w * o * kh * kw * c


def _im2col(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """For context only: the textbook fast path, patches copied then one GEMM."""
    kh, kw, c, o = w.shape
    n, h, wd, _ = x.shape
    patches = window(
        x, (1, (1, 1), (h, kh), -(kh // 2)), (2, (1, 1), (wd, kw), -(kw // 2))
    )  # n, i, p, j, q, c
    cols = np.ascontiguousarray(patches.transpose(0, 1, 3, 2, 4, 5)).reshape(
        -1, kh * kw * c
    )
    return (cols @ w.reshape(-1, o)).reshape(n, h, wd, o)


def _loop_seconds_per_mac() -> float:
    f = formula("conv2d", padding="same", bias=False)
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 5, 5, 2)), rng.normal(size=(3, 3, 2, 2))
    slow = loop_oracle(f)
    start = time.perf_counter()
    slow(x=x, w=w)
    return (time.perf_counter() - start) / _macs(x.shape, w.shape)


def _blas() -> str:
    """Which BLAS kernel NumPy's matmul runs, and whether the environment chose it.

    OpenBLAS picks a kernel for the CPU at load time unless OPENBLAS_CORETYPE
    names one; a pin to an older kernel (Haswell: AVX2 on a CPU with AVX-512)
    halves NumPy's float32 GEMM while TensorFlow's oneDNN still uses the whole
    CPU.  The bench runs as the environment says and prints both choices.
    """
    from threadpoolctl import threadpool_info

    code = (
        "import numpy, threadpoolctl; print(next(i.get('architecture', '?') for i in "
        "threadpoolctl.threadpool_info() if 'numpy' in i['filepath']))"
    )
    blas = next((i for i in threadpool_info() if "numpy" in i["filepath"]), None)
    if blas is None:
        return "NumPy's BLAS: not found by threadpoolctl"
    kernel = blas.get("architecture", "?")
    line = f"NumPy's BLAS: {blas['internal_api']} {blas['version']}, kernel {kernel}"
    pin = os.environ.get("OPENBLAS_CORETYPE")
    if pin:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        own = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True
        ).stdout.strip()
        line += (
            f" (pinned by OPENBLAS_CORETYPE={pin}; OpenBLAS's own choice here: {own})"
        )
    return line


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    tf = tensorflow()
    rng = np.random.default_rng(0)
    f = formula("conv2d", padding="same", bias=False)
    print(_blas())
    per_mac = _loop_seconds_per_mac()
    print(f"loop oracle: {per_mac * 1e6:.1f} µs per multiply-add (1×5×5×2 ∗ 3×3×2×2)")
    print(
        f"min of {args.repeat} interleaved runs; "
        "ours = formula('conv2d', padding='same')"
    )
    print(
        f"{'conv2d x, w':34s} {'dtype':8s} {'ours':>9s} {'tf':>9s} {'÷tf':>6s} "
        f"{'GFLOP/s':>8s} {'÷matmul':>8s} {'im2col÷tf':>10s} {'×loop':>9s}"
    )
    results = []
    for dtype in ("float32", "float64"):
        a = rng.normal(size=(1024, 1024)).astype(dtype)
        (mm,) = _min_seconds([lambda a=a: a @ a], args.repeat)
        mm_gflops = 2 * 1024**3 / mm / 1e9
        for x_shape, w_shape in CONV_SHAPES:
            x = rng.normal(size=x_shape).astype(dtype)
            w = rng.normal(size=w_shape).astype(dtype)
            env = {"x": tf.constant(x), "w": tf.constant(w)}
            ours, theirs, plain = _min_seconds(
                [
                    lambda x=x, w=w: f.numpy(x=x, w=w),
                    lambda env=env: np.asarray(eval(f.tf, {"tf": tf}, env)),
                    lambda x=x, w=w: _im2col(x, w),
                ],
                args.repeat,
            )
            macs = _macs(x_shape, w_shape)
            gflops = 2 * macs / ours / 1e9
            speedup = per_mac * macs / ours
            results.append((dtype, ours / theirs, speedup))
            print(
                f"{str(x_shape) + ' ∗ ' + str(w_shape):34s} {dtype:8s} "
                f"{ours * 1e3:7.2f}ms {theirs * 1e3:7.2f}ms {ours / theirs:6.2f} "
                f"{gflops:8.1f} {gflops / mm_gflops:8.2f} {plain / theirs:10.2f} "
                f"{speedup:9.0f}"
            )
        print(f"  NumPy matmul 1024² {dtype}: {mm_gflops:.1f} GFLOP/s")

    print(
        f"\n{'pooling 2×2 stride 2':34s} {'dtype':8s} "
        f"{'ours':>9s} {'tf':>9s} {'÷tf':>6s}"
    )
    pool_ratios = []
    for name, tf_op in (
        ("max_pool2d", tf.nn.max_pool2d),
        ("avg_pool2d", tf.nn.avg_pool2d),
    ):
        p = formula(name)
        for dtype in ("float32", "float64"):
            for shape in POOL_SHAPES:
                x = rng.normal(size=shape).astype(dtype)
                tx = tf.constant(x)
                ours, theirs = _min_seconds(
                    [
                        lambda p=p, x=x: p.numpy(x=x),
                        lambda op=tf_op, tx=tx: np.asarray(op(tx, 2, 2, "VALID")),
                    ],
                    args.repeat,
                )
                pool_ratios.append(ours / theirs)
                print(
                    f"{name + ' ' + str(shape):34s} {dtype:8s} {ours * 1e3:7.3f}ms "
                    f"{theirs * 1e3:7.3f}ms {ours / theirs:6.2f}"
                )

    worst_tf = max(r for dt, r, _ in results if dt == "float32")
    worst_loop = min(s for _, _, s in results)
    print(
        f"\nbar: conv2d float32 ÷ TensorFlow ≤ {BARS['tf']}: worst {worst_tf:.2f} "
        f"{_verdict(worst_tf <= BARS['tf'])}"
    )
    print(
        f"bar: conv2d ≥ {BARS['loop']:.0f}× faster than the loop: "
        f"worst {worst_loop:.0f}× "
        f"{_verdict(worst_loop >= BARS['loop'])}"
    )
    print(
        f"bar: pooling ÷ TensorFlow ≤ {BARS['pool']}: worst {max(pool_ratios):.2f} "
        f"{_verdict(max(pool_ratios) <= BARS['pool'])}"
    )


if __name__ == "__main__":
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    machine.describe()
    main()
