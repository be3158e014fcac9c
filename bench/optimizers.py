"""One optimizer step: our update formulas vs the Keras optimizer, measured in one run.

    .venv/bin/python bench/optimizers.py [--params 100000] [--repeat 50]

For each optimizer, the median time of one step through the registered formulas
(:meth:`nnmath.update_rules.Optimizer.step`, every state variable's formula evaluated
on the old state) and of one ``apply_gradients`` of the matching
``tf.keras.optimizers`` class on a float64 variable of the same size, and the
ratio ours ÷ Keras (below 1 means we are faster).  Keras runs eagerly here, as
the keras-trajectory check runs it, so its per-call overhead is part of the
measurement.
"""

from __future__ import annotations

import argparse

import numpy as np

import machine
from forward import median_seconds  # bench/forward.py's timing, run from bench/
from nnmath.checker.oracle import tensorflow
from nnmath.kernels import keep_freed_memory
from nnmath.update_rules import OPTIMIZERS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    tf = tensorflow()
    import keras

    rng = np.random.default_rng(0)
    theta, g = rng.normal(size=args.params), rng.normal(size=args.params)
    print(f"{args.params} parameters, float64, median of {args.repeat} steps")
    print(f"{'optimizer':10s} {'formulas':>10s} {'keras':>10s} {'ratio':>7s}")
    ratios = []
    for name, opt in OPTIMIZERS.items():
        formulas = opt.formulas()
        state = opt.init(theta)
        ours = median_seconds(lambda: opt.step(state, g, formulas), args.repeat)
        floatx = keras.config.floatx()
        keras.config.set_floatx("float64")  # as the keras-trajectory check builds it
        try:
            k = getattr(tf.keras.optimizers, opt.keras)(
                **{**opt.keras_args, **opt.defaults()}
            )
        finally:
            keras.config.set_floatx(floatx)
        var, grad = tf.Variable(theta), tf.constant(g)
        theirs = median_seconds(lambda: k.apply_gradients([(grad, var)]), args.repeat)
        ratios.append(ours / theirs)
        print(
            f"{name:10s} {ours * 1e6:8.1f}µs {theirs * 1e6:8.1f}µs {ours / theirs:7.2f}"
        )
    print(
        f"geometric mean ratio (ours ÷ Keras): "
        f"{float(np.exp(np.mean(np.log(ratios)))):.2f}"
    )


if __name__ == "__main__":
    machine.describe()
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    main()
