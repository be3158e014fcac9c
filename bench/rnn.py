"""One epoch of the recurrent digit classifiers (digits read row by row, 8
steps of 8 pixels): our NumPy training (the cell's formulas forward, its claims
back through time) vs Keras ``fit``.

    .venv/bin/python bench/rnn.py [--network rnn lstm] [--units 32] [--batch 32]
                                  [--epochs 4]

Both train the same SimpleRNN or LSTM with a dense readout on the last hidden
state (softmax cross-entropy, SGD) from the same initial weights in the same
batch order, in float64, on all 1,348 training sequences.  The first epoch is
warm-up (our lowering compiles, Keras traces its train step); the median of the
others is compared.  Prints the ratio ours ÷ Keras and PASS/FAIL against the
bar (ours at most 1.0× Keras, as for the MLP), the largest loss difference and
both test accuracies.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import machine
from nnmath.checker import oracle
from nnmath.kernels import keep_freed_memory
from nnmath.runs.recurrent import digit_rows, train

BAR = 1.0  # ours ÷ Keras, per epoch
LAYER = {"rnn": "SimpleRNN", "lstm": "LSTM"}


def bench(network: str, units: int, batch: int, epochs: int) -> None:
    data = digit_rows()
    ours = train(data, network, units=units, epochs=epochs, batch_size=batch)
    keras = oracle.train_rnn_keras(
        data.x_train,
        data.y_train,
        ours.initial,
        ours.orders,
        layer=LAYER[network],
        learning_rate=ours.learning_rate,
        batch_size=batch,
        x_test=data.x_test,
    )
    t_ours = statistics.median(ours.seconds_per_epoch[1:])
    t_keras = statistics.median(keras["seconds_per_epoch"][1:])
    gap = float(np.max(np.abs(np.subtract(ours.losses, keras["losses"]))))
    keras_accuracy = float(
        np.mean(keras["test_logits"].argmax(1) == data.y_test.argmax(1))
    )
    ratio = t_ours / t_keras
    print(
        f"{LAYER[network]} of {units} units + dense readout, digits as 8 rows of "
        f"8 pixels, {len(data.x_train)} training sequences, batch {batch}, SGD "
        f"{ours.learning_rate}, float64, median of {epochs - 1} epochs"
    )
    print(f"{'numpy (formulas + claims)':28s} {t_ours * 1e3:9.2f} ms/epoch")
    print(f"{'keras fit':28s} {t_keras * 1e3:9.2f} ms/epoch")
    print(f"largest loss difference over {epochs} epochs: {gap:.2e}")
    print(
        f"test accuracy after {epochs} epochs: ours {ours.test_accuracy:.3f}, "
        f"keras {keras_accuracy:.3f}"
    )
    print(
        f"ratio ours ÷ keras: {ratio:.3f}   bar: ≤ {BAR:.1f}   "
        f"{'PASS' if ratio <= BAR else 'FAIL'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", nargs="+", choices=LAYER, default=list(LAYER))
    ap.add_argument("--units", type=int, default=32)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    for network in args.network:
        bench(network, args.units, args.batch, args.epochs)


if __name__ == "__main__":
    keep_freed_memory()
    machine.describe()
    main()
