"""What a formula call costs beyond its NumPy: training through the formulas vs
the same training written directly in NumPy, and the overhead of one call.

    .venv/bin/python bench/overhead.py [--repeats 41] [--calls 2000]

Each comparison times the same work two ways, interleaved (one, then the other,
``--repeats`` times) so that a shared machine slows both alike, and prints each
side's best and median and their ratios; the bar (formulas ÷ floor ≤ 1.5) is on
the best runs, since another process can only add time.  The *floor* is the
work written by hand in NumPy, in this file, with the same arrays, the same
matmuls and the same update; the bench checks that it computes the very numbers
the formulas do before timing it.  BLAS is held to one thread while timing: the
epoch's matrix products (at most 32×64 by 64×32) are below OpenBLAS's threshold
for threads anyway, but a thread that the untimed full-set loss woke keeps
spinning on the second core and, on a shared 2-core machine, doubled the formula
side's time at random.  A comparison that cannot be measured yet says why
instead of printing a number.  Then, per formula, the median cost of
``Formula.numpy`` on scalar-sized inputs beyond calling its lowered NumPy
function directly: the overhead of one call in microseconds; and the same for
the formula prepared for those shapes (``Formula.prepare``), which training
calls.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

# threadpoolctl comes with scikit-learn, which nnbook requires for its data
from threadpoolctl import threadpool_limits

import machine
from nnmath import formula, names
from nnmath.kernels import keep_freed_memory
from nnmath.runs.training import epoch_orders, init_params, load, minibatches, train

BAR = 1.5  # through the formulas ÷ the floor


@dataclass(frozen=True)
class Comparison:
    """One piece of work, through the formulas and directly in NumPy; each
    callable runs it once and returns its own result (compared before timing)."""

    what: str
    formulas: Callable[[], tuple[float, object]]  # (seconds, result)
    floor: Callable[[], tuple[float, object]]


# -- the digits perceptron ---------------------------------------------------------
def perceptron(hidden: int = 32, batch: int = 32) -> Comparison:
    """One epoch of the 64-32-10 tanh/softmax perceptron (float64, SGD, η = 0.125)
    through :func:`nnmath.runs.training.train`, and the same epoch by hand."""
    data = load("digits")
    x, y = data.x_train, data.y_train
    p0 = init_params(x.shape[1], hidden, y.shape[1], seed=0)
    (order,) = epoch_orders(len(x), 1, seed=0)  # the order train's epoch takes
    eta = 0.125

    def through_formulas() -> tuple[float, object]:
        run = train(data, hidden=hidden, epochs=1, batch_size=batch, params=p0)
        return run.seconds_per_epoch[0], run.params

    def floor() -> tuple[float, object]:
        W1, b1, W2, b2 = (p0[k].copy() for k in ("W1", "b1", "W2", "b2"))
        start = time.perf_counter()
        for idx in minibatches(order, batch):
            xb, yb = x[idx], y[idx]
            z1 = xb @ W1.T + b1
            a1 = np.tanh(z1)
            z2 = a1 @ W2.T + b2
            e = np.exp(z2 - z2.max(axis=1, keepdims=True))
            d2 = (e / e.sum(axis=1, keepdims=True) - yb) / len(xb)
            d1 = (d2 @ W2) * (1 - a1**2)
            _ = d1 @ W1  # ∂L/∂x, which the formulas' backward pass returns too
            W2, b2 = W2 - eta * (d2.T @ a1), b2 - eta * d2.sum(axis=0)
            W1, b1 = W1 - eta * (d1.T @ xb), b1 - eta * d1.sum(axis=0)
        seconds = time.perf_counter() - start
        return seconds, {"W1": W1, "b1": b1, "W2": W2, "b2": b2}

    return Comparison(
        f"digits perceptron epoch (64-{hidden}-10 tanh/softmax, batch {batch}, "
        f"{len(x)} samples, float64)",
        through_formulas,
        floor,
    )


# -- an LSTM cell ------------------------------------------------------------------
def lstm() -> Comparison | str:
    """A cell step at batch 32, 64 units, through the recurrent formulas and by
    hand: what the recurrent chapter calls T times per batch."""
    found = [n for n in names() if "lstm" in n.lower()]
    if not found:
        return (
            "not measured: nnmath has no recurrent formulas yet (no LSTM cell is "
            "registered); when it has, this function times a cell step at batch "
            "32, 64 units through them against its direct NumPy, at the same bar"
        )
    return (
        f"not measured: {', '.join(found)} is registered, but this bench does not "
        "time it yet (write bench/overhead.py's lstm())"
    )


COMPARISONS: tuple[Callable[[], Comparison | str], ...] = (perceptron, lstm)


def same(a: object, b: object) -> bool:
    """The floor computes what the formulas compute (to rounding: BLAS may sum
    in another order)."""
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return np.allclose(a, b, rtol=1e-12, atol=1e-14)


def compare(c: Comparison, repeats: int) -> float:
    """Formulas ÷ floor, each side's best of ``repeats`` interleaved runs (the
    medians are printed too)."""
    (_, ours), (_, theirs) = c.formulas(), c.floor()  # also the warm-up
    if not same(ours, theirs):
        raise SystemExit(f"{c.what}: the floor does not compute what the formulas do")
    t_formulas, t_floor = [], []
    with threadpool_limits(limits=1, user_api="blas"):
        for _ in range(repeats):
            t_formulas.append(c.formulas()[0])
            t_floor.append(c.floor()[0])
    best = min(t_formulas) / min(t_floor)
    print(c.what)
    for label, times in (
        ("through the formulas", t_formulas),
        ("floor: the same, directly in NumPy", t_floor),
    ):
        print(
            f"  {label:38s} best {min(times) * 1e3:7.3f} ms   "
            f"median {statistics.median(times) * 1e3:7.3f} ms"
        )
    print(
        f"  ratio formulas ÷ floor: best {best:.2f}, median "
        f"{statistics.median(t_formulas) / statistics.median(t_floor):.2f}   "
        f"bar (best): ≤ {BAR}   {'PASS' if best <= BAR else 'FAIL'}   "
        f"({repeats} runs each, interleaved)"
    )
    return best


# -- one call ----------------------------------------------------------------------
def scalar_calls() -> dict[str, dict[str, np.ndarray]]:
    one = np.array([[0.5]])
    return {
        "sigmoid": {"z": one},
        "dense": {"x": one, "W": np.array([[0.25]]), "b": np.array([0.125])},
        "softmax": {"z": one},
    }


def per_call_overhead(calls: int, blocks: int = 31) -> None:
    print(
        f"per-call overhead on scalar-sized inputs (median of {blocks} blocks of "
        f"{calls} calls, CPU time of this thread: another process's share of the "
        "cores does not count)"
    )
    print(
        f"  {'formula':10s} {'numpy()':>10s} {'prepared':>10s} {'its NumPy':>10s} "
        f"{'overhead':>10s} {'prepared':>10s}"
    )
    for name, arrays in scalar_calls().items():
        f = formula(name)
        f.numpy(**arrays)  # lower, and bind this signature
        prepared = f.prepare(**{k: v.shape for k, v in arrays.items()})
        fn = f.lowered.function
        dims = {d: 1 for d in f.lowered.dim_args}
        ways = (
            lambda: f.numpy(**arrays),
            lambda: prepared(**arrays),
            lambda: fn(**arrays, **dims),
        )
        times: list[list[float]] = [[], [], []]
        for _ in range(blocks):  # interleaved, like the comparisons
            for way, out in zip(ways, times):
                start = time.thread_time()
                for _ in range(calls):
                    way()
                out.append((time.thread_time() - start) / calls)
        v, p, d = (statistics.median(t) * 1e6 for t in times)
        print(
            f"  {name:10s} {v:8.2f} µs {p:8.2f} µs {d:8.2f} µs "
            f"{v - d:8.2f} µs {p - d:8.2f} µs"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=41)
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    machine.describe(" (1 while timing)")
    failed = False
    for make in COMPARISONS:
        c = make()
        if isinstance(c, str):
            print(f"{make.__name__}: {c}")
            continue
        failed |= compare(c, args.repeats) > BAR
    per_call_overhead(args.calls)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    main()
