"""Optimizer update rules, each exactly as ``tf.keras.optimizers`` computes it.

Design: **one formula per state variable**.  Every formula of an optimizer reads
the state *before* the step (parameters θ, the gradient g, the optimizer's slots,
the number t of steps taken) and gives one variable *after* it, so one step is one
evaluation of each formula on the same old state, in any order (see
:meth:`nnmath.update_rules.Optimizer.step`).  The parameter update therefore contains
the slot update written out in full, e.g. Adam's ``β₁m + (1 − β₁)g``.

What Keras 3 does, from ``keras/src/optimizers/*.py`` (the truth, not the papers):

* SGD: ``θ ← θ − ηg``.  With momentum μ: ``v ← μv − ηg; θ ← θ + v``.
  Nesterov: the same velocity, then ``θ ← θ + μv_new − ηg``.
* RMSprop: ``s ← ρs + (1 − ρ)g²; θ ← θ − ηg / √(s + ε)``: ε *inside* the root.
* Adam: ``m ← m + (g − m)(1 − β₁)``, ``v ← v + (g² − v)(1 − β₂)``,
  ``θ ← θ − η·√(1 − β₂ᵗ⁺¹)/(1 − β₁ᵗ⁺¹) · m / (√v + ε)`` after t steps: the bias
  correction is folded
  into the step size and ε is added to √v, not to the paper's √v̂.
* AdamW (any optimizer's ``weight_decay``, base_optimizer.py): first
  ``θ ← θ − θ·λ·η`` on the weights *before* the step, then Adam's step with the
  gradient taken at those weights: the decay never enters m or v.

Keras keeps its learning rate in a ``floatx`` variable (float32 by default);
the trajectory oracle builds the optimizer under float64 so that the comparison
tests the rule, not float32's rounding of η.
"""

from __future__ import annotations

import sympy as sp

from ..formula import Formula, Input, dims, indices
from ..params import Real
from ..registry import register
from ..update_rules import keras_rule

__all__ = ["SYMBOL", "THETA", "GRAD", "STEP"]

p = indices("p")
P = dims("P")
_theta, _g, _v, _m, _s = (sp.IndexedBase(s) for s in ("theta", "g", "v", "m", "s"))
t = sp.Symbol("t")
# the symbols the equations print; the builders' float arguments bind them
eta, mu, _rho, eps, _b1, _b2 = sp.symbols(
    "eta mu rho epsilon beta_1 beta_2", positive=True
)

#: Keras's argument name → the symbol the equations print
SYMBOL = {
    "learning_rate": "eta",
    "momentum": "mu",
    "rho": "rho",
    "epsilon": "epsilon",
    "beta_1": "beta_1",
    "beta_2": "beta_2",
    "weight_decay": "lamda",
}

#: the hyperparameters' valid ranges.  A learning rate and ε are positive (ε = 0
#: divides 0 by 0 at a zero gradient); a decay rate β or ρ is a weight in [0, 1],
#: and β < 1 since Adam divides by 1 − β₁ᵗ⁺¹ (Keras asks momentum for [0, 1]).
_RATE, _EPSILON = Real(0, low_open=True), Real(0, low_open=True)
_DECAY, _BETA = Real(0, 1), Real(0, 1, high_open=True)
_SGD = {"learning_rate": _RATE}
_MOMENTUM = {"learning_rate": _RATE, "momentum": _DECAY}
_RMSPROP = {"learning_rate": _RATE, "rho": _DECAY, "epsilon": _EPSILON}
_ADAM = {"learning_rate": _RATE, "beta_1": _BETA, "beta_2": _BETA, "epsilon": _EPSILON}

THETA = Input("theta", ("P",), "parameters before the step")
GRAD = Input("g", ("P",), "gradient of the loss at θ")
# sampled in [0, 1] by the checks: any t ≥ 0 keeps 1 − βᵗ⁺¹ positive, as Keras's
# iteration counts 0, 1, 2, … do
STEP = Input(
    "t", (), "steps taken before this one (Keras's iterations; 0 at the start)", "prob"
)


def _rule(
    name: str,
    title: str,
    output: str,
    expr: sp.Expr,
    inputs: tuple[Input, ...],
    tf: str,
    hyper: dict,
    notes: str = "",
    *,
    keras: str,
    selects: dict | None = None,
) -> Formula:
    """An update rule, declared as the variable ``output`` names (θ′ → theta) of
    ``tf.keras.optimizers.<keras>(**hyper, **selects)``."""
    variable = "theta" if output == r"\theta'" else output.rstrip("'")
    return Formula(
        name=name,
        title=title,
        output=output,
        indices=(p,),
        expr=expr,
        inputs=inputs,
        tf=tf,
        output_shape=("P",),
        params=dict(hyper),
        constants={SYMBOL[k]: v for k, v in hyper.items()},
        notes=notes,
        keras=keras_rule(keras, variable=variable, **hyper, **(selects or {})),
    )


# -- SGD, momentum, Nesterov --------------------------------------------------
@register("sgd", params=_SGD)
def _sgd(learning_rate: float = 0.01) -> Formula:
    return _rule(
        "sgd",
        "SGD step (Keras SGD, no momentum)",
        r"\theta'",
        _theta[p] - eta * _g[p],
        (THETA, GRAD),
        f"theta - g * {learning_rate!r}",
        {"learning_rate": learning_rate},
        keras="SGD",
    )


_VELOCITY = Input("v", ("P",), "velocity before the step (0 at the start)")


def _momentum_hyper(learning_rate: float, momentum: float) -> dict:
    return {"learning_rate": learning_rate, "momentum": momentum}


@register("momentum_velocity", params=_MOMENTUM)
def _momentum_velocity(learning_rate: float = 0.01, momentum: float = 0.9) -> Formula:
    hyper = _momentum_hyper(learning_rate, momentum)
    return _rule(
        "momentum_velocity",
        "Momentum: the velocity update (Keras SGD)",
        "v'",
        mu * _v[p] - eta * _g[p],
        (_VELOCITY, GRAD),
        f"v * {momentum!r} - g * {learning_rate!r}",
        hyper,
        "Shared by momentum and Nesterov; Keras calls it `momentums`.",
        keras="SGD",
    )


@register("momentum", params=_MOMENTUM)
def _momentum(learning_rate: float = 0.01, momentum: float = 0.9) -> Formula:
    hyper = _momentum_hyper(learning_rate, momentum)
    return _rule(
        "momentum",
        "Momentum: the parameter update (Keras SGD, momentum>0)",
        r"\theta'",
        _theta[p] + mu * _v[p] - eta * _g[p],
        (THETA, _VELOCITY, GRAD),
        f"theta + (v * {momentum!r} - g * {learning_rate!r})",
        hyper,
        "θ moves by the new velocity μv − ηg.",
        keras="SGD",
    )


@register("nesterov", params=_MOMENTUM)
def _nesterov(learning_rate: float = 0.01, momentum: float = 0.9) -> Formula:
    hyper = _momentum_hyper(learning_rate, momentum)
    return _rule(
        "nesterov",
        "Nesterov momentum: the parameter update (Keras SGD, nesterov=True)",
        r"\theta'",
        _theta[p] + mu * (mu * _v[p] - eta * _g[p]) - eta * _g[p],
        (THETA, _VELOCITY, GRAD),
        f"theta + ((v * {momentum!r} - g * {learning_rate!r}) * {momentum!r} "
        f"- g * {learning_rate!r})",
        hyper,
        "Keras's form: θ moves by μ·(new velocity) − ηg, a look-ahead "
        "along the velocity.",
        keras="SGD",
        selects={"nesterov": True},
    )


# -- RMSprop ------------------------------------------------------------------
_SQUARES = Input(
    "s", ("P",), "running mean of squared gradients (0 at the start)", "prob"
)  # sampled non-negative, as a mean of squares is


def _rmsprop_hyper(learning_rate: float, rho: float, epsilon: float) -> dict:
    return {"learning_rate": learning_rate, "rho": rho, "epsilon": epsilon}


def _mean_square() -> sp.Expr:
    return _rho * _s[p] + (1 - _rho) * _g[p] ** 2


@register("rmsprop_velocity", params=_RMSPROP)
def _rmsprop_velocity(
    learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7
) -> Formula:
    return _rule(
        "rmsprop_velocity",
        "RMSprop: running mean of squared gradients",
        "s'",
        _mean_square(),
        (_SQUARES, GRAD),
        f"{rho!r} * s + (1 - {rho!r}) * tf.square(g)",
        _rmsprop_hyper(learning_rate, rho, epsilon),
        "Keras calls it `velocities`.",
        keras="RMSprop",
    )


@register("rmsprop", params=_RMSPROP)
def _rmsprop(
    learning_rate: float = 0.001, rho: float = 0.9, epsilon: float = 1e-7
) -> Formula:
    return _rule(
        "rmsprop",
        "RMSprop: the parameter update (Keras RMSprop)",
        r"\theta'",
        _theta[p] - eta * _g[p] / sp.sqrt(_mean_square() + eps),
        (THETA, _SQUARES, GRAD),
        f"theta - g * {learning_rate!r} / tf.sqrt({rho!r} * s + (1 - {rho!r}) "
        f"* tf.square(g) + {epsilon!r})",
        _rmsprop_hyper(learning_rate, rho, epsilon),
        "Keras adds ε inside the square root, to the new mean square.",
        keras="RMSprop",
    )


# -- Adam ---------------------------------------------------------------------
_FIRST = Input("m", ("P",), "first moment, running mean of g (0 at the start)")
_SECOND = Input(
    "v", ("P",), "second moment, running mean of g² (0 at the start)", "prob"
)


def _adam_hyper(
    learning_rate: float, beta_1: float, beta_2: float, epsilon: float
) -> dict:
    return {
        "learning_rate": learning_rate,
        "beta_1": beta_1,
        "beta_2": beta_2,
        "epsilon": epsilon,
    }


def _first() -> sp.Expr:
    return _b1 * _m[p] + (1 - _b1) * _g[p]


def _second() -> sp.Expr:
    return _b2 * _v[p] + (1 - _b2) * _g[p] ** 2


@register("adam_m", params=_ADAM)
def _adam_m(
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> Formula:
    return _rule(
        "adam_m",
        "Adam: first moment",
        "m'",
        _first(),
        (_FIRST, GRAD),
        f"m + (g - m) * (1 - {beta_1!r})",
        _adam_hyper(learning_rate, beta_1, beta_2, epsilon),
        keras="Adam",
    )


@register("adam_v", params=_ADAM)
def _adam_v(
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> Formula:
    return _rule(
        "adam_v",
        "Adam: second moment",
        "v'",
        _second(),
        (_SECOND, GRAD),
        f"v + (tf.square(g) - v) * (1 - {beta_2!r})",
        _adam_hyper(learning_rate, beta_1, beta_2, epsilon),
        keras="Adam",
    )


@register("adam", params=_ADAM)
def _adam(
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> Formula:
    step = eta * sp.sqrt(1 - _b2 ** (t + 1)) / (1 - _b1 ** (t + 1))
    return _rule(
        "adam",
        "Adam: the parameter update (Keras Adam)",
        r"\theta'",
        _theta[p] - step * _first() / (sp.sqrt(_second()) + eps),
        (THETA, _FIRST, _SECOND, GRAD, STEP),
        f"theta - (m + (g - m) * (1 - {beta_1!r})) * ({learning_rate!r} * tf.sqrt(1 - "
        f"tf.pow(tf.constant({beta_2!r}, t.dtype), t + 1)) / (1 - tf.pow(tf.constant("
        f"{beta_1!r}, t.dtype), t + 1))) / (tf.sqrt(v + (tf.square(g) - v) * (1 - "
        f"{beta_2!r})) + {epsilon!r})",
        _adam_hyper(learning_rate, beta_1, beta_2, epsilon),
        "Keras folds the bias correction into the step size, "
        "η√(1 − β₂ᵗ⁺¹)/(1 − β₁ᵗ⁺¹) at step t + 1, and adds ε to √v, not to √v̂ as "
        "the paper does.",
        keras="Adam",
    )


# -- AdamW ----------------------------------------------------------------------
_wd = sp.Symbol("lamda", positive=True)  # printed λ; "lambda" is a Python keyword


@register("adamw", params={**_ADAM, "weight_decay": Real(0)})
def _adamw(
    learning_rate: float = 0.001,
    weight_decay: float = 0.004,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
) -> Formula:
    step = eta * sp.sqrt(1 - _b2 ** (t + 1)) / (1 - _b1 ** (t + 1))
    # Keras's order: variable.assign_sub(variable * wd * lr), then Adam's step;
    # θ − θλη − step is computed left to right
    decay = -sp.Mul(sp.Mul(_theta[p], _wd, evaluate=False), eta, evaluate=False)
    hyper = {
        "learning_rate": learning_rate,
        "weight_decay": weight_decay,
        **_adam_hyper(learning_rate, beta_1, beta_2, epsilon),
    }
    return _rule(
        "adamw",
        "AdamW: decoupled weight decay, then Adam's step (Keras AdamW)",
        r"\theta'",
        sp.Add(
            _theta[p],
            decay,
            -step * _first() / (sp.sqrt(_second()) + eps),
            evaluate=False,
        ),
        (THETA, _FIRST, _SECOND, GRAD, STEP),
        f"theta - theta * {weight_decay!r} * {learning_rate!r} - (m + (g - m) * (1 - "
        f"{beta_1!r})) * ({learning_rate!r} * tf.sqrt(1 - tf.pow(tf.constant("
        f"{beta_2!r}, t.dtype), t + 1)) / (1 - tf.pow(tf.constant({beta_1!r}, "
        f"t.dtype), t + 1))) / (tf.sqrt(v + (tf.square(g) - v) * (1 - {beta_2!r})) + "
        f"{epsilon!r})",
        hyper,
        "The decay is applied to the weights before the step and scaled by η "
        "(θ − θλη, as PyTorch's AdamW; Loshchilov and Hutter scale it by a schedule "
        "instead); m and v see the raw gradient. Adding λθ to the gradient instead "
        "(L2 through Adam) is a different optimizer: Adam divides it by √v.",
        keras="AdamW",
    )
