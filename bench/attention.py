"""One epoch of the character transformer on the Zen of Python: our NumPy
training (the registered formulas forward, the claims' gradients backward) vs
Keras ``fit``.

    .venv/bin/python bench/attention.py [--batch 8] [--epochs 4]

Both train the same post-LN block (embedding + positional encoding, 2 causal
heads of width 4, layer norms, a relu feed-forward, a dense readout) from the
same initial weights in the same batch order, in float64.  The first epoch is
warm-up (our lowering compiles, Keras traces its train step); the median of the
others is compared.  Prints the ratio ours ÷ Keras and PASS/FAIL against the bar
(ours at most 1.0× Keras).
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np

import machine
from nnmath.checker import oracle
from nnmath.kernels import keep_freed_memory
from nnmath.runs.transformer import corpus, train

BAR = 1.0  # ours ÷ Keras, per epoch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    text = corpus()
    x, y = text.windows
    ours = train(text, epochs=args.epochs, batch_size=args.batch)
    net = ours.model
    keras = oracle.train_transformer_keras(
        x,
        y,
        ours.initial,
        ours.orders,
        heads=net.heads,
        key_dim=net.key_dim,
        positional=net.pe.tf,
        learning_rate=0.5,
        batch_size=args.batch,
    )
    t_ours = statistics.median(ours.seconds_per_epoch[1:])
    t_keras = statistics.median(keras["seconds_per_epoch"][1:])
    gap = float(np.max(np.abs(np.subtract(ours.losses, keras["losses"]))))
    ratio = t_ours / t_keras
    print(
        f"Zen of Python, {len(x)} windows of {x.shape[1]} characters, "
        f"{len(text.alphabet)} symbols, {net.heads} heads of {net.key_dim}, "
        f"width {net.width}, batch {args.batch}, float64, "
        f"median of {args.epochs - 1} epochs"
    )
    print(f"{'numpy (formulas + claims)':28s} {t_ours * 1e3:9.2f} ms/epoch")
    print(f"{'keras fit':28s} {t_keras * 1e3:9.2f} ms/epoch")
    print(f"largest loss difference over {args.epochs} epochs: {gap:.2e}")
    print(
        f"ratio ours/keras {ratio:.2f} (bar {BAR:.1f}): "
        f"{'PASS' if ratio <= BAR else 'FAIL'}"
    )


if __name__ == "__main__":
    keep_freed_memory()
    machine.describe()
    main()
