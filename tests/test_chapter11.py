"""Chapter 11, LSTM and GRU: the numbers on screen are the trained networks'
and the cells' own, the arithmetic shown adds up, the printed errors are
different numbers, and the prose reports what the runs and the checker say.

Fast tests: no TensorFlow (but the last, marked ``tf``), no rendering.  The
networks are trained once per process (a few seconds each) by
:func:`nnmath.runs.recurrent.trained`.
"""

from __future__ import annotations

import numpy as np
import pytest

import chapters
from chapters import chapter11
from nnmath.checker.checks import verify
from nnmath.library.recurrent import cell_claims, cell_part, lstm_claims
from nnmath.registry import formula
from nnmath.runs.recurrent import Classifier, digit_rows, trained
from nnmath.worked import fmt

DATA = digit_rows()
CAND, HCAND = r"\tilde{c}", r"\tilde{h}"


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


@pytest.fixture(scope="module")
def ex():
    return chapter11.example()


@pytest.fixture(scope="module")
def digit():
    i = chapter11.DIGIT
    return DATA.x_test[i : i + 1]


# -- the LSTM's step and its carry path ---------------------------------------------
def test_the_lstm_gates_are_keras_s_written_out_by_hand(digit):
    """Keras's LSTMCell in NumPy, apart from the formulas: z = xW + hU + b,
    the gates in the order i, f, c̃, o."""
    p = trained("lstm").params
    st = chapter11.lstm_steps(digit)
    H = p["U"].shape[0]
    h = c = np.zeros((1, H))
    for t in range(digit.shape[1]):
        z = digit[:, t] @ p["W"] + h @ p["U"] + p["b"]
        i, f, g, o = (z[:, k * H : (k + 1) * H] for k in range(4))
        by_hand = {"i": _sigmoid(i), "f": _sigmoid(f), CAND: np.tanh(g)}
        by_hand["o"] = _sigmoid(o)
        for gate, value in by_hand.items():
            np.testing.assert_allclose(st[gate][:, t], value, rtol=0, atol=1e-15)
        np.testing.assert_allclose(st["c_prev"][:, t], c, rtol=0, atol=1e-15)
        np.testing.assert_allclose(st["h_prev"][:, t], h, rtol=0, atol=1e-15)
        c = by_hand["f"] * c + by_hand["i"] * by_hand[CAND]
        h = by_hand["o"] * np.tanh(c)
        np.testing.assert_allclose(st["c"][:, t], c, rtol=0, atol=1e-15)
        # the next step from the formula's states: no drift of our own
        c, h = st["c"][:, t], st["h"][:, t]


def test_the_cell_state_on_screen_is_f_c_plus_i_c_tilde_of_the_gates_on_screen():
    """On every step of every test digit: c_t = f·c_{t−1} + i·c̃ and
    h_t = o·tanh(c_t), the gates from the cell's named parts and c_t, h_t
    the cell's own outputs."""
    st = chapter11.lstm_steps(DATA.x_test[:64])
    c = st["f"] * st["c_prev"] + st["i"] * st[CAND]
    np.testing.assert_allclose(st["c"], c, rtol=0, atol=1e-15)
    np.testing.assert_allclose(st["h"], st["o"] * np.tanh(c), rtol=0, atol=1e-15)
    # the gates are sigmoids (strictly inside (0, 1)) and the candidate a tanh
    for gate in ("i", "f", "o"):
        assert np.all((st[gate] > 0) & (st[gate] < 1))
    assert np.all(np.abs(st[CAND]) < 1)


def test_the_worked_unit_adds_up_with_the_numbers_printed():
    st = {
        k: v[0, chapter11.STEP]
        for k, v in chapter11.lstm_steps(
            DATA.x_test[chapter11.DIGIT : chapter11.DIGIT + 1]
        ).items()
    }
    terms = ((st["f"], st["c_prev"]), (st["i"], st[CAND]))
    u = chapter11.worked_unit(terms, st["c"])
    printed = [float(fmt(v[u])) for v in (st["f"], st["c_prev"], st["i"], st[CAND])]
    total = printed[0] * printed[1] + printed[2] * printed[3]
    assert fmt(total) == fmt(st["c"][u])


def test_worked_unit_skips_a_unit_whose_rounding_does_not_add_up():
    # unit 0: 0.444·1 + 0.444·1 = 0.888 → 0.89, but printed 0.44 + 0.44 = 0.88
    a = np.array([0.444, 0.5])
    one = np.ones(2)
    result = a + a
    assert chapter11.worked_unit(((a, one), (a, one)), result, shown=2) == 1


def test_the_carry_unit_keeps_the_largest_product_of_forget_gates(ex):
    f = ex["lstm"]["f"]
    kept = np.prod(f[1:], axis=0)
    assert ex["carry_unit"] == int(np.argmax(kept))
    # what c₀ leaves in c₇ along the cell state alone: ∂c₇/∂c₀ on that path
    np.testing.assert_allclose(ex["kept"], kept, rtol=1e-15)
    assert 0 < kept.max() < 1


def test_the_gradient_along_c_is_zero_at_the_last_step_only(ex):
    norms = ex["norms"]
    assert norms["lstm_c"][-1] == 0  # the loss reads h_{T-1} only
    assert np.all(norms["lstm_c"][:-1] > 0) and np.all(norms["rnn"] > 0)
    assert np.all((ex["mean_f"] > 0) & (ex["mean_f"] < 1))
    # what the scene and the prose say: over 8 steps neither trained network's
    # gradient vanishes; both are larger at t = 0 than at the last step they reach
    assert norms["rnn"][0] > norms["rnn"][-1]
    assert norms["lstm_c"][0] > norms["lstm_c"][-2]


# -- the GRU and its printed versions ------------------------------------------------
def test_the_gru_step_is_keras_s_and_the_printed_ones_are_other_numbers(digit):
    p = trained("gru").params
    st = chapter11.gru_steps(digit)
    H = p["U"].shape[0]
    h = np.zeros((1, H))
    for t in range(digit.shape[1]):
        x = digit[:, t]
        sx, sh = x @ p["W"] + p["b"][0], h @ p["U"] + p["b"][1]
        z = _sigmoid(sx[:, :H] + sh[:, :H])
        r = _sigmoid(sx[:, H : 2 * H] + sh[:, H : 2 * H])
        hh = np.tanh(sx[:, 2 * H :] + r * sh[:, 2 * H :])  # r after the product
        before = np.tanh(
            sx[:, 2 * H :] + (r * h) @ p["U"][:, 2 * H :] + p["b"][1, 2 * H :]
        )
        for gate, value in (("z", z), ("r", r), (HCAND, hh)):
            np.testing.assert_allclose(st[gate][:, t], value, rtol=0, atol=1e-15)
        np.testing.assert_allclose(
            st["swapped"][:, t], (1 - z) * h + z * hh, rtol=0, atol=1e-15
        )
        np.testing.assert_allclose(
            st["reset_before"][:, t], z * h + (1 - z) * before, rtol=0, atol=1e-15
        )
        h_new = z * h + (1 - z) * hh
        np.testing.assert_allclose(st["h"][:, t], h_new, rtol=0, atol=1e-14)
        h = st["h"][:, t]
    # on screen: each printed GRU is visibly another number somewhere
    t = chapter11.STEP
    for wrong in ("swapped", "reset_before"):
        assert np.abs(st[wrong][0, t] - st["h"][0, t]).max() > 0.05


def test_the_gru_worked_unit_adds_up(ex):
    st = {k: v[chapter11.STEP] for k, v in ex["gru"].items()}
    u = chapter11.worked_unit(
        ((st["z"], st["h_prev"]), (1 - st["z"], st[HCAND])), st["h"]
    )
    z, hp, hh = (float(fmt(v[u])) for v in (st["z"], st["h_prev"], st[HCAND]))
    assert fmt(z * hp + float(fmt(1 - st["z"][u])) * hh) == fmt(st["h"][u])
    np.testing.assert_allclose(
        st["h"], st["z"] * st["h_prev"] + (1 - st["z"]) * st[HCAND], atol=1e-15
    )


# -- the library pieces the chapter uses ---------------------------------------------
def test_cell_part_names_the_valid_gates_and_cells():
    with pytest.raises(ValueError, match=r"valid: i, f, \\tilde\{c\}, o"):
        cell_part("lstm_cell", "g")
    with pytest.raises(ValueError, match="valid: z, r"):
        cell_part("gru_cell", "i")
    with pytest.raises(ValueError, match="valid: lstm_cell, gru_cell"):
        cell_part("rnn_cell", "h")
    assert cell_part("lstm_cell", "f").output_shape == ("N", "H")


def test_a_classifier_runs_the_claims_it_is_given():
    p = trained("lstm").params
    x, y = DATA.x_test[:8], DATA.y_test[:8]
    plain, _ = Classifier("lstm").backward(p, x, y)
    same, _ = Classifier("lstm", claims=cell_claims("lstm_cell")).backward(p, x, y)
    wrong, _ = Classifier(
        "lstm", claims=lstm_claims(".no_carry", carry=False)
    ).backward(p, x, y)
    for k in plain:
        np.testing.assert_array_equal(same[k], plain[k])
    assert np.linalg.norm(wrong["U"] - plain["U"]) > 0.1 * np.linalg.norm(plain["U"])
    # the readout's gradient does not go through time: unchanged
    np.testing.assert_array_equal(wrong["W_out"], plain["W_out"])


def test_the_chapter_declares_the_cells_and_their_bptt_claims():
    ch = chapters.get("chapter11")
    assert ch.slug == "lstm" and chapters.get("lstm") is ch
    assert {"lstm_cell", "gru_cell"} <= set(ch.formulas)
    for net, inputs in (("lstm", "x h0 c0 W U b"), ("gru", "x h0 W U b")):
        for wrt in inputs.split():
            assert f"{net}/d{wrt}" in ch.claims
    for wrt in "x h c W U b".split():
        assert f"lstm_cell/d{wrt}" in ch.claims
    assert formula("gru_cell").input("b").shape == ("R", "G")


# -- the prose reports the runs and the checker -------------------------------------
def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def test_the_prose_reports_the_runs_and_the_scenes_numbers(ex):
    prose = " ".join(chapter11.CHAPTER.prose.split())
    acc = ex["accuracy"]
    assert f"SimpleRNN is right on {100 * acc['rnn']:.1f}%" in prose
    assert f"the LSTM on **{100 * acc['lstm']:.1f}%**" in prose
    assert f"the GRU on {100 * acc['gru']:.1f}%" in prose
    assert f"On the {ex['tests']} test digits" in prose
    assert f"with {ex['units']} units each, trained for {ex['epochs']} epochs" in prose
    k = ex["carry_unit"]
    assert f"follows unit {k + 1} of the trained LSTM" in prose
    assert f"f₁·f₂·…·f₇ = **{fmt(ex['kept'][k])}**" in prose
    f = ex["lstm"]["f"][chapter11.STEP :, k]
    assert "from step 4 on they are " + ", ".join(fmt(v) for v in f[:-1]) in prose
    assert f"and {fmt(f[-1])}, and what" in prose
    n = ex["norms"]
    assert f"the SimpleRNN's is {fmt(n['rnn'][-1], 3)} at t = 7 and " in prose
    assert f"{fmt(n['rnn'][0], 3)} at t = 0" in prose
    assert f"along c {fmt(n['lstm_c'][-2], 3)} at t = 6 and" in prose
    assert f"{fmt(n['lstm_c'][0], 3)} at t = 0" in prose
    assert f"forget gates average {fmt(ex['mean_f'].mean())}" in prose
    assert ex["label"] == 6 and "a handwritten 6" in prose
    assert set(ex["predicted"].values()) == {6}
    err = ex["errors"]
    assert f"its ∂L/∂U is **{_pct(err['no_carry'])}** off" in prose
    assert f"∂L/∂U on the same digit is {_pct(err['no_tanh_prime'])} off" in prose
    assert f"({_pct(err['swapped'])} off in ∂L/∂U" in prose


def test_the_verdicts_quoted_are_the_checker_s_own():
    """Each failure line in the prose is what verify prints for that printed
    error, and each printed error fails both ways."""
    prose = chapter11.CHAPTER.prose
    rows = verify([], list(chapter11.printed_claims().values()), oracle=False)
    failed = {(r.subject, r.method) for r in rows if not r.passed}
    for name in ("lstm/dc0.no_carry", "lstm/db.no_tanh_prime", "gru/dU.swapped"):
        assert {(name, "symbolic"), (name, "finite-differences")} <= failed
    quoted = [line for line in prose.splitlines() if line.startswith("FAILED")]
    lines = {r.line for r in rows}
    checker = [q for q in quoted if not q.startswith("FAILED gru [keras-layer")]
    assert len(checker) == 5
    for q in checker:
        assert q in lines, q


@pytest.mark.tf
def test_the_printed_grus_fail_against_keras_as_the_prose_quotes():
    from nnmath.checker.recurrent import check_network_keras

    prose = chapter11.CHAPTER.prose
    for net in chapter11.printed_cells().values():
        check = check_network_keras(net)
        assert not check.passed and check.max_abs > 0.05
        assert check.line in prose, check.line
