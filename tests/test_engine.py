"""The symbolic proof with its instance built in SymEngine (nnmath.checker.engine).

It may only prove: what it shows is what the SymPy proof shows, in the same
words; what it cannot build or does not show (a wrong claim) is left to the
SymPy proof, which words the failure.  No TensorFlow, no rendering.
"""

from __future__ import annotations

import dataclasses

import pytest
import sympy as sp

from nnmath import Claim, Formula, Input, registry
from nnmath.checker import engine, symbolic
from nnmath.checker.cases import instance_sizes
from nnmath.checker.engine import prove_in_symengine
from nnmath.formula import defined, indices
from nnmath.recurrence import BPTTClaim


def _shown(c) -> str | None:
    return prove_in_symengine(c, instance_sizes(c))


def _sympy_proof(c, monkeypatch) -> symbolic.SymbolicResult:
    with monkeypatch.context() as m:
        m.setattr(engine, "prove_in_symengine", lambda *a: None)
        return symbolic.prove(c)


_INDEXED = [
    c for c in registry.claims() if not isinstance(c, BPTTClaim) and not c.elementwise
]


@pytest.mark.parametrize("c", _INDEXED, ids=lambda c: c.name)
def test_what_symengine_proves_the_sympy_proof_proves_in_the_same_words(c, monkeypatch):
    shown = _shown(c)
    if shown is None:  # not built here (a max, a clip, a mask on a value)
        return
    by_sympy = _sympy_proof(c, monkeypatch)
    assert by_sympy.passed and by_sympy.detail == shown


def test_the_smooth_formulas_are_proved_in_symengine():
    """Attention, convolution, the perceptrons, the recurrent cells and the
    normalisations: their instance is built in SymEngine (SymPy building
    them was half the time of the library's proofs, profiled)."""
    for name in (
        "multi_head_attention/dW_q",
        "multi_head_attention/dy",
        "attention/dq.causal",
        "conv2d/dx.dilated",
        "avg_pool2d/dx",
        "mlp.sigmoid/dW1",
        "lstm_cell/dx",
        "gru_cell/dh",
        "batch_norm/dx",
        "layer_norm/dgamma",
    ):
        assert _shown(registry.claim(name)), name


@pytest.mark.parametrize(
    "name",
    [
        "max_pool2d/dx.same",  # a window's max: proved at tie-free points
        "clip_by_norm/dv",  # max(c, ‖v‖): region by region
        "categorical_crossentropy/dp",  # clip
        "dropout/dx",  # a condition on the mask's value
    ],
)
def test_what_symengine_does_not_build_is_left_to_sympy(name):
    c = registry.claim(name)
    assert _shown(c) is None
    assert symbolic.prove(c).passed


def _with_where(c, old, new):
    where = tuple((nm, df.xreplace({old: new})) for nm, df in c.where)
    return dataclasses.replace(c, rhs=defined(c.shown, where), where=where)


def test_a_wrong_claim_is_never_shown_and_the_sympy_proof_names_it():
    import nnmath.library.attention as att

    n, j = indices("n j")
    x = sp.IndexedBase("x")

    wrong = [
        _with_where(registry.claim("multi_head_attention/dW_q"), att.Wv, att.Wk),
        dataclasses.replace(
            registry.claim("conv2d/dw"),
            rhs=2 * registry.claim("conv2d/dw").rhs,
            shown=None,
            where=(),
        ),
        dataclasses.replace(  # every weight's input read from feature 0
            registry.claim("mlp.sigmoid/dW1"),
            rhs=registry.claim("mlp.sigmoid/dW1").rhs.xreplace({x[n, j]: x[n, 0]}),
            shown=None,
        ),
    ]
    for c in wrong:
        assert c.rhs != registry.claim(c.name).rhs
        assert _shown(c) is None, c.name
        result = symbolic.prove(c)
        assert not result.passed and result.detail.startswith("at "), c.name


def _moving_sum(claimed):
    """y[n] = x[n]·(a[n] + x[n]); the claim reads the sum a + x too."""
    n = indices("n")[0] if isinstance(indices("n"), tuple) else indices("n")
    x, a, g = (sp.IndexedBase(s) for s in "xag")
    f = Formula(
        name="x_times_a_plus_x",
        title="x(a + x)",
        output="y",
        indices=(n,),
        expr=x[n] * (a[n] + x[n]),
        inputs=(Input("x", ("N",), "x"), Input("a", ("N",), "a")),
        tf="x * (a + x)",
        output_shape=("N",),
    )
    return Claim(f"{f.name}/dx", f, "x", g[n] * claimed(x[n], a[n]), "", (n,))


def test_a_sum_that_moves_with_the_variable_is_never_held():
    """Held as one symbol, a + x would make x·(a + x)'s derivative a + x."""
    assert _shown(_moving_sum(lambda x, a: a + x)) is None
    assert not symbolic.prove(_moving_sum(lambda x, a: a + x)).passed
    assert _shown(_moving_sum(lambda x, a: (a + x) + x))


def test_a_claim_right_because_the_softmax_weights_sum_to_one_is_shown():
    """b_k for b_v in multi-head attention's values adds the same to every
    key's dP, which the softmax's Jacobian takes away: the claim is right, and
    cancels once the softmax's denominators are cleared (SymPy: 7 minutes)."""
    import nnmath.library.attention as att

    c = registry.claim("multi_head_attention/dW_q")
    other = _with_where(c, att.bv, att.bk)
    assert other.rhs != c.rhs
    assert _shown(other) == _shown(c)
