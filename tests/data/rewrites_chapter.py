"""A careful lecturer's chapter: correct claims written the way textbooks write
them, not the way the book's library does.  ``nnbook verify`` must pass each.

    nnbook verify tests/data/rewrites_chapter.py     # exit 0

ReLU' with Heaviside, with z ≥ 0 and as (1 + sign z)/2 differ from the library's
claim only at the kink z = 0, where ReLU has no derivative: a note, not a failure.
"""

import sympy as sp

from chapters import Chapter
from nnmath import Claim, Formula, Input, formula
from nnmath.formula import dims, indices
from nnmath.library.activations import elementwise
from nnmath.primitives import MaxShift
from nnmath.registry import register, register_claims

n, i, j, k = indices("n i j k")
N, I, K = dims("N I K")
x, y, yhat, g, zb = (sp.IndexedBase(s) for s in ("x", "y", "yhat", "g", "z"))
z = sp.Symbol("z", real=True)
alpha = sp.Symbol("alpha", positive=True)


@register("rewrite_leaky_max")
def _leaky_max():
    return elementwise(
        "rewrite_leaky_max",
        "Leaky ReLU as max(z, αz)",
        sp.Max(z, alpha * z),
        tf="tf.nn.leaky_relu(z, alpha={alpha})",
        constants={"alpha": 0.25},
    )


@register("rewrite_relu6")
def _relu6():
    return elementwise(
        "rewrite_relu6",
        "ReLU6 as min(max(z, 0), 6)",
        sp.Min(sp.Max(z, 0), 6),
        tf="tf.nn.relu6(z)",
    )


@register("rewrite_l1")
def _l1():
    return Formula(
        name="rewrite_l1",
        title="Mean absolute error",
        output="L",
        indices=(),
        expr=sp.Sum(sp.Abs(yhat[n, k] - y[n, k]), (n, 0, N - 1), (k, 0, K - 1))
        / (N * K),
        inputs=(
            Input("yhat", ("N", "K"), "predictions"),
            Input("y", ("N", "K"), "targets"),
        ),
        tf="tf.reduce_mean(tf.abs(yhat - y))",
    )


@register("rewrite_next_difference")
def _next_difference():
    # the same forward difference as the careless chapter's, with its padding declared
    return Formula(
        name="rewrite_next_difference",
        title="Forward difference, zero after the end",
        output="d",
        indices=(n, i),
        expr=x[n, i + 1] - x[n, i],
        inputs=(Input("x", ("N", "I"), "a sequence per row"),),
        tf="tf.concat([x[:, 1:], tf.zeros_like(x[:, :1])], axis=1) - x",
        output_shape=("N", "I"),
        padded=("x",),
    )


def _softmax(at):
    shift = MaxShift(zb[n, k], (k, 0, K - 1))
    return sp.exp(zb[n, at] - shift) / sp.Sum(sp.exp(zb[n, k] - shift), (k, 0, K - 1))


@register_claims
def _claims():
    relu, tanh_, softmax = formula("relu"), formula("tanh"), formula("softmax")
    return [
        Claim("rewrite_relu'.heaviside", relu, "z", sp.Heaviside(z), "ReLU'(z) = H(z)"),
        Claim(
            "rewrite_relu'.geq",
            relu,
            "z",
            sp.Piecewise((1, z >= 0), (0, True)),
            "ReLU'(z) = 1 for z ≥ 0",
        ),
        Claim("rewrite_relu'.sign", relu, "z", (1 + sp.sign(z)) / 2, "(1 + sign z)/2"),
        Claim(
            "rewrite_leaky_max'",
            formula("rewrite_leaky_max"),
            "z",
            sp.Piecewise((1, z > 0), (alpha, True)),
            "1 for z > 0, else α",
        ),
        Claim(
            "rewrite_relu6'",
            formula("rewrite_relu6"),
            "z",
            sp.Piecewise((1, (z > 0) & (z < 6)), (0, True)),
            "1 on (0, 6), else 0",
        ),
        Claim("rewrite_tanh'.sech", tanh_, "z", sp.sech(z) ** 2, "tanh' = sech²"),
        Claim("rewrite_tanh'.cosh", tanh_, "z", 1 / sp.cosh(z) ** 2, "tanh' = 1/cosh²"),
        Claim(
            "rewrite_l1/dyhat",
            formula("rewrite_l1"),
            "yhat",
            sp.sign(yhat[n, k] - y[n, k]) / (N * K),
            "sign(ŷ − y)/(NK)",
            indices=(n, k),
        ),
        Claim(
            "rewrite_softmax'.kronecker",
            softmax,
            "z",
            sp.Sum(
                g[n, i] * _softmax(i) * (sp.KroneckerDelta(i, j) - _softmax(j)),
                (i, 0, K - 1),
            ),
            "Σ_i g_i a_i (δ_ij − a_j)",
            indices=(n, j),
        ),
        Claim(
            "rewrite_next_difference/dx",
            formula("rewrite_next_difference"),
            "x",
            g[n, i - 1] - g[n, i],
            "g[n, i − 1] − g[n, i], with g[n, −1] = 0",
            indices=(n, i),
            padded=("g",),
        ),
    ]


CHAPTER = Chapter(
    number=111,
    slug="rewrites",
    title="Correct claims, written another way",
    module=__name__,
    formulas=(
        "rewrite_leaky_max",
        "rewrite_relu6",
        "rewrite_l1",
        "rewrite_next_difference",
    ),
    claims=(
        "rewrite_relu'.heaviside",
        "rewrite_relu'.geq",
        "rewrite_relu'.sign",
        "rewrite_leaky_max'",
        "rewrite_relu6'",
        "rewrite_tanh'.sech",
        "rewrite_tanh'.cosh",
        "rewrite_l1/dyhat",
        "rewrite_softmax'.kronecker",
        "rewrite_next_difference/dx",
    ),
    scenes=(),
)
