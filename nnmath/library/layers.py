"""The neuron and the dense layer: weighted sums plus a bias."""

from __future__ import annotations

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input
from ..params import Choice
from ..registry import formula, register, register_claims
from ._symbols import I, J, N, i, j, n
from .activations import SCALAR, TF_FUNCTION, activation_of


@register("neuron", params={"activation": Choice(tuple(SCALAR))})
def _neuron(activation: str = "sigmoid") -> Formula:
    x, w = sp.IndexedBase("x"), sp.IndexedBase("w")
    b = sp.Symbol("b")
    zsum = sp.Sum(w[j] * x[n, j], (j, 0, J - 1)) + b
    return Formula(
        name="neuron",
        title=f"One neuron: weighted sum, bias, {activation}",
        output="a",
        indices=(n,),
        expr=activation_of(activation, zsum),
        inputs=(
            Input("x", ("N", "J"), "inputs, one row per sample"),
            Input("w", ("J",), "weights"),
            Input("b", (), "bias"),
        ),
        tf=f"{TF_FUNCTION[activation]}(tf.linalg.matvec(x, w) + b)",
        output_shape=("N",),
        params={"activation": activation},
        constants={"alpha": 0.2} if activation == "leaky_relu" else {},
    )


@register("dense")
def _dense() -> Formula:
    x, W, b = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("b")
    return Formula(
        name="dense",
        title="Dense layer z = Wx + b, over a batch",
        output="z",
        indices=(n, i),
        expr=sp.Sum(W[i, j] * x[n, j], (j, 0, J - 1)) + b[i],
        inputs=(
            Input("x", ("N", "J"), "inputs, one row per sample"),
            Input("W", ("I", "J"), "weights: row i feeds output i"),
            Input("b", ("I",), "biases"),
        ),
        tf="tf.matmul(x, W, transpose_b=True) + b",
        output_shape=("N", "I"),
    )


@register_claims
def _claims() -> list[Claim]:
    dense = formula("dense")
    g, x, W = sp.IndexedBase("g"), sp.IndexedBase("x"), sp.IndexedBase("W")
    sizes = {"N": 2, "I": 2, "J": 3}
    return [
        Claim(
            "dense/dW",
            dense,
            "W",
            sp.Sum(g[n, i] * x[n, j], (n, 0, N - 1)),
            "∂L/∂W = gᵀx: each weight's gradient sums upstream × input over the batch",
            indices=(i, j),
            sizes=sizes,
        ),
        Claim(
            "dense/dx",
            dense,
            "x",
            sp.Sum(g[n, i] * W[i, j], (i, 0, I - 1)),
            "∂L/∂x = g W: the gradient flows back through the transposed weights",
            indices=(n, j),
            sizes=sizes,
        ),
        Claim(
            "dense/db",
            dense,
            "b",
            sp.Sum(g[n, i], (n, 0, N - 1)),
            "∂L/∂b = Σ_n g: the bias gradient sums the upstream gradient over the "
            "batch",
            indices=(i,),
            sizes=sizes,
        ),
    ]
