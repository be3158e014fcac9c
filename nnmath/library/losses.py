"""Losses, each exactly as Keras computes it (mean over the last axis, then over
the batch), including Keras's clipping of probabilities to [ε, 1 − ε]."""

from __future__ import annotations

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input
from ..primitives import MaxShift, clip, inside, sigmoid, softplus
from ..registry import formula, register, register_claims
from ._symbols import K, N, j, k, n

eps = sp.Symbol("epsilon", positive=True)
EPSILON = 1e-7  # keras.config.epsilon()
_yhat, _y, _p, _z = (sp.IndexedBase(s) for s in ("yhat", "y", "p", "z"))


def _mean_over(expr: sp.Expr) -> sp.Expr:
    """Keras's reduction for per-class losses: mean over classes, then over the
    batch."""
    return sp.Sum(expr, (n, 0, N - 1), (k, 0, K - 1)) / (N * K)


def _sum_k(expr: sp.Expr) -> sp.Expr:
    return sp.Sum(expr, (n, 0, N - 1), (k, 0, K - 1))


def _loss(name, title, expr, inputs, tf, **kw) -> Formula:
    return Formula(
        name=name,
        title=title,
        output="L",
        indices=(),
        expr=expr,
        inputs=inputs,
        tf=tf,
        output_shape=(),
        **kw,
    )


def _targets(domain: str) -> Input:
    return Input("y", ("N", "K"), "targets", domain)


@register("mse")
def _mse() -> Formula:
    return _loss(
        "mse",
        "Mean squared error",
        _mean_over((_yhat[n, k] - _y[n, k]) ** 2),
        (Input("yhat", ("N", "K"), "predictions"), _targets("real")),
        "tf.reduce_mean(tf.keras.losses.mse(y, yhat))",
    )


@register("binary_crossentropy")
def _bce() -> Formula:
    pc = clip(_p[n, k], eps, 1 - eps)
    return _loss(
        "binary_crossentropy",
        "Binary cross-entropy on probabilities (clipped as Keras does)",
        -_mean_over(_y[n, k] * sp.log(pc) + (1 - _y[n, k]) * sp.log(1 - pc)),
        (Input("p", ("N", "K"), "predicted probabilities", "prob"), _targets("binary")),
        "tf.reduce_mean(tf.keras.losses.binary_crossentropy(y, p))",
        constants={"epsilon": EPSILON},
        notes="log(0) is −∞, so Keras clips p to [ε, 1 − ε] with ε = 1e-7 first; "
        "inside the clip the gradient is zero.",
    )


@register("binary_crossentropy_logits")
def _bce_logits() -> Formula:
    return _loss(
        "binary_crossentropy_logits",
        "Binary cross-entropy on logits (stable softplus form)",
        _mean_over(softplus(_z[n, k]) - _y[n, k] * _z[n, k]),
        (Input("z", ("N", "K"), "logits"), _targets("binary")),
        "tf.reduce_mean(tf.keras.losses.binary_crossentropy(y, z, from_logits=True))",
        notes="−y log σ(z) − (1−y) log(1−σ(z)) simplifies to log(1+e^z) − yz, which "
        "log-add-exp evaluates without overflow at any z.",
    )


@register("categorical_crossentropy")
def _cce() -> Formula:
    q = _p[n, k] / sp.Sum(_p[n, j], (j, 0, K - 1))
    return _loss(
        "categorical_crossentropy",
        "Categorical cross-entropy on probabilities (renormalised and clipped as "
        "Keras does)",
        -_sum_k(_y[n, k] * sp.log(clip(q, eps, 1 - eps))) / N,
        (
            Input("p", ("N", "K"), "predicted class probabilities", "simplex"),
            _targets("onehot"),
        ),
        "tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y, p))",
        constants={"epsilon": EPSILON},
        notes="Keras first divides p by its row sum, then clips to [ε, 1 − ε].",
    )


@register("categorical_crossentropy_logits")
def _cce_logits() -> Formula:
    m = MaxShift(_z[n, j], (j, 0, K - 1))
    lse = m + sp.log(sp.Sum(sp.exp(_z[n, j] - m), (j, 0, K - 1)))
    return _loss(
        "categorical_crossentropy_logits",
        "Categorical cross-entropy on logits (log-sum-exp, shifted by the max)",
        _sum_k(_y[n, k] * (lse - _z[n, k])) / N,
        (Input("z", ("N", "K"), "logits"), _targets("onehot")),
        "tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y, z, "
        "from_logits=True))",
        notes="log Σ e^{z_j} = m + log Σ e^{z_j − m} with m = max z: the same number, "
        "but no exponent exceeds 0.",
    )


@register_claims
def _claims() -> list[Claim]:
    sizes = {"N": 2, "K": 2}
    S = sp.Sum(_p[n, j], (j, 0, K - 1))
    q = _p[n, k] / S
    c, ins = clip(q, eps, 1 - eps), inside(q, eps, 1 - eps)
    qj = _p[n, j] / S
    lse_soft = sp.exp(_z[n, k] - MaxShift(_z[n, j], (j, 0, K - 1))) / sp.Sum(
        sp.exp(_z[n, j] - MaxShift(_z[n, j], (j, 0, K - 1))), (j, 0, K - 1)
    )
    pc = clip(_p[n, k], eps, 1 - eps)
    return [
        Claim(
            "mse/dyhat",
            formula("mse"),
            "yhat",
            2 * (_yhat[n, k] - _y[n, k]) / (N * K),
            "∂L/∂ŷ = 2(ŷ − y)/(NK)",
            indices=(n, k),
            sizes=sizes,
        ),
        Claim(
            "binary_crossentropy/dp",
            formula("binary_crossentropy"),
            "p",
            (pc - _y[n, k])
            / (pc * (1 - pc))
            * inside(_p[n, k], eps, 1 - eps)
            / (N * K),
            "∂L/∂p = (p − y)/(p(1 − p))/(NK) inside the clip, 0 where p is clipped",
            indices=(n, k),
            sizes=sizes,
        ),
        Claim(
            "binary_crossentropy_logits/dz",
            formula("binary_crossentropy_logits"),
            "z",
            (sigmoid(_z[n, k]) - _y[n, k]) / (N * K),
            "∂L/∂z = (σ(z) − y)/(NK)",
            indices=(n, k),
            sizes=sizes,
        ),
        Claim(
            "categorical_crossentropy/dp",
            formula("categorical_crossentropy"),
            "p",
            (
                sp.Sum(
                    _y[n, j] * inside(qj, eps, 1 - eps) * qj / clip(qj, eps, 1 - eps),
                    (j, 0, K - 1),
                )
                - _y[n, k] * ins / c
            )
            / (N * S),
            "∂L/∂p_k = (Σ_j y_j q_j/q̂_j [q_j unclipped] − y_k/q̂_k [q_k unclipped])"
            "/(N Σp), q = p/Σp, q̂ = clip(q): for one-hot y and Σp = 1, "
            "(1 − y_k/p_k)/N",
            indices=(n, k),
            sizes={"N": 2, "K": 2},
        ),
        Claim(
            "categorical_crossentropy_logits/dz",
            formula("categorical_crossentropy_logits"),
            "z",
            (lse_soft - _y[n, k]) / N,
            "∂L/∂z = (softmax(z) − y)/N, for one-hot y",
            indices=(n, k),
            sizes=sizes,
        ),
    ]
