"""Recurrent cells, their unrolled networks and BPTT: the maths, without
TensorFlow (the Keras cross-checks are in test_recurrent_tf.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnmath import formula
from nnmath.checker.checks import check_lowering, verify
from nnmath.checker.recurrent import (
    check_bptt_finite_differences,
    prove_bptt,
    sample,
)
from nnmath.library.recurrent import (
    bptt_claims,
    cell_claims,
    keras_initial_bias,
    lstm_claims,
    network_claims,
    unrolled_network,
)

CLAIMS = {c.name: c for c in network_claims()}
rng = np.random.default_rng(15)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _inputs(name: str, N=2, T=4, F=3, H=5):
    k = {"rnn": 1, "lstm": 4, "gru": 3}[name]
    arrays = {
        "x": rng.normal(size=(N, T, F)),
        "h0": rng.normal(size=(N, H)),
        "W": 0.5 * rng.normal(size=(F, k * H)),
        "U": 0.5 * rng.normal(size=(H, k * H)),
        "b": 0.5 * rng.normal(size=(2, 3 * H) if name == "gru" else (k * H,)),
    }
    if name == "lstm":
        arrays["c0"] = rng.normal(size=(N, H))
    return arrays


def _keras_by_hand(name: str, a: dict) -> np.ndarray:
    """Keras's cells written out in NumPy from its source (simple_rnn.py,
    lstm.py, gru.py), independently of the formulas."""
    h, c = a["h0"], a.get("c0")
    out = []
    for t in range(a["x"].shape[1]):
        x = a["x"][:, t]
        if name == "rnn":
            h = np.tanh(x @ a["W"] + a["b"] + h @ a["U"])
            out.append(h)
        elif name == "lstm":
            z = x @ a["W"] + h @ a["U"] + a["b"]
            i, f, g, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
            out.append(np.concatenate([h, c], axis=1))
        else:
            H = h.shape[1]
            sx, sh = x @ a["W"] + a["b"][0], h @ a["U"] + a["b"][1]
            z = _sigmoid(sx[:, :H] + sh[:, :H])
            r = _sigmoid(sx[:, H : 2 * H] + sh[:, H : 2 * H])
            hh = np.tanh(sx[:, 2 * H :] + r * sh[:, 2 * H :])
            h = z * h + (1 - z) * hh
            out.append(h)
    return np.stack(out, axis=1)


@pytest.mark.parametrize("name", ["rnn", "lstm", "gru"])
def test_unrolled_network_is_its_cell_step_by_step_as_keras_writes_it(name):
    a = _inputs(name)
    net = unrolled_network(name)
    ours = net.numpy(**a)
    np.testing.assert_allclose(ours, _keras_by_hand(name, a), rtol=1e-13, atol=1e-14)


def test_lstm_cell_gives_h_and_c_side_by_side_by_name():
    f = formula("lstm_cell")
    a = _inputs("lstm", T=1)
    cell = {"x": a["x"][:, 0], "h": a["h0"], "c": a["c0"], **{w: a[w] for w in "WUb"}}
    parts = f.split(f.numpy(**cell))
    assert list(parts) == ["h'", "c'"] and parts["c'"].shape == (2, 5)
    whole = _keras_by_hand("lstm", a)[:, 0]
    np.testing.assert_allclose(parts["h'"], whole[:, :5], rtol=1e-13)
    np.testing.assert_allclose(parts["c'"], whole[:, 5:], rtol=1e-13)
    assert "{c'}_{n,u} = " in f.latex and "{h'}_{n,u} = " in f.latex


@pytest.mark.parametrize("name", ["lstm_cell", "gru_cell"])
def test_cells_lowering_equals_the_definition(name):
    # failed on the old lowering: contract(xW) + contract(hU) was fused with
    # the bias as one call (the LSTM's gates lost a minus sign's parentheses;
    # the GRU's (xW + b₀) + hU repeated add=)
    check = check_lowering(formula(name))
    assert check.passed, check.detail


def test_unit_forget_bias_is_one_for_the_forget_gate_only():
    assert keras_initial_bias(2).tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


@pytest.mark.parametrize("name", ["rnn/dW", "rnn/dh0", "lstm/dc0", "gru/dh0"])
def test_bptt_claim_is_proved_on_the_unrolled_instance(name):
    result = prove_bptt(CLAIMS[name])
    assert result.passed, result.detail
    assert "T=3" in result.detail and "H=2" in result.detail


def test_every_bptt_composition_is_the_chain_rule_through_time():
    # the cell claims each composes are proved by test_claims.py (and in full,
    # with them, by verify); here their composition over the steps
    for c in CLAIMS.values():
        result = prove_bptt(c, cells=False)
        assert result.passed, (c.name, result.detail)


@pytest.mark.parametrize("name", ["rnn/dx", "rnn/dh0", "rnn/dW", "rnn/dU", "rnn/db"])
def test_bptt_claim_matches_finite_differences(name):
    check = check_bptt_finite_differences(CLAIMS[name])
    assert check.passed, check.detail


def test_lstm_and_gru_bptt_match_finite_differences_on_a_small_case():
    a = _inputs("lstm", N=2, T=3, F=3, H=2)
    for name in ("lstm", "gru"):
        a = _inputs(name, N=2, T=3, F=3, H=2)
        net = unrolled_network(name)
        g = rng.normal(size=net.numpy(**a).shape)
        for c in (c for c in CLAIMS.values() if c.network.name == name):
            x0, fd = a[c.wrt], np.zeros_like(a[c.wrt])
            for idx in np.ndindex(*x0.shape):
                up, down = x0.copy(), x0.copy()
                up[idx] += 1e-6
                down[idx] -= 1e-6
                fd[idx] = (
                    np.sum(net.numpy(**{**a, c.wrt: up}) * g)
                    - np.sum(net.numpy(**{**a, c.wrt: down}) * g)
                ) / 2e-6
            np.testing.assert_allclose(c.numpy(**a, g=g), fd, atol=1e-8, err_msg=c.name)


# -- the printed errors of section 5, each caught by verify --------------------------
def _failed(claims) -> dict[str, set]:
    rows = verify([], claims, oracle=False)
    failed: dict[str, set] = {}
    for r in rows:
        if not r.passed:
            failed.setdefault(r.subject, set()).add(r.method)
    return failed


def _lstm_with(suffix: str, **errors):
    cells = lstm_claims(suffix=suffix, **errors)
    return bptt_claims(unrolled_network("lstm"), cells, suffix=suffix), cells


def test_lstm_bptt_without_the_carry_term_is_caught():
    claims, _ = _lstm_with(".no_carry", carry=False)
    dc0 = next(c for c in claims if c.wrt == "c0")
    assert _failed([dc0]) == {"lstm/dc0.no_carry": {"symbolic", "finite-differences"}}
    assert "the cell's claim lstm_cell/dh.no_carry" in prove_bptt(dc0).detail


def test_lstm_bptt_without_tanh_prime_of_c_is_caught():
    claims, _ = _lstm_with(".no_tanh_prime", tanh_prime=False)
    db = next(c for c in claims if c.wrt == "b")
    assert _failed([db]) == {
        "lstm/db.no_tanh_prime": {"symbolic", "finite-differences"}
    }


@pytest.mark.parametrize("error", ["accumulate", "through_time"])
def test_bptt_not_accumulated_over_time_is_caught(error):
    wrong = dataclasses.replace(
        CLAIMS["rnn/dW"], name=f"rnn/dW.no_{error}", **{error: False}
    )
    assert _failed([wrong]) == {wrong.name: {"symbolic", "finite-differences"}}
    assert "chain rule through time" in prove_bptt(wrong).detail


def test_the_right_claims_pass_the_same_checks():
    assert _failed([CLAIMS["rnn/dW"], CLAIMS["rnn/dh0"]]) == {}


# -- bad input (section 6): one ValueError naming what is valid ---------------------
@pytest.mark.parametrize(
    "name, change, needles",
    [
        ("rnn", {"x": np.ones((2, 3))}, ["x has shape (2, 3) (2 axes)", "(N, T, F)"]),
        ("rnn", {"x": np.ones((2, 0, 3))}, ["T=0 steps", "valid: T ≥ 1"]),
        (
            "rnn",
            {"h0": np.ones((2, 4))},
            ["h0 (the initial h) has shape (2, 4)", "valid: (N, H) = (2, 5)"],
        ),
        (
            "lstm",
            {"c0": np.ones((3, 5))},
            ["c0 (the initial c)", "valid: (N, H) = (2, 5)"],
        ),
        (
            "lstm",
            {"U": np.ones((5, 15))},
            ["U has shape (5, 15), so G=15", "W (3, 20) gives G=20"],
        ),
        (
            "lstm",
            {"W": np.ones((3, 15)), "U": np.ones((5, 15)), "b": np.ones(15)},
            ["G must be 4*H = 20", "gives 15"],
        ),
        (
            "gru",
            {"b": np.ones((3, 15))},
            ["an input gives R=3", "valid: R=2 (b (R, G))"],
        ),
    ],
)
def test_bad_input_is_one_value_error_naming_what_is_valid(name, change, needles):
    a = {**_inputs(name), **change}
    with pytest.raises(ValueError) as info:
        unrolled_network(name).numpy(**a)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{name}: ")
    for needle in needles:
        assert needle in text, text


def test_unknown_network_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid: rnn, lstm, gru"):
        unrolled_network("transformer")


def test_cell_claims_cover_every_input():
    for cell, inputs in {
        "rnn_cell": "x h W U b",
        "lstm_cell": "x h c W U b",
        "gru_cell": "x h W U b",
    }.items():
        assert sorted(cell_claims(cell)) == sorted(inputs.split())


def test_samples_tell_the_dimensions_apart():
    net = unrolled_network("lstm")
    for _, sizes in net.cases:
        a = sample(net, sizes, "test")
        assert a["x"].shape == (sizes["N"], sizes["T"], sizes["F"])
        assert a["W"].shape == (sizes["F"], 4 * sizes["H"])


def test_a_cell_is_no_optimizer_update_rule_in_the_plan():
    # it gives h′ from h, as an update rule gives θ′ from θ: verify asked it for
    # a Keras optimizer and failed it (rnn_cell keras-trajectory FAIL)
    from nnmath.checker.checks import plan

    for cell in ("rnn_cell", "gru_cell"):
        labels = [label for label, _ in plan([formula(cell)], [], oracle=False)]
        assert labels == [f"{cell} lowering"]


def test_show_prints_the_cells_equations_and_numpy_and_the_network_loop():
    from click.testing import CliRunner

    from cli.main import cli

    runner = CliRunner()
    cell = runner.invoke(cli, ["show", "lstm_cell"])
    assert cell.exit_code == 0, cell.output
    for needed in ("{c'}_{n,u} = ", "{h'}_{n,u} = ", "def lstm_cell(", "lstm_cell/dc"):
        assert needed in cell.output
    net = runner.invoke(cli, ["show", "gru"])
    assert net.exit_code == 0, net.output
    for needed in (
        "for t in range(x.shape[1]):",
        "formula('gru_cell').numpy(x=x[:, t], h=h, W=W, U=U, b=b)",
        "def gru_cell(",
        "gru/dh0",
        "keras.layers.GRU",
    ):
        assert needed in net.output, needed
