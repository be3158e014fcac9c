"""Backpropagation through the two-layer perceptron: each step is a proved claim,
the layer-by-layer backward pass equals the proved whole-network gradients, and
the classic mistakes are caught by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import claim, formula
from nnmath.checker.cases import Case, sample
from nnmath.checker.checks import check_gradient, verify
from nnmath.library import mlp
from nnmath.library._symbols import N, i, k, n
from nnmath.library.activations import z
from nnmath.runs.training import Network

STEPS = ("dW2", "db2", "dz1", "dW1", "db1", "dx")


def _failed_methods(c, oracle: bool = False) -> set[str]:
    return {r.method for r in verify([], [c], oracle=oracle) if not r.passed}


def test_every_network_has_every_step_of_the_derivation():
    for prefix in mlp.NETWORKS:
        for step in STEPS:
            assert claim(f"{prefix}/{step}").formula.name in ("mlp", "mlp_top")


def test_steps_print_in_deltas_and_activations_not_expanded():
    assert claim("mlp/dW2").latex.endswith(
        r"= \sum_{n=0}^{N - 1} {\delta^{(2)}}_{n,k} {a^{(1)}}_{n,i}"
    )
    assert r"{\delta^{(1)}}_{n,i} {x}_{n,j}" in claim("mlp/dW1").latex
    # δ₁ is back through W₂, then times σ'(z₁) from the sigmoid's own claim
    dz1 = claim("mlp.sigmoid/dz1").latex
    assert (
        r"\sigma\left({z^{(1)}}_{n,i}\right)" in dz1 and r"{\delta^{(2)}}_{n,c}" in dz1
    )
    assert r"{W^{(2)}}_{c,i}" in dz1 and r"\partial {z^{(1)}}_{n,i}" in dz1


def test_delta2_is_the_loss_claims_gradient_on_the_network_logits():
    # δ₂ is not retyped: it is categorical_crossentropy_logits/dz with z = z₂
    net = mlp._Net("sigmoid", "softmax")
    logits = sp.IndexedBase("z")[n, k]
    assert net.definitions[mlp.D2](n, k) == net.on_logits(
        claim("categorical_crossentropy_logits/dz").rhs
    )
    assert not net.definitions[mlp.D2](n, k).has(logits)


def test_unknown_activation_or_head_names_the_valid_choices():
    with pytest.raises(ValueError, match="valid: sigmoid, tanh$"):
        formula("mlp", activation="swish")
    # issue 11: relu was listed, then crashed in the lowering (SymPy folds its
    # Piecewise out of the sum over hidden units): the composed loss does not take it
    with pytest.raises(
        ValueError, match="activation='relu' is not valid; valid: sigmoid"
    ):
        formula("mlp", activation="relu")
    with pytest.raises(ValueError, match="valid: softmax, sigmoid"):
        formula("mlp", head="linear")


# -- the layer-by-layer backward pass is the proved one -----------------------
@pytest.mark.parametrize("prefix", list(mlp.NETWORKS))
def test_layer_by_layer_backward_equals_the_proved_network_gradients(prefix):
    activation, head = mlp.NETWORKS[prefix]
    f = formula("mlp", activation=activation, head=head)
    arrays = sample(f, Case("N=6", {"N": 6, "J": 5, "I": 4, "K": 3}))
    params = {p: arrays[p] for p in ("W1", "b1", "W2", "b2")}
    ours = Network(activation, head).backward(params, arrays["x"], arrays["y"])
    for step in ("dW2", "db2", "dW1", "db1", "dx"):
        proved = claim(f"{prefix}/{step}").gradient.numpy(**arrays)
        np.testing.assert_allclose(
            ours[step[1:]], proved, rtol=1e-12, atol=1e-14, err_msg=step
        )
    loss = Network(activation, head).loss(params, arrays["x"], arrays["y"])
    assert loss == pytest.approx(float(f.numpy(**arrays)), rel=1e-13)


# -- the classic mistakes, each caught ------------------------------------------
def _delta1_with_derivative_at_the_activation() -> sp.Expr:
    """σ'(a) with a = σ(z₁), i.e. σ(σ(z₁))(1 − σ(σ(z₁))), in place of σ'(z₁)."""
    top = mlp._Net("sigmoid", "softmax", z1_is_input=True)
    K = formula("mlp_top", activation="sigmoid").dim_symbols["K"]
    back = sp.Sum(mlp.D2[n, mlp.c] * mlp.W2[mlp.c, i], (mlp.c, 0, K - 1))
    return top.expand(back * claim("sigmoid'").rhs.subs(z, mlp.A1[n, i]))


def test_sigmoid_derivative_applied_to_the_activation_is_caught():
    bad = dataclasses.replace(
        claim("mlp.sigmoid/dz1"), rhs=_delta1_with_derivative_at_the_activation()
    )
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_transposed_weight_gradient_is_caught():
    good = claim("mlp/dW2")
    bad = dataclasses.replace(good, rhs=good.rhs.xreplace({i: k, k: i}))
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_batch_gradient_summed_where_the_loss_takes_the_mean_is_caught():
    # δ₂ = a₂ − y without Keras's 1/N: every weight gradient N times too large
    good = claim("mlp/dW1")
    bad = dataclasses.replace(good, rhs=good.rhs * N)
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


@pytest.mark.tf
def test_tensorflow_catches_the_same_mistakes():
    wrong = [
        dataclasses.replace(
            claim("mlp.sigmoid/dz1"), rhs=_delta1_with_derivative_at_the_activation()
        ),
        dataclasses.replace(
            claim("mlp/dW2"), rhs=claim("mlp/dW2").rhs.xreplace({i: k, k: i})
        ),
        dataclasses.replace(claim("mlp/dW1"), rhs=claim("mlp/dW1").rhs * N),
    ]
    for bad in wrong:
        assert not check_gradient(bad, "float64").passed, bad.name
    assert check_gradient(claim("mlp.sigmoid/dz1"), "float64").passed
