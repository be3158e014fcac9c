"""Recurrent networks against Keras: SimpleRNN, LSTM and GRU with our weights,
GradientTape through them, the printed GRU errors caught, clipnorm."""

from __future__ import annotations

import numpy as np
import pytest

from nnmath import claims, formula
from nnmath.checker.checks import plan
from nnmath.checker.recurrent import (
    check_bptt_keras,
    check_cell_claim_keras,
    check_cell_keras,
    check_network_keras,
)
from nnmath.library.recurrent import (
    bptt_claims,
    gru_cell,
    lstm_claims,
    network_claims,
    networks,
    unrolled_network,
)

pytestmark = pytest.mark.tf


@pytest.mark.parametrize("net", networks(), ids=lambda n: n.name)
def test_network_matches_the_keras_layer(net):
    check = check_network_keras(net)
    assert check.passed, check.detail
    assert check.max_abs < 1e-14  # measured ≤ 4.5e-16


@pytest.mark.parametrize("cell", ["rnn_cell", "lstm_cell", "gru_cell"])
def test_cell_and_its_claims_match_the_keras_layer_over_one_step(cell):
    f = formula(cell)
    labels = [label for label, _ in plan([f], claims(cell))]
    assert f"{cell} keras-layer" in labels and f"{cell}/dW keras-layer" in labels
    check = check_cell_keras(f)
    assert check.passed and check.max_abs < 1e-14, check.detail  # measured 4.4e-16
    for c in claims(cell):
        check = check_cell_claim_keras(c)
        assert check.passed and check.max_abs < 1e-14, (c.name, check.detail)


@pytest.mark.parametrize("network", ["rnn", "lstm", "gru"])
def test_bptt_claims_match_gradient_tape_through_the_layer(network):
    for c in network_claims():
        if c.network.name == network:
            check = check_bptt_keras(c)
            assert check.passed, (c.name, check.detail)
            assert check.max_abs < 1e-13  # measured ≤ 2.7e-15


@pytest.mark.parametrize(
    "wrong",
    [
        {"swap": True, "name": "gru_cell_z_swapped"},
        {"reset_after": False, "name": "gru_cell_reset_before"},
    ],
    ids=["z and 1 − z swapped", "reset before the product"],
)
def test_gru_printed_errors_fail_against_keras(wrong):
    cell = gru_cell(**wrong)
    check = check_network_keras(unrolled_network("gru", cell=cell))
    assert not check.passed
    assert check.max_abs > 0.05, check.max_abs  # not a rounding: a different cell


def test_lstm_bptt_without_the_carry_fails_against_gradient_tape():
    net = unrolled_network("lstm")
    wrong = bptt_claims(net, lstm_claims(".no_carry", carry=False), ".no_carry")
    dW = next(c for c in wrong if c.wrt == "W")
    check = check_bptt_keras(dW)
    assert not check.passed and check.max_abs > 1e-3


def test_one_keras_call_per_case_serves_a_networks_claims(monkeypatch):
    """The LSTM's claims (x, h0, c0, W, U, b) are compared with one
    GradientTape call per case; a wrong claim asked right after them, and
    answered from the same call, still fails."""
    from nnmath.checker import oracle

    calls = []
    real = oracle._keras_rnn
    monkeypatch.setattr(oracle, "_LAYERS", {})
    monkeypatch.setattr(oracle, "_keras_rnn", lambda *a: calls.append(a) or real(*a))
    right = [c for c in network_claims() if c.network.name == "lstm"]
    assert len(right) >= 5
    for c in right:
        assert check_bptt_keras(c).passed, c.name
    net = right[0].network
    assert len(calls) == len(net.cases)
    wrong = bptt_claims(net, lstm_claims(".no_carry", carry=False), ".no_carry")
    dW = next(c for c in wrong if c.wrt == "W")
    assert not check_bptt_keras(dW).passed
    assert len(calls) == len(net.cases)


def test_clip_by_norm_is_what_keras_clipnorm_applies():
    """SGD(learning_rate=1, clipnorm=c) moves a variable by exactly the
    clipped gradient, for a gradient outside the ball and one inside it."""
    from nnmath.checker.oracle import tensorflow

    tf = tensorflow()
    import keras

    rng = np.random.default_rng(3)
    clipnorm = 0.5  # dyadic: Keras casts it through float32
    f = formula("clip_by_norm", clipnorm=clipnorm)
    for scale in (3.0, 0.01):
        g = scale * rng.normal(size=7)
        var = tf.Variable(np.zeros(7), dtype=tf.float64)
        opt = keras.optimizers.SGD(learning_rate=np.float64(1.0), clipnorm=clipnorm)
        opt.apply_gradients([(tf.constant(g, tf.float64), var)])
        np.testing.assert_allclose(-var.numpy(), f.numpy(v=g), rtol=1e-15, atol=0)
