"""Chapter 1's worked example, which chapters 2 and 5 take up again: one real
iris flower through one neuron and through a 4-8-3 network (see :func:`example`).
"""

from __future__ import annotations

import numpy as np

from ..registry import formula
from ..worked import worked
from .data import bundled
from .training import glorot_uniform

__all__ = ["HIDDEN", "SEED", "example"]

SEED = 5
HIDDEN = "tanh"  # the hidden layer's activation


def example() -> dict:
    """The worked example: one real iris flower, a neuron and a 4-8-3 network.

    Inputs and weights are rounded to two decimals, so the numbers on screen are
    exactly the numbers computed with: a reader can redo every sum by hand.
    Every derived number comes from nnmath's lowered NumPy.
    """
    iris = bundled("iris")  # ships with scikit-learn: no download
    rng = np.random.default_rng(SEED)
    n = int(rng.integers(len(iris.data)))
    mean, std = iris.data.mean(axis=0), iris.data.std(axis=0)
    x = np.round((iris.data[n] - mean) / std, 2)[None, :]  # (1, 4), standardized

    # one neuron: 4 weights and a bias
    w = np.round(rng.uniform(-1, 1, size=4), 2)
    b = np.float64(np.round(rng.uniform(-0.5, 0.5), 2))
    dense, neuron = formula("dense"), formula("neuron", activation="sigmoid")
    wsum = dense.numpy(x=x, W=w[None, :], b=np.zeros(1))[0, 0]  # Σ w_j x_j
    z = dense.numpy(x=x, W=w[None, :], b=np.array([b]))[0, 0]  # + b
    a = neuron.numpy(x=x, w=w, b=b)[0]
    terms = worked(neuron, {"x": x, "w": w, "b": b}).sum_terms()  # each w_j x_j

    # the 4-8-3 network: dense → tanh → dense → softmax
    W1 = np.round(glorot_uniform(rng, (8, 4), fan_in=4, fan_out=8), 2)
    b1 = np.round(rng.uniform(-0.5, 0.5, 8), 2)
    W2 = np.round(glorot_uniform(rng, (3, 8), fan_in=8, fan_out=3), 2)
    b2 = np.round(rng.uniform(-0.5, 0.5, 3), 2)
    z1 = dense.numpy(x=x, W=W1, b=b1)
    a1 = formula(HIDDEN).numpy(z=z1)
    z2 = dense.numpy(x=a1, W=W2, b=b2)
    p = formula("softmax").numpy(z=z2)
    return {
        "seed": SEED,
        "sample": n,
        "features": [f.replace(" (cm)", "") for f in iris.feature_names],
        "raw": iris.data[n].copy(),
        "mean": mean,
        "std": std,
        "x": x,
        "class_names": [str(c) for c in iris.target_names],
        "target": int(iris.target[n]),
        "w": w,
        "b": b,
        "terms": np.array(terms),
        "wsum": float(wsum),
        "z": float(z),
        "a": float(a),
        "W1": W1,
        "b1": b1,
        "z1": z1,
        "a1": a1,
        "W2": W2,
        "b2": b2,
        "z2": z2,
        "p": p,
        "predicted": int(np.argmax(p[0])),
    }
