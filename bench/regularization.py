"""The digits MLP with batch norm and with dropout: test accuracy and epoch time.

    .venv/bin/python bench/regularization.py [--hidden 64] [--epochs 30] [--seeds 3]

For each seed (the initial weights, the batch order and the dropout masks):
test accuracy of the plain MLP, with dropout at 0.3 and 0.5 (nnbook's formulas,
masks drawn in NumPy), and with batch norm; then one batch-norm epoch, ours vs
Keras ``fit`` (median of the epochs after the first, which Keras spends tracing).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import machine
from nnmath.runs.regularized import init_batch_norm, train_batch_norm, train_dropout
from nnmath.runs.training import epoch_orders, load, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    data = load("digits")
    rows = {"plain": [], "dropout 0.3": [], "dropout 0.5": [], "batch norm": []}
    for seed in range(args.seeds):
        common = {"hidden": args.hidden, "epochs": args.epochs, "seed": seed}
        rows["plain"].append(train(data, **common).test_accuracy)
        for rate in (0.3, 0.5):
            run = train_dropout(data, rate=rate, **common)
            rows[f"dropout {rate}"].append(run.test_accuracy)
        rows["batch norm"].append(train_batch_norm(data, **common).test_accuracy)
    print(
        f"digits, 64-{args.hidden}-10 tanh MLP, SGD 0.125, batch 32, "
        f"{args.epochs} epochs; test accuracy (450 held-out digits) per seed:"
    )
    for name, acc in rows.items():
        cells = " ".join(f"{a:.3f}" for a in acc)
        print(f"  {name:12s} {cells}   mean {np.mean(acc):.3f}")

    from nnmath.checker import oracle

    epochs = 4
    p0 = init_batch_norm(64, 32, 10, seed=0)
    ours = train_batch_norm(data, hidden=32, epochs=epochs, params=p0)
    keras = oracle.train_keras(
        data.x_train,
        data.y_train,
        p0,
        epoch_orders(len(data.x_train), epochs, seed=0),
        activation="tanh",
        head="softmax",
        learning_rate=0.125,
        batch_size=32,
        batch_norm=True,
    )
    a = statistics.median(ours.seconds_per_epoch[1:])
    b = statistics.median(keras["seconds_per_epoch"][1:])
    print(
        f"batch-norm epoch (64-32-10): ours {a * 1e3:.1f} ms, Keras fit "
        f"{b * 1e3:.1f} ms, ratio {a / b:.2f}"
    )


if __name__ == "__main__":
    machine.describe()
    main()
