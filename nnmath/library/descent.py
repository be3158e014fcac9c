"""Gradient descent: the linear-regression loss of the classic worked example, its
gradient as claims, and the batch, mini-batch and stochastic update rules.

The three rules differ only in which samples' gradients are averaged: all N of
them, the B of one mini-batch, or a single one.  They are written over the
per-sample gradients ``G[n, p] = ∂ℓ_n/∂θ_p`` so that each sample's share of the
step is visible.
"""

from __future__ import annotations

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, dims, indices
from ..params import Real
from ..registry import formula, register, register_claims
from ..update_rules import NoKeras, keras_rule
from ._symbols import N, n

__all__ = ["LEARNING_RATE"]

#: the learning rate the rules default to (Keras's SGD default)
LEARNING_RATE = 0.01
#: a step along −g: a learning rate of 0 or below does not descend
_RATE = {"learning_rate": Real(0, low_open=True)}

p, b_ = indices("p b")
P, B = dims("P B")
eta = sp.Symbol("eta", positive=True)
_x, _y, _G, _theta = (sp.IndexedBase(s) for s in ("x", "y", "G", "theta"))
_w, _b = sp.symbols("w b")


def _residual() -> sp.Expr:
    """The prediction error of sample n: w x_n + b − y_n."""
    return _w * _x[n] + _b - _y[n]


@register("linreg_mse")
def _linreg_mse() -> Formula:
    return Formula(
        name="linreg_mse",
        title="Linear regression: mean squared error of w x + b",
        output="L",
        indices=(),
        expr=sp.Sum(_residual() ** 2, (n, 0, N - 1)) / N,
        inputs=(
            Input("x", ("N",), "inputs, one number per sample"),
            Input("y", ("N",), "targets, one number per sample"),
            Input("w", (), "weight"),
            Input("b", (), "bias"),
        ),
        tf="tf.reduce_mean(tf.square(w * x + b - y))",
        notes="x and y must both have shape (N,): an x of shape (N, 1) would "
        "broadcast against y into an N×N matrix of errors.",
    )


def _rule(
    name: str,
    title: str,
    expr: sp.Expr,
    grads: Input,
    tf: str,
    learning_rate: float,
    keras,
) -> Formula:
    return Formula(
        name=name,
        title=title,
        output=r"\theta'",
        indices=(p,),
        expr=expr,
        inputs=(Input("theta", ("P",), "parameters before the step"), grads),
        tf=tf,
        output_shape=("P",),
        params={"learning_rate": learning_rate},
        constants={"eta": learning_rate},
        keras=keras,
    )


#: why the averaging rules have no Keras optimizer to be checked against
_AVERAGES = NoKeras(
    "tf.keras.optimizers.SGD takes one gradient per step; this "
    "rule first averages per-sample gradients G (its one-sample "
    "case, gd_stochastic, is checked against Keras SGD)"
)


def _averaged(
    name: str,
    title: str,
    index: sp.Symbol,
    size: sp.Symbol,
    samples: str,
    learning_rate: float,
) -> Formula:
    """θ minus η times the mean of the per-sample gradients over ``size`` samples."""
    mean = sp.Sum(_G[index, p], (index, 0, size - 1)) / size
    return _rule(
        name,
        title,
        _theta[p] - eta * mean,
        Input("G", (size.name, "P"), f"per-sample gradients of {samples}"),
        f"theta - {learning_rate!r} * tf.reduce_mean(G, axis=0)",
        learning_rate,
        _AVERAGES,
    )


@register("gd_batch", params=_RATE)
def _gd_batch(learning_rate: float = LEARNING_RATE) -> Formula:
    return _averaged(
        "gd_batch",
        "Batch gradient descent: the mean gradient over all N samples",
        n,
        N,
        "every sample",
        learning_rate,
    )


@register("gd_minibatch", params=_RATE)
def _gd_minibatch(learning_rate: float = LEARNING_RATE) -> Formula:
    return _averaged(
        "gd_minibatch",
        "Mini-batch gradient descent: the mean gradient over B samples",
        b_,
        B,
        "the mini-batch's samples",
        learning_rate,
    )


@register("gd_stochastic", params=_RATE)
def _gd_stochastic(learning_rate: float = LEARNING_RATE) -> Formula:
    return _rule(
        "gd_stochastic",
        "Stochastic gradient descent: the gradient of one sample",
        _theta[p] - eta * _G[p],
        Input("G", ("P",), "the gradient of one sample"),
        f"theta - {learning_rate!r} * G",
        learning_rate,
        # Keras SGD fed the one sample's gradient G as its g
        keras_rule("SGD", learning_rate=learning_rate, inputs={"G": "g"}),
    )


@register("quadratic")
def _quadratic() -> Formula:
    i, j = indices("i j")
    return Formula(
        name="quadratic",
        title="Quadratic bowl ½ θᵀAθ (ill-conditioned when A's "
        "eigenvalues differ a lot)",
        output="L",
        indices=(),
        expr=sp.Sum(
            _theta[i] * sp.IndexedBase("A")[i, j] * _theta[j],
            (i, 0, P - 1),
            (j, 0, P - 1),
        )
        / 2,
        inputs=(
            Input("theta", ("P",), "parameters"),
            Input("A", ("P", "P"), "curvature matrix"),
        ),
        tf="tf.reduce_sum(theta * tf.linalg.matvec(A, theta)) / 2",
    )


@register_claims
def _claims() -> list[Claim]:
    g, _A = sp.IndexedBase("g"), sp.IndexedBase("A")
    j = indices("j")
    sizes = {"N": 3, "P": 2, "B": 2}
    return [
        Claim(
            "linreg_mse/dw",
            formula("linreg_mse"),
            "w",
            2 * sp.Sum(_residual() * _x[n], (n, 0, N - 1)) / N,
            "∂L/∂w = (2/N) Σ (w x + b − y) x",
            sizes={"N": 3},
        ),
        Claim(
            "linreg_mse/db",
            formula("linreg_mse"),
            "b",
            2 * sp.Sum(_residual(), (n, 0, N - 1)) / N,
            "∂L/∂b = (2/N) Σ (w x + b − y)",
            sizes={"N": 3},
        ),
        Claim(
            "quadratic/dtheta",
            formula("quadratic"),
            "theta",
            sp.Sum((_A[p, j] + _A[j, p]) * _theta[j], (j, 0, P - 1)) / 2,
            "∇L = ½(A + Aᵀ)θ, which is Aθ for a symmetric A",
            indices=(p,),
            sizes={"P": 2},
        ),
        Claim(
            "gd_batch/dtheta",
            formula("gd_batch"),
            "theta",
            g[p],
            "∂θ'/∂θ = 1: the step is computed at θ, then θ is shifted by it",
            indices=(p,),
            sizes=sizes,
        ),
        Claim(
            "gd_minibatch/dtheta",
            formula("gd_minibatch"),
            "theta",
            g[p],
            "∂θ'/∂θ = 1: the step is computed at θ, then θ is shifted by it",
            indices=(p,),
            sizes=sizes,
        ),
        Claim(
            "gd_stochastic/dG",
            formula("gd_stochastic"),
            "G",
            -eta * g[p],
            "the one sample's gradient moves θ by −η times itself",
            indices=(p,),
            sizes=sizes,
        ),
    ]
