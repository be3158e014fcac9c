"""A lecturer's claim that SymPy cannot decide: the gradient of a row maximum,
written with Eq(x, max(...)) over an input that may tie.  Its symbolic proof
ran for 15 minutes without an answer; ``nnbook verify`` stops it at the time
limit and goes on with the other checks.

    nnbook verify tests/data/hanging_claim.py --timeout 2     # exit 1
"""

import sympy as sp

from chapters import Chapter
from nnmath import Claim, Formula, Input, formula
from nnmath.formula import dims, indices
from nnmath.primitives import Maximum
from nnmath.registry import register, register_claims

n, j, k = indices("n j k")
N, K = dims("N K")
x, g = sp.IndexedBase("x"), sp.IndexedBase("g")


@register("hanging_row_max")
def _row_max():
    return Formula(
        name="hanging_row_max",
        title="The largest score of each row",
        output="m",
        indices=(n,),
        expr=Maximum(x[n, k], (k, 0, K - 1)),
        inputs=(Input("x", ("N", "K"), "scores"),),
        tf="tf.reduce_max(x, axis=-1)",
        output_shape=("N",),
    )


@register_claims
def _claims():
    top = Maximum(x[n, k], (k, 0, K - 1))
    return [
        Claim(
            "hanging_row_max/dx",
            formula("hanging_row_max"),
            "x",
            sp.Piecewise((g[n], sp.Eq(x[n, j], top)), (0, True)),
            "the gradient goes to the maximum",
            indices=(n, j),
        )
    ]


CHAPTER = Chapter(
    number=112,
    slug="hanging",
    title="A claim SymPy cannot decide",
    module=__name__,
    formulas=("hanging_row_max",),
    claims=("hanging_row_max/dx",),
    scenes=(),
)
