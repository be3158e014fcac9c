"""Activation functions, written as the scalar functions a textbook prints.

Each is registered twice over: as the scalar ``f(z)`` (what the page shows and
what the derivative claim is about) and as the element-wise map over a batch
``a[n, i] = f(z[n, i])`` that is lowered and checked against TensorFlow.
"""

from __future__ import annotations

import numpy as np
import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input
from ..params import Real
from ..primitives import MaxShift
from ..primitives import sigmoid as _sigma
from ..registry import formula, register, register_claims
from ._symbols import K, i, j, k, n

z = sp.Symbol("z", real=True)
alpha = sp.Symbol("alpha", positive=True)

#: name → the TensorFlow function that computes it (the one place these are
#: written: the activations' references, the neuron's and the networks')
TF_FUNCTION = {
    "sigmoid": "tf.math.sigmoid",
    "tanh": "tf.math.tanh",
    "relu": "tf.nn.relu",
    "leaky_relu": "tf.nn.leaky_relu",
}

#: name → (scalar f(z), its printed name, the TensorFlow reference)
SCALAR = {
    "sigmoid": (_sigma(z), r"\sigma", f"{TF_FUNCTION['sigmoid']}(z)"),
    "tanh": (sp.tanh(z), r"\tanh", f"{TF_FUNCTION['tanh']}(z)"),
    "relu": (
        sp.Piecewise((z, z > 0), (0, True)),
        r"\operatorname{ReLU}",
        f"{TF_FUNCTION['relu']}(z)",
    ),
    "leaky_relu": (
        sp.Piecewise((z, z > 0), (alpha * z, True)),
        r"\operatorname{LeakyReLU}",
        f"{TF_FUNCTION['leaky_relu']}(z, alpha={{alpha}})",
    ),
}


def activation_of(name: str, arg: sp.Expr) -> sp.Expr:
    """``f(arg)`` for the activation ``name``: lets layers reuse these definitions."""
    if name not in SCALAR:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(SCALAR)}")
    return SCALAR[name][0].subs(z, arg)


def elementwise(
    name: str,
    title: str,
    f: sp.Expr,
    *,
    var: sp.Symbol = z,
    symbol: str = "",
    tf: str,
    constants: dict | None = None,
    **kw,
) -> Formula:
    """The activation ``a = f(z)`` applied to every element of a batch ``z[n, i]``.

    ``f`` is the scalar function of ``var`` a textbook prints; ``tf`` is its
    TensorFlow reference over the input ``z``.  A lecturer's own activation is
    declared with this too (see the GELU example in README.md).
    """
    zb = sp.IndexedBase("z")
    constants = constants or {}
    return Formula(
        name=name,
        title=title,
        output="a",
        indices=(n, i),
        expr=f.subs(var, zb[n, i]),
        inputs=(Input("z", ("N", "I"), "pre-activations"),),
        tf=tf.format(**constants),
        output_shape=("N", "I"),
        scalar=f,
        var=var,
        symbol=symbol,
        constants=constants,
        **kw,
    )


def _elementwise(name: str, title: str, constants: dict | None = None, **kw) -> Formula:
    f, symbol, tf = SCALAR[name]
    return elementwise(name, title, f, symbol=symbol, tf=tf, constants=constants, **kw)


@register("sigmoid")
def _sigmoid() -> Formula:
    return _elementwise("sigmoid", "Logistic sigmoid")


@register("tanh")
def _tanh() -> Formula:
    return _elementwise("tanh", "Hyperbolic tangent")


@register("relu")
def _relu() -> Formula:
    return _elementwise("relu", "Rectified linear unit")


#: the slope below 0: below 1, or it is no longer a "leaky" ReLU
@register("leaky_relu", params={"alpha": Real(0, 1, high_open=True)})
def _leaky_relu(alpha: float = 0.2) -> Formula:
    # tf.nn.leaky_relu keeps alpha as a float32 attribute even on float64 tensors:
    # 0.2 becomes 0.20000000298…, a relative difference of 1.5e-8 on the slope.
    rounding = abs(float(np.float32(alpha)) - alpha) / max(alpha, 1e-300)
    return _elementwise(
        "leaky_relu",
        "Leaky ReLU",
        {"alpha": alpha},
        tf_tolerance={"float64": (max(1e-10, 2 * rounding), 1e-12)} if rounding else {},
        tf_note=f"TensorFlow stores alpha in float32 ({float(np.float32(alpha))!r})"
        if rounding
        else "",
    )


@register("softmax")
def _softmax() -> Formula:
    zb = sp.IndexedBase("z")
    shift = MaxShift(zb[n, k], (k, 0, K - 1))
    expr = sp.exp(zb[n, i] - shift) / sp.Sum(sp.exp(zb[n, k] - shift), (k, 0, K - 1))
    return Formula(
        name="softmax",
        title="Softmax (shifted by the max, so it never overflows)",
        output="a",
        indices=(n, i),
        expr=expr,
        inputs=(Input("z", ("N", "K"), "logits"),),
        tf="tf.nn.softmax(z, axis=-1)",
        output_shape=("N", "K"),
        notes="Subtracting max_k z_k changes nothing mathematically and keeps every "
        "exponent at most 0, so exp() cannot overflow at logits of 1000.",
    )


@register_claims
def _claims() -> list[Claim]:
    s = _sigma(z)
    g = sp.IndexedBase("g")
    a = formula("softmax").expr
    return [
        Claim(
            "sigmoid'", formula("sigmoid"), "z", s * (1 - s), "σ'(z) = σ(z)(1 − σ(z))"
        ),
        Claim(
            "tanh'",
            formula("tanh"),
            "z",
            1 - sp.tanh(z) ** 2,
            "tanh'(z) = 1 − tanh²(z)",
        ),
        Claim(
            "relu'",
            formula("relu"),
            "z",
            sp.Piecewise((1, z > 0), (0, True)),
            "ReLU'(z) = 1 for z > 0, else 0",
        ),
        Claim(
            "leaky_relu'",
            formula("leaky_relu"),
            "z",
            sp.Piecewise((1, z > 0), (alpha, True)),
            "LeakyReLU'(z) = 1 for z > 0, else α",
        ),
        Claim(
            "softmax'",
            formula("softmax"),
            "z",
            a.subs(i, j) * (g[n, j] - sp.Sum(g[n, i] * a, (i, 0, K - 1))),
            "∂L/∂z_j = a_j (g_j − Σ_i g_i a_i): the softmax Jacobian-vector product",
            indices=(n, j),
            sizes={"N": 2, "K": 3},
        ),
    ]
