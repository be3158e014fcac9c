"""Chapter 10, recurrent networks: the numbers on screen are the trained
SimpleRNN's and the formulas' and claims' (recomputed here step by step from the
registered cell), the norms the scenes show fall or grow as the runs say, the
tutorials' last-step BPTT computes exactly the claim verify rejects, and the
prose reports the scenes' numbers.

Fast tests: no TensorFlow, no rendering.  The networks are trained once per
process (about 3 s for the SimpleRNN, 6 s for the LSTM).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import chapters
from chapters import chapter10
from nnmath.checker.recurrent import check_bptt_symbolic
from nnmath.registry import claim, formula
from nnmath.runs import tutorials
from nnmath.runs.recurrent import Classifier, digit_rows, gradient_norms
from nnmath.worked import fmt


@pytest.fixture(scope="module")
def ex():
    return chapter10.example()


def _inputs(rd: dict) -> dict:
    p = rd["params"]
    x = rd["x"][None]
    return {"x": x, "h0": np.zeros((1, chapter10.UNITS)), **{w: p[w] for w in "WUb"}}


def _upstream(rd: dict, bt: dict) -> np.ndarray:
    """The classifier's upstream of every state: ∂L/∂h_{T−1} at the last step
    (the loss reads nothing else), zero before."""
    g = np.zeros((1, *rd["h"].shape))
    g[0, -1] = bt["delta"][-1]
    return g


# -- the forward pass on screen --------------------------------------------------
def test_the_hidden_states_are_the_cell_run_step_by_step(ex):
    rd = ex["reading"]
    p, cell = rd["params"], formula("rnn_cell")
    h = np.zeros((1, chapter10.UNITS))
    for t, row in enumerate(rd["x"]):
        h = cell.numpy(x=row[None], h=h, W=p["W"], U=p["U"], b=p["b"])
        np.testing.assert_array_equal(rd["h"][t], h[0])
    assert rd["h"].shape == (8, chapter10.UNITS) and np.abs(rd["h"]).max() < 1


def test_the_readout_is_dense_then_softmax_of_the_last_state(ex):
    rd = ex["reading"]
    p = rd["params"]
    z = formula("dense").numpy(x=rd["h"][-1:], W=p["W_out"], b=p["b_out"])
    np.testing.assert_allclose(rd["probs"], formula("softmax").numpy(z=z)[0])
    # the first test digit the trained network gets right, and it is right
    data = digit_rows()
    assert rd["predicted"] == rd["digit"] == int(data.y_test[rd["index"]].argmax())
    np.testing.assert_array_equal(rd["x"], data.x_test[rd["index"]])
    predicted = Classifier("rnn").predict(p, data.x_test[: rd["index"]])
    assert (predicted != data.y_test[: rd["index"]].argmax(axis=1)).all()


# -- backpropagation through time ------------------------------------------------
def test_each_step_back_is_the_cells_claim_about_its_state(ex):
    rd, bt = ex["reading"], ex["through_time"]
    p, dh = rd["params"], claim("rnn_cell/dh").gradient
    states = [np.zeros((1, chapter10.UNITS)), *[h[None] for h in rd["h"]]]
    for t in range(len(rd["h"]) - 1, 0, -1):
        step = {"x": rd["x"][t][None], "h": states[t], **{w: p[w] for w in "WUb"}}
        back = dh.numpy(
            **{n: {**step, "g": bt["delta"][t][None]}[n] for n in dh.input_names}
        )
        np.testing.assert_allclose(bt["delta"][t - 1], back[0], rtol=1e-13, atol=1e-17)


def test_the_norms_shown_are_the_runs_and_shrink_overall(ex):
    rd, bt = ex["reading"], ex["through_time"]
    norms = gradient_norms("rnn", rd["params"], rd["x"][None], rd["y"])["h"]
    np.testing.assert_array_equal(bt["norms"], norms)
    # step 0 gets 12.6% of step 7's: the scene's sentence
    assert bt["norms"][0] < 0.2 * bt["norms"][-1]


def test_the_steps_terms_sum_to_the_registered_bptt_claim(ex):
    rd, bt = ex["reading"], ex["through_time"]
    bptt = claim("rnn/dU").numpy(**_inputs(rd), g=_upstream(rd, bt))
    np.testing.assert_allclose(sum(bt["parts"]), bptt, rtol=1e-12, atol=1e-17)
    np.testing.assert_allclose(bt["dU"], bptt, rtol=1e-12, atol=1e-17)
    assert bt["part_norms"][0] == 0  # h_{−1} = 0: step 0 adds nothing to ∂L/∂U


# -- the vanishing gradient ------------------------------------------------------
def test_the_plot_is_gradient_norms_at_the_start_and_trained(ex):
    va, data = ex["vanishing"], digit_rows()
    x, y = data.x_train[: chapter10.NORM_BATCH], data.y_train[: chapter10.NORM_BATCH]
    for network in ("rnn", "lstm"):
        run = chapter10.trained(network)
        for when, p in (("start", run.initial), ("trained", run.params)):
            np.testing.assert_array_equal(
                va[network][when], gradient_norms(network, p, x, y)["h"]
            )
        # at Keras's initial weights both shrink at every step back
        assert np.all(np.diff(va[network]["start"]) > 0), va[network]["start"]
    # trained, the SimpleRNN's no longer fades: step 0 gets more than step 7
    assert va["rnn"]["trained"][0] > va["rnn"]["trained"][-1]
    before, after = va["stretch"]
    assert before == pytest.approx(1.0, abs=1e-12) and after > 2


# -- explosion and clipping ------------------------------------------------------
def test_scaling_u_explodes_and_clipping_holds_the_norm(ex):
    e = ex["explosion"]
    np.testing.assert_array_equal(e["scales"], chapter10.SCALES)
    assert np.all(np.diff(e["first"]) > 0) and e["first"][-1] > 100 * e["first"][0]
    assert np.all(np.diff(e["dU"]) > 0)
    np.testing.assert_allclose(
        e["clipped_dU"], np.minimum(e["dU"], chapter10.CLIPNORM), rtol=1e-14
    )
    assert e["dU"][0] < chapter10.CLIPNORM < e["dU"][1]  # ×1 passes, ×2 is clipped


# -- the tutorials' error --------------------------------------------------------
def test_the_printed_code_computes_the_claim_verify_rejects(ex):
    rd, bt, ls = ex["reading"], ex["through_time"], ex["last_step"]
    wrong = tutorials.last_step_claim("U")
    ours = wrong.numpy(**_inputs(rd), g=_upstream(rd, bt))
    np.testing.assert_allclose(ls["tutorial_dU"], ours, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(ls["tutorial_dU"], bt["parts"][-1], rtol=1e-12)
    # and on a random batch with several sequences, for W and b too
    rng = np.random.default_rng(3)
    N, T, F, H = 4, 5, 3, 6
    a = {
        "x": rng.normal(size=(N, T, F)),
        "h0": rng.normal(size=(N, H)),
        "W": rng.normal(size=(F, H)),
        "U": rng.normal(size=(H, H)) / 2,
        "b": rng.normal(size=H),
    }
    out = Classifier("rnn").net.numpy(**a)
    g = np.zeros_like(out)
    g[:, -1] = rng.normal(size=(N, H))
    states = [a["h0"], *[out[:, t] for t in range(T)]]
    printed = dict(zip("WUb", tutorials.rnn_backward(a["x"], states, g[:, -1])))
    for w in "WUb":
        stated = tutorials.last_step_claim(w).numpy(**a, g=g)
        np.testing.assert_allclose(printed[w], stated, rtol=1e-12, atol=1e-15)
        right = claim(f"rnn/d{w}").numpy(**a, g=g)
        assert np.abs(right - stated).max() > 1e-2


def test_verify_fails_the_last_step_gradient_and_passes_the_sum(ex):
    ls = ex["last_step"]
    assert [line.split(":")[0] for line in ls["verdict"]] == [
        "FAILED rnn/dU.last_step [symbolic exact]",
        "FAILED rnn/dU.last_step [finite-differences float64]",
    ]
    assert "chain rule through time" in ls["verdict"][0]
    assert check_bptt_symbolic(claim("rnn/dU")).passed
    assert ls["source"] == tutorials.source(tutorials.rnn_backward)


# -- the chapter and its prose ---------------------------------------------------
def test_the_chapter_declares_the_cell_the_bptt_claims_and_clipping():
    ch = chapters.get("10")
    assert ch is chapter10.CHAPTER and chapters.get("recurrent") is ch
    for name in ("rnn_cell", "clip_by_norm"):
        assert name in ch.formulas
    for wrt in ("x", "h0", "W", "U", "b"):
        assert f"rnn/d{wrt}" in ch.claims
    for wrt in ("x", "h", "W", "U", "b"):
        assert f"rnn_cell/d{wrt}" in ch.claims
    assert "clip_by_norm/dv" in ch.claims


def _code_blocks(prose: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```python\n(.*?)```", prose, re.DOTALL)]


def _short(x: float) -> str:
    return chapter10.short(x)


def test_the_prose_reports_the_scenes_numbers(ex):
    raw = chapter10.CHAPTER.prose
    prose = " ".join(raw.split())
    rd, bt, va, e = ex["reading"], ex["through_time"], ex["vanishing"], ex["explosion"]
    assert tutorials.source(tutorials.rnn_backward) in _code_blocks(raw)
    assert f"has {chapter10.UNITS} units" in prose
    assert f"for {chapter10.EPOCHS['rnn']} epochs" in prose
    assert f"**{rd['accuracy']:.1%}**" in prose
    assert f"{len(digit_rows().x_train):,} digits" in prose
    assert f"p = **{fmt(rd['probs'][rd['predicted']])}**" in prose
    assert f"the first test digit, a {rd['digit']}" in prose
    assert f"**{_short(bt['norms'][-1])}** at step 7" in prose
    assert f"**{_short(bt['norms'][0])}** at step 0" in prose
    assert f"{bt['norms'][0] / bt['norms'][-1]:.1%} of what step 7 gets" in prose
    grew = int(np.sum(bt["norms"][:-1] > bt["norms"][1:]))
    assert f"{['no', 'one', 'two', 'three', 'four'][grew]} of the seven steps" in prose
    rnn, lstm = va["rnn"], va["lstm"]
    assert f"**{_short(rnn['start'][-1])}** at t = 7" in prose
    assert f"**{_short(rnn['start'][0])}** at t = 0" in prose
    assert f"from {_short(lstm['start'][-1])} to {_short(lstm['start'][0])}" in prose
    assert f"{lstm['accuracy']:.1%} on the held-out digits" in prose
    assert f"**{_short(rnn['trained'][0])}**" in prose
    assert f"than at step 7 ({_short(rnn['trained'][-1])})" in prose
    assert f"from {va['stretch'][0]:.2f} to **{va['stretch'][1]:.2f}**" in prose
    first = [_short(v) for v in e["first"]]
    assert f"from {first[0]} to {first[1]}, {first[2]} and **{first[3]}**" in prose
    assert f"from {_short(e['dU'][0])} to {_short(e['dU'][-1])}" in prose
    assert f"the unscaled one ({_short(e['dU'][0])})" in prose
    assert f"grows {e['first'][-1] / e['first'][0]:,.0f}-fold" in prose
    ls = ex["last_step"]
    right = np.linalg.norm(bt["dU"])
    off = np.linalg.norm(ls["tutorial_dU"] - bt["dU"]) / right
    assert f"to {_short(bt['part_norms'][-1])} (step 7)" in prose
    assert f"has norm **{_short(right)}**" in prose
    assert f"off by **{off:.0%}**" in prose
    for line in ls["verdict"]:
        assert f"`{line.split(':')[0].removeprefix('FAILED ')}`" in prose
