"""Regularization and normalization, each exactly as Keras 3 computes it.

What Keras does (keras/src/layers/regularization/dropout.py,
layers/normalization/*.py, regularizers/regularizers.py and the TensorFlow ops
they call: nn_ops.py's dropout, nn_impl.py's moments and batch_normalization),
and so what these formulas say:

* ``Dropout(rate)`` is *inverted* dropout: in training, the kept units are scaled
  by 1/(1 − rate), ``where(mask, x·(1/(1 − rate)), 0)``; at inference the layer
  is the identity.  A dropped unit is exactly 0 even where x is NaN or ∞.
* ``BatchNormalization`` in training normalises each feature by the batch's
  mean and *biased* variance (divided by N, not N − 1), as
  ``x·inv + (β − μ·inv)`` with ``inv = rsqrt(σ² + ε)·γ`` and ε = 1e-3; it then
  moves its moving statistics by ``s·momentum + batch·(1 − momentum)``
  (momentum 0.99, the same biased variance).  At inference it uses the moving
  statistics instead.
* ``LayerNormalization`` does the same over the last axis of each sample, with
  its own ε = 1e-3.
* ``L2(l2)`` adds ``l2·Σw²`` to the loss: no ½, so its gradient is 2·l2·w.

Every formula is written in Keras's order of operations (the lowering keeps a
sum or product written unevaluated as written, and :class:`reciprocal` as one
division), so where the reductions agree the NumPy is bit-for-bit Keras's.

Bad input is refused with the valid range: a rate outside [0, 1), a mask that
is not 0/1 (or not shaped like x), ε ≤ 0, a momentum outside [0, 1], and a
batch of one in training mode, whose variance is 0.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, defined, indices
from ..keras_layer import keras_layer
from ..params import Flag, Real
from ..primitives import reciprocal
from ..registry import claim, formula, register, register_claims
from ._symbols import I, J, N, i, j, n

__all__ = [
    "BN_PATHS",
    "bn_backward_compact",
    "bn_backward_paths",
    "bn_backward_terms",
    "bn_path_gradients",
    "float32_rounding",
    "moments",
]

# bound indices: m and q run over the batch (or, in layer norm, the features)
m, q = indices("m q")
x, gamma, beta, mask, w, g = (
    sp.IndexedBase(s) for s in ("x", "gamma", "beta", "mask", "w", "g")
)
moving_mean, moving_variance = (
    sp.IndexedBase("moving_mean"),
    sp.IndexedBase("moving_variance"),
)
# named parts, as printed
mu, var, xhat, scale = (
    sp.IndexedBase(s) for s in (r"\mu", r"\sigma^{2}", r"\hat{x}", "s")
)
d_xhat, d_var, d_mu = (
    sp.IndexedBase(s)
    for s in (r"\delta^{\hat{x}}", r"\delta^{\sigma^{2}}", r"\delta^{\mu}")
)
eps = sp.Symbol("epsilon", positive=True)
p = sp.Symbol("p", positive=True)  # the dropout rate, Keras's ``rate``
momentum = sp.Symbol("momentum", positive=True)
lam = sp.Symbol("lamda", positive=True)  # printed λ; "lambda" is a Python keyword

EPSILON = 1e-3  # BatchNormalization and LayerNormalization's default
MOMENTUM = 0.99  # BatchNormalization's default
RATE = 0.3  # a rate where 1/rate, 1/(1 − rate) and 1 all differ
L2 = 0.01  # keras.regularizers.L2's default

#: each parameter's type and valid range, checked by the registry
_EPSILON = {"epsilon": Real(0, low_open=True)}
_MOMENTUM = {"momentum": Real(0, 1)}


def float32_rounding(value: float) -> float:
    """How far Keras moves a Python-float hyperparameter it casts through float32
    (``ops.cast(0.01, "float64")`` is 0.009999999776482582), relative to it."""
    return abs(float(np.float32(value)) - value) / abs(value) if value else 0.0


@dataclass(frozen=True)
class _BatchOfTwo:
    """Formula.check_sizes: normalising over ``axis`` needs two values or more."""

    name: str
    axis: str
    what: str

    def __call__(self, sizes: dict) -> None:
        if sizes[self.axis] >= 2:
            return
        raise ValueError(
            f"{self.name}: {self.axis}={sizes[self.axis]} {self.what}; with fewer than "
            "2 values the variance is 0 and x − μ is 0, so the output is β whatever x "
            f"is and no gradient reaches x; valid: {self.axis} ≥ 2"
            + (
                " (for single samples use batch_norm_inference, with the moving "
                "statistics)"
                if self.axis == "N"
                else ""
            )
        )


@dataclass(frozen=True)
class _ZeroOne:
    """Formula.check_inputs: a dropout mask holds only 0 (dropped) and 1 (kept)."""

    name: str

    def __call__(self, arrays: dict) -> None:
        bad = ~np.isin(arrays["mask"], (0, 1))
        if bad.any():
            at = tuple(int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"{self.name}: mask[{', '.join(map(str, at))}] = "
                f"{float(arrays['mask'][at])!r}; valid: a mask of 0 (dropped) and 1 "
                "(kept) only, shaped like x"
            )


# -- dropout -------------------------------------------------------------------
@register("dropout", params={"rate": Real(0, 1, high_open=True), "training": Flag()})
def _dropout(rate: float = RATE, training: bool = True) -> Formula:
    X = Input("x", ("N", "I"), "activations, one row per sample")
    if not training:
        return Formula(
            name="dropout",
            title="Dropout at inference: the identity",
            output="y",
            indices=(n, i),
            expr=x[n, i],
            inputs=(X,),
            tf="tf.identity(x)",
            output_shape=("N", "I"),
            params={"rate": rate, "training": False},
            constants={"p": float(rate)},
            keras=keras_layer(
                "Dropout", {"rate": float(rate)}, {"x": "inputs"}, training=False
            ),
            notes="Inverted dropout scaled the kept units up in training, so the "
            "expected activation is already x: nothing is scaled at test time.",
        )
    kept = sp.Mul(x[n, i], reciprocal(1 - p), evaluate=False)
    return Formula(
        name="dropout",
        title="Inverted dropout in training",
        output="y",
        indices=(n, i),
        expr=sp.Piecewise((kept, sp.Eq(mask[n, i], 1)), (0, True)),
        inputs=(X, Input("mask", ("N", "I"), "1 keeps a unit, 0 drops it", "binary")),
        tf=f"tf.where(mask == 1, x * (1 / (1 - {float(rate)!r})), tf.zeros_like(x))",
        output_shape=("N", "I"),
        params={"rate": rate, "training": True},
        constants={"p": float(rate)},
        check_inputs=_ZeroOne("dropout"),
        keras=keras_layer(
            "Dropout",
            {"rate": float(rate)},
            {"x": "inputs", "mask": "mask"},
            training=True,
        ),
        notes="p is Keras's rate, the probability of dropping a unit. The kept units "
        "are multiplied by 1/(1 − p) (computed once, as Keras does), so each "
        "unit's expected value is x and inference needs no scaling; a dropped "
        "unit is exactly 0, even where x is NaN or ∞.",
    )


# -- batch normalization -----------------------------------------------------------
def moments(over: str) -> tuple:
    """The named parts ((μ, its definition), (σ², its definition)): over the
    batch for each feature i (``over="N"``) or over the features of each sample
    n (``"I"``): μ = Σx/size and the biased σ² = Σ(x − μ)²/size."""
    if over == "N":
        at, size, read, read2 = i, N, x[q, i], x[m, i]
    else:
        at, size, read, read2 = n, I, x[n, q], x[n, m]
    return (
        (mu[at], sp.Sum(read, (q, 0, size - 1)) / size),
        (var[at], sp.Sum((read2 - mu[at]) ** 2, (m, 0, size - 1)) / size),
    )


def _affine(s_at: sp.Indexed, mean_at: sp.Expr, beta_at: sp.Expr) -> sp.Expr:
    """``x·s + (β − μ·s)``, in Keras's order (a sum inside a sum stays one)."""
    return sp.Add(
        sp.Mul(x[n, i], s_at, evaluate=False),
        sp.Add(beta_at, -sp.Mul(mean_at, s_at, evaluate=False), evaluate=False),
        evaluate=False,
    )


def _inv(var_at: sp.Expr) -> sp.Expr:
    """Keras's ``inv = rsqrt(σ² + ε)·γ``."""
    return sp.Mul(reciprocal(sp.sqrt(var_at + eps)), gamma[i], evaluate=False)


_GAMMA = Input("gamma", ("I",), "scale γ, one per feature")
_BETA = Input("beta", ("I",), "shift β, one per feature")
_X = Input("x", ("N", "I"), "pre-activations, one row per sample")
# sizes that tell N and I apart (no two equal, none the square of another); N = 2
# is the smallest batch: each feature's two values normalise to about ±1
_BN_CASES = (
    ("N=5, I=3", {"N": 5, "I": 3}),
    ("N=16, I=7", {"N": 16, "I": 7}),
    ("N=2, I=3, the smallest batch", {"N": 2, "I": 3}),
)
_ONE_SAMPLE = "is a batch of one in training mode"


@register("batch_norm", params=_EPSILON)
def _batch_norm(epsilon: float = EPSILON) -> Formula:
    shown = _affine(scale[i], mu[i], beta[i])
    where = (*moments("N"), (scale[i], _inv(var[i])))
    return Formula(
        name="batch_norm",
        title="Batch normalization in training (batch statistics)",
        output="y",
        indices=(n, i),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        inputs=(_X, _GAMMA, _BETA),
        tf=f"tf.nn.batch_normalization(x, *tf.nn.moments(x, axes=[0]), beta, gamma, "
        f"{epsilon!r})",
        output_shape=("N", "I"),
        params={"epsilon": epsilon},
        constants={"epsilon": epsilon},
        cases=_BN_CASES,
        check_sizes=_BatchOfTwo("batch_norm", "N", _ONE_SAMPLE),
        keras=keras_layer(
            "BatchNormalization",
            {"epsilon": epsilon},
            {"x": "inputs", "gamma": "gamma", "beta": "beta"},
            training=True,
        ),
        notes="γ(x − μ)/√(σ² + ε) + β, rearranged as Keras computes it. σ² is the "
        "biased (population) variance, divided by N: Keras's tf.nn.moments "
        "('sample variance, not unbiased variance'), for the output and for "
        "the moving variance alike.",
    )


@register("batch_norm_inference", params=_EPSILON)
def _batch_norm_inference(epsilon: float = EPSILON) -> Formula:
    shown = _affine(scale[i], moving_mean[i], beta[i])
    where = ((scale[i], _inv(moving_variance[i])),)
    return Formula(
        name="batch_norm_inference",
        title="Batch normalization at inference (moving statistics)",
        output="y",
        indices=(n, i),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        inputs=(
            _X,
            _GAMMA,
            _BETA,
            Input("moving_mean", ("I",), "moving mean of each feature"),
            Input("moving_variance", ("I",), "moving variance of each feature", "prob"),
        ),
        tf=f"tf.nn.batch_normalization(x, moving_mean, moving_variance, beta, gamma, "
        f"{epsilon!r})",
        output_shape=("N", "I"),
        params={"epsilon": epsilon},
        constants={"epsilon": epsilon},
        keras=keras_layer(
            "BatchNormalization",
            {"epsilon": epsilon},
            {
                "x": "inputs",
                "gamma": "gamma",
                "beta": "beta",
                "moving_mean": "moving_mean",
                "moving_variance": "moving_variance",
            },
            training=False,
        ),
        notes="The same affine map with the moving statistics in place of the "
        "batch's: each sample is normalised alone, a batch of one included.",
    )


def _moving(name: str, which: str, momentum_: float) -> Formula:
    where = moments("N")[: 1 if which == "mean" else 2]
    old = {"mean": moving_mean, "variance": moving_variance}[which]
    shown = sp.Add(
        sp.Mul(old[i], momentum, evaluate=False),
        sp.Mul(where[-1][0], 1 - momentum, evaluate=False),
        evaluate=False,
    )
    title = f"moving {which}"
    return Formula(
        name=name,
        title=f"Batch normalization: the {title} after a training call",
        output=f"moving_{which}'",
        indices=(i,),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        inputs=(
            Input(
                f"moving_{which}",
                ("I",),
                f"{title} before the call",
                "prob" if which == "variance" else "real",
            ),
            _X,
        ),
        tf=f"moving_{which} * {momentum_!r} + tf.nn.moments(x, axes=[0])"
        f"[{0 if which == 'mean' else 1}] * (1.0 - {momentum_!r})",
        output_shape=("I",),
        params={"momentum": momentum_},
        constants={"momentum": float(momentum_)},
        cases=_BN_CASES,
        check_sizes=_BatchOfTwo(name, "N", _ONE_SAMPLE),
        keras=keras_layer(
            "BatchNormalization",
            {"momentum": float(momentum_)},
            {"x": "inputs", f"moving_{which}": f"moving_{which}"},
            training=True,
            output=f"moving_{which}",
        ),
        notes="An exponential moving average, moved by every training call; "
        + (
            "the batch variance is the biased one, as in the output; Keras "
            "starts it at 1."
            if which == "variance"
            else "Keras starts it at 0."
        ),
    )


@register("batch_norm_moving_mean", params=_MOMENTUM)
def _moving_mean(momentum: float = MOMENTUM) -> Formula:
    return _moving("batch_norm_moving_mean", "mean", momentum)


@register("batch_norm_moving_variance", params=_MOMENTUM)
def _moving_variance(momentum: float = MOMENTUM) -> Formula:
    return _moving("batch_norm_moving_variance", "variance", momentum)


# -- layer normalization -------------------------------------------------------
@register("layer_norm", params=_EPSILON)
def _layer_norm(epsilon: float = EPSILON) -> Formula:
    shown = _affine(scale[n, i], mu[n], beta[i])
    where = (*moments("I"), (scale[n, i], _inv(var[n])))
    return Formula(
        name="layer_norm",
        title="Layer normalization (over each sample's features)",
        output="y",
        indices=(n, i),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        inputs=(
            Input("x", ("N", "I"), "features, one row per sample (or token)"),
            _GAMMA,
            _BETA,
        ),
        # the same op as batch norm, with the moments of each sample's features
        tf=f"tf.nn.batch_normalization(x, *tf.nn.moments(x, axes=[-1], keepdims=True), "
        f"beta, gamma, {epsilon!r})",
        output_shape=("N", "I"),
        params={"epsilon": epsilon},
        constants={"epsilon": epsilon},
        check_sizes=_BatchOfTwo("layer_norm", "I", "is a single feature"),
        keras=keras_layer(
            "LayerNormalization",
            {"epsilon": epsilon},
            {"x": "inputs", "gamma": "gamma", "beta": "beta"},
        ),
        notes="Each sample is normalised over its own features (the last axis), so "
        "it behaves the same in training and at inference, for any batch "
        "size. The variance is the biased one, divided by the number of "
        "features.",
    )


# -- L2 ------------------------------------------------------------------------
@register("l2_penalty", params={"l2": Real(0)})
def _l2_penalty(l2: float = L2) -> Formula:
    rounding = float32_rounding(float(l2))
    held = float(np.float32(l2))
    return Formula(
        name="l2_penalty",
        title="L2 penalty (Keras's L2 regularizer: no ½)",
        output=r"\Omega",
        indices=(),
        expr=lam * sp.Sum(w[j, i] ** 2, (j, 0, J - 1), (i, 0, I - 1)),
        inputs=(Input("w", ("J", "I"), "a Dense kernel: inputs × units"),),
        tf=f"{float(l2)!r} * tf.reduce_sum(tf.square(w))",
        output_shape=(),
        params={"l2": l2},
        constants={"lamda": float(l2)},
        keras=keras_layer(
            "Dense",
            {"kernel_regularizer": {"class_name": "L2", "config": {"l2": float(l2)}}},
            {"w": "kernel"},
            output="losses",
            sized={"units": "I"},
            build=("J",),
            # regularizers.py: ops.cast(self.l2, x.dtype) goes through float32
            tolerance={"float64": (max(1e-10, 2 * rounding), 1e-12)}
            if rounding
            else {},
            note=f"Keras holds l2 in float32 ({held!r})" if rounding else "",
        ),
        notes="Added to the loss by model.fit. Without the ½ of many textbooks, "
        "its gradient is 2λw.",
    )


# -- the claims ------------------------------------------------------------------
# r runs over the batch (or the features) in the claims' own sums
r = indices("r")


def _xhat(over: str) -> tuple:
    """x̂ = (x − μ)/√(σ² + ε), with its moments: named parts for a claim."""
    at = i if over == "N" else n
    return (*moments(over), (xhat[n, i], (x[n, i] - mu[at]) / sp.sqrt(var[at] + eps)))


#: the three paths from x to the loss, in the order :func:`bn_backward_terms`
#: gives them: through x̂ directly, through σ², through μ
BN_PATHS = ("xhat", "variance", "mean")


def bn_backward_terms() -> tuple[tuple[sp.Expr, ...], tuple]:
    """The three terms of batch norm's ∂L/∂x, one per path (:data:`BN_PATHS`),
    and the named parts they are written in."""
    root = sp.sqrt(var[i] + eps)
    where = (
        *moments("N"),
        (d_xhat[n, i], g[n, i] * gamma[i]),
        (
            d_var[i],
            sp.Sum(d_xhat[r, i] * (x[r, i] - mu[i]), (r, 0, N - 1))
            * sp.Rational(-1, 2)
            * (var[i] + eps) ** sp.Rational(-3, 2),
        ),
        (
            d_mu[i],
            -sp.Sum(d_xhat[r, i], (r, 0, N - 1)) / root
            + d_var[i] * sp.Sum(-2 * (x[r, i] - mu[i]), (r, 0, N - 1)) / N,
        ),
    )
    terms = (d_xhat[n, i] / root, d_var[i] * 2 * (x[n, i] - mu[i]) / N, d_mu[i] / N)
    return terms, where


def bn_backward_paths() -> tuple[sp.Expr, tuple]:
    """∂L/∂x of batch norm along its three paths, ``(shown, where)``: through x̂
    directly, through σ², and through μ (which also moves σ²)."""
    terms, where = bn_backward_terms()
    return sp.Add(*terms), where


def bn_path_gradients() -> dict[str, Formula]:
    """Each path's share of ``batch_norm/dx`` as a formula of its own (the claim
    with one term kept), so a scene can show the three numbers that add up to
    the gradient.  The ``"xhat"`` path alone is the textbook shortcut that
    treats μ and σ² as constants: verify refuses it as ``batch_norm/dx``."""
    c = claim("batch_norm/dx")
    terms, where = bn_backward_terms()
    return {
        path: dataclasses.replace(
            c, name=f"batch_norm/dx.{path}", rhs=defined(t, where), shown=t, where=where
        ).gradient
        for path, t in zip(BN_PATHS, terms)
    }


def bn_backward_compact() -> tuple[sp.Expr, tuple]:
    """The compact form of the same gradient, ``(shown, where)``:
    γ/(N√(σ² + ε))·(N·g − Σg − x̂·Σ(g·x̂))."""
    shown = (
        gamma[i]
        / (N * sp.sqrt(var[i] + eps))
        * (
            N * g[n, i]
            - sp.Sum(g[r, i], (r, 0, N - 1))
            - xhat[n, i] * sp.Sum(g[r, i] * xhat[r, i], (r, 0, N - 1))
        )
    )
    return shown, _xhat("N")


def _ln_backward() -> tuple[sp.Expr, tuple]:
    """∂L/∂x of layer norm: (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/√(σ² + ε), ĝ = g·γ,
    the means over the sample's features."""
    shown = (
        g[n, i] * gamma[i]
        - sp.Sum(g[n, r] * gamma[r], (r, 0, I - 1)) / I
        - xhat[n, i] * sp.Sum(g[n, r] * gamma[r] * xhat[n, r], (r, 0, I - 1)) / I
    ) / sp.sqrt(var[n] + eps)
    return shown, _xhat("I")


def _claim(
    name: str,
    f: Formula,
    wrt: str,
    shown_where: tuple,
    text: str,
    idx: tuple,
    sizes: dict,
) -> Claim:
    shown, where = shown_where
    return Claim(
        name,
        f,
        wrt,
        defined(shown, where),
        text,
        indices=idx,
        sizes=sizes,
        shown=shown,
        where=where,
    )


@register_claims
def _claims() -> list[Claim]:
    bn, ln = formula("batch_norm"), formula("layer_norm")
    kept = sp.Piecewise((reciprocal(1 - p), sp.Eq(mask[n, i], 1)), (0, True))
    # N ≠ I, and neither the square of the other, so a sum over the wrong axis
    # or a transposed index cannot pass
    bn_sizes, ln_sizes = {"N": 3, "I": 2}, {"N": 2, "I": 3}
    return [
        Claim(
            "dropout/dx",
            formula("dropout"),
            "x",
            g[n, i] * kept,
            "∂L/∂x = g/(1 − p) where the unit was kept, 0 where it was dropped",
            indices=(n, i),
            sizes=bn_sizes,
        ),
        Claim(
            "dropout/dx.inference",
            formula("dropout", training=False),
            "x",
            g[n, i],
            "∂L/∂x = g at inference: dropout is the identity",
            indices=(n, i),
            sizes=bn_sizes,
        ),
        _claim(
            "batch_norm/dx",
            bn,
            "x",
            bn_backward_paths(),
            "∂L/∂x along three paths: through x̂ directly, through σ² and through "
            "μ (the batch statistics depend on x too)",
            (n, i),
            bn_sizes,
        ),
        _claim(
            "batch_norm/dgamma",
            bn,
            "gamma",
            (sp.Sum(g[n, i] * xhat[n, i], (n, 0, N - 1)), _xhat("N")),
            "∂L/∂γ = Σ_n g·x̂",
            (i,),
            bn_sizes,
        ),
        Claim(
            "batch_norm/dbeta",
            bn,
            "beta",
            sp.Sum(g[n, i], (n, 0, N - 1)),
            "∂L/∂β = Σ_n g",
            indices=(i,),
            sizes=bn_sizes,
        ),
        _claim(
            "batch_norm_inference/dx",
            formula("batch_norm_inference"),
            "x",
            (g[n, i] * scale[i], ((scale[i], _inv(moving_variance[i])),)),
            "∂L/∂x = g·γ/√(σ²_moving + ε) at inference: the statistics are "
            "constants now, so only the direct path is left",
            (n, i),
            bn_sizes,
        ),
        _claim(
            "layer_norm/dx",
            ln,
            "x",
            _ln_backward(),
            "∂L/∂x = (ĝ − mean(ĝ) − x̂·mean(ĝx̂))/√(σ² + ε), ĝ = gγ, the means "
            "over the sample's features",
            (n, i),
            ln_sizes,
        ),
        _claim(
            "layer_norm/dgamma",
            ln,
            "gamma",
            (sp.Sum(g[n, i] * xhat[n, i], (n, 0, N - 1)), _xhat("I")),
            "∂L/∂γ = Σ_n g·x̂",
            (i,),
            ln_sizes,
        ),
        Claim(
            "layer_norm/dbeta",
            ln,
            "beta",
            sp.Sum(g[n, i], (n, 0, N - 1)),
            "∂L/∂β = Σ_n g",
            indices=(i,),
            sizes=ln_sizes,
        ),
        Claim(
            "l2_penalty/dw",
            formula("l2_penalty"),
            "w",
            2 * lam * w[j, i],
            "∂Ω/∂w = 2λw (Keras's L2 has no ½)",
            indices=(j, i),
            sizes={"J": 3, "I": 2},
        ),
    ]
