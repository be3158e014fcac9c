"""One epoch of the digits perceptron: our NumPy training vs Keras ``fit``.

    .venv/bin/python bench/train.py [--hidden 32] [--batch 32] [--epochs 4]

Both train the same 64-H-10 network (tanh, softmax, cross-entropy, SGD) from the
same initial weights in the same batch order, in float64.  Each side runs
``--epochs`` epochs; the first is warm-up (Keras traces its train step), and the
median of the others is compared.  Prints the ratio ours ÷ Keras and PASS/FAIL
against the bar (ours at most 1.0× Keras).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import machine
from nnmath.checker import oracle
from nnmath.kernels import keep_freed_memory
from nnmath.runs.training import epoch_orders, init_params, load, train

BAR = 1.0  # ours ÷ Keras, per epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    data = load("digits")
    p0 = init_params(data.x_train.shape[1], args.hidden, data.y_train.shape[1], seed=0)
    orders = epoch_orders(len(data.x_train), args.epochs, seed=0)
    ours = train(
        data, hidden=args.hidden, epochs=args.epochs, batch_size=args.batch, params=p0
    )
    keras = oracle.train_keras(
        data.x_train,
        data.y_train,
        p0,
        orders,
        activation="tanh",
        head="softmax",
        learning_rate=0.125,
        batch_size=args.batch,
    )
    t_ours = statistics.median(ours.seconds_per_epoch[1:])
    t_keras = statistics.median(keras["seconds_per_epoch"][1:])
    gap = float(np.max(np.abs(np.subtract(ours.losses, keras["losses"]))))
    ratio = t_ours / t_keras
    print(
        f"digits, 64-{args.hidden}-10 tanh/softmax, batch {args.batch}, "
        f"{len(data.x_train)} training samples, float64, "
        f"median of {args.epochs - 1} epochs"
    )
    print(f"{'numpy (formulas + claims)':28s} {t_ours * 1e3:9.2f} ms/epoch")
    print(f"{'keras fit':28s} {t_keras * 1e3:9.2f} ms/epoch")
    print(f"largest loss difference over {args.epochs} epochs: {gap:.2e}")
    print(
        f"ratio ours ÷ keras: {ratio:.3f}   bar: ≤ {BAR:.1f}   "
        f"{'PASS' if ratio <= BAR else 'FAIL'}"
    )


if __name__ == "__main__":
    keep_freed_memory()  # as nnbook does: see nnmath.kernels
    machine.describe()
    main()
