"""A careless lecturer's chapter: formulas and claims that look right and are
wrong, the way tutorials get them wrong.  ``nnbook verify`` must fail every one.

    nnbook verify tests/data/careless_chapter.py     # exit 1

Each was passed by an earlier checker that gave every dimension the same size,
drew large values only for an input named ``z``, and read outside an input as 0.
"""

import sympy as sp

from chapters import Chapter
from nnmath import Claim, Formula, Input, formula
from nnmath.formula import dims, indices
from nnmath.library.activations import elementwise
from nnmath.registry import register, register_claims

n, h, w, t, d, k, i = indices("n h w t d k i")
N, H, W, T, D, K, I = dims("N H W T D K I")
x, q, kk, g = (sp.IndexedBase(s) for s in ("x", "q", "k", "g"))


@register("careless_image_mean")
def _image_mean():
    return Formula(
        name="careless_image_mean",
        title="Mean of each image",
        output="y",
        indices=(n,),
        expr=sp.Sum(x[n, h, w], (h, 0, H - 1), (w, 0, W - 1)) / (H * W),
        inputs=(Input("x", ("N", "H", "W"), "images"),),
        tf="tf.reduce_mean(x, axis=[1, 2])",
        output_shape=("N",),
    )


@register("careless_scores")
def _scores():
    return Formula(
        name="careless_scores",
        title="Scaled dot-product scores",
        output="s",
        indices=(n, t),
        expr=sp.Sum(q[n, d] * kk[t, d], (d, 0, D - 1)) / sp.sqrt(D),
        inputs=(Input("q", ("N", "D"), "queries"), Input("k", ("T", "D"), "keys")),
        tf="tf.matmul(q, k, transpose_b=True) "
        "/ tf.sqrt(tf.cast(tf.shape(q)[1], q.dtype))",
        output_shape=("N", "T"),
    )


@register("careless_batch_mean")
def _batch_mean():
    return Formula(
        name="careless_batch_mean",
        title="Mean over the batch",
        output="m",
        indices=(k,),
        expr=sp.Sum(x[n, k], (n, 0, N - 1)) / N,
        inputs=(Input("x", ("N", "K"), "a batch"),),
        tf="tf.reduce_mean(x, axis=0)",
        output_shape=("K",),
    )


@register("careless_logsumexp")
def _logsumexp():
    # no max shift: exp(1000) overflows, though the input is not called z
    return Formula(
        name="careless_logsumexp",
        title="log-sum-exp without the shift",
        output="l",
        indices=(n,),
        expr=sp.log(sp.Sum(sp.exp(x[n, k]), (k, 0, K - 1))),
        inputs=(Input("x", ("N", "K"), "scores"),),
        tf="tf.reduce_logsumexp(x, axis=-1)",
        output_shape=("N",),
    )


@register("careless_next_difference")
def _next_difference():
    # x[n, i + 1] does not exist for the last i: an earlier checker read it as 0
    return Formula(
        name="careless_next_difference",
        title="Forward difference",
        output="d",
        indices=(n, i),
        expr=x[n, i + 1] - x[n, i],
        inputs=(Input("x", ("N", "I"), "a sequence per row"),),
        tf="tf.concat([x[:, 1:], tf.zeros_like(x[:, :1])], axis=1) - x",
        output_shape=("N", "I"),
    )


@register("careless_gelu_erf")
def _gelu_erf():
    u = sp.Symbol("z", real=True)
    return elementwise(
        "careless_gelu_erf",
        "GELU with erf",
        u / 2 * (1 + sp.erf(u / sp.sqrt(2))),
        tf="tf.nn.gelu(z, approximate=False)",
    )


@register_claims
def _claims():
    z = formula("sigmoid").var
    return [
        Claim(
            "careless_image_mean/dx",
            formula("careless_image_mean"),
            "x",
            g[n] / (H * H),
            "divides by H·H where H·W is right",
            indices=(n, h, w),
            sizes={"N": 2, "H": 2, "W": 2},
        ),
        Claim(
            "careless_scores/dq",
            formula("careless_scores"),
            "q",
            sp.Sum(g[n, t] * kk[t, d], (t, 0, T - 1)) / sp.sqrt(T),
            "scaled by √T where √D is right",
            indices=(n, d),
            sizes={"N": 2, "T": 2, "D": 2},
        ),
        Claim(
            "careless_batch_mean/dx",
            formula("careless_batch_mean"),
            "x",
            g[k] / K,
            "divides by K where N is right",
            indices=(n, k),
            sizes={"N": 2, "K": 2},
        ),
        Claim(
            "careless_logsumexp/dx",
            formula("careless_logsumexp"),
            "x",
            g[n] * sp.exp(x[n, k]) / sp.Sum(sp.exp(x[n, i]), (i, 0, K - 1)),
            "softmax without the shift",
            indices=(n, k),
            sizes={"N": 2, "K": 2},
        ),
        Claim(
            "careless_next_difference/dx",
            formula("careless_next_difference"),
            "x",
            g[n, i - 1] - g[n, i],
            "reads g[n, −1] at the first i",
            indices=(n, i),
        ),
        # right on paper: e^{-z}/(1 + e^{-z})² is σ'(z), but at z = -1000 it is inf/inf
        Claim(
            "careless_sigmoid'",
            formula("sigmoid"),
            "z",
            sp.exp(-z) / (1 + sp.exp(-z)) ** 2,
            "σ' = e^{-z}/(1 + e^{-z})²",
        ),
        # right (tanh = 1/coth), but coth has no NumPy lowering: fails naming both
        Claim(
            "careless_tanh'.coth",
            formula("tanh"),
            "z",
            1 - 1 / sp.coth(z) ** 2,
            "tanh' = 1 − 1/coth²",
        ),
        # right, but erf has no NumPy lowering: fails naming erf and the formula
        Claim(
            "careless_gelu_erf'",
            formula("careless_gelu_erf"),
            "z",
            (1 + sp.erf(z / sp.sqrt(2))) / 2
            + z * sp.exp(-(z**2) / 2) / sp.sqrt(2 * sp.pi),
            "Φ(z) + z φ(z)",
        ),
    ]


CHAPTER = Chapter(
    number=110,
    slug="careless",
    title="A careless chapter",
    module=__name__,
    formulas=(
        "careless_image_mean",
        "careless_scores",
        "careless_batch_mean",
        "careless_logsumexp",
        "careless_next_difference",
        "careless_gelu_erf",
    ),
    claims=(
        "careless_image_mean/dx",
        "careless_scores/dq",
        "careless_batch_mean/dx",
        "careless_logsumexp/dx",
        "careless_next_difference/dx",
        "careless_sigmoid'",
        "careless_tanh'.coth",
        "careless_gelu_erf'",
    ),
    scenes=(),
)
