"""Chapters 3 (losses) and 5 (backpropagation): the numbers on screen are
nnmath's numbers, checked against closed forms where one exists, and the prose
says what the scenes show."""

from __future__ import annotations

import numpy as np
import pytest

import chapters
from chapters import chapter3, chapter5
from chapters.base import PLACEHOLDER
from nnmath import claim, formula
from nnmath.worked import fmt


@pytest.fixture(scope="module")
def ex3():
    return chapter3.example()


@pytest.fixture(scope="module")
def ex5():
    return chapter5.example()


@pytest.mark.parametrize("name, number", [("losses", 3), ("backprop", 5)])
def test_chapters_resolve_and_their_prose_placeholders_are_filled(name, number):
    ch = chapters.get(name)
    assert ch.number == number and chapters.get(str(number)) is ch
    assert PLACEHOLDER.search(ch.prose) is None and ch.prose.count("$$") >= 8


# -- chapter 3 -----------------------------------------------------------------
def test_loss_curves_are_the_closed_forms_away_from_the_clip(ex3):
    p = ex3["p"]
    np.testing.assert_allclose(ex3["curves"]["mse"], (1 - p) ** 2, rtol=1e-12)
    for name in ("binary_crossentropy", "categorical_crossentropy"):
        np.testing.assert_allclose(ex3["curves"][name], -np.log(p), rtol=1e-9)


def test_clipping_caps_the_loss_at_minus_log_epsilon_while_the_logits_know_better(ex3):
    eps = formula("categorical_crossentropy").constants["epsilon"]
    assert ex3["probs"][2] == 0.0  # e^-1000 underflows float64
    assert ex3["clipped_loss"][2] == pytest.approx(-np.log(eps), rel=1e-6)
    # log(e^1000 + e^998 + e^0) − 0, written without overflow by hand
    assert ex3["logits_loss"][2] == pytest.approx(
        1000 + np.log1p(np.exp(-2.0)), rel=1e-12
    )
    assert ex3["logits_loss"][1] == pytest.approx(2 + np.log1p(np.exp(-2.0)), rel=1e-12)
    # taken literally: log 0 = −inf for class 2, 0·log 0 = NaN for the others
    assert (
        np.isinf(ex3["unclipped_loss"][2]) and np.isnan(ex3["unclipped_loss"][:2]).all()
    )


def test_without_the_max_shift_the_logits_overflow(ex3):
    assert np.isnan(ex3["naive_logits_loss"]).all()
    assert np.isnan(ex3["naive_probs"][:2]).all()
    assert np.isfinite(ex3["logits_loss"]).all()


def test_chapter3_prose_quotes_the_scene_numbers(ex3):
    prose = chapters.get("losses").prose
    for value in (
        ex3["marks"]["mse"][2],
        ex3["marks"]["mse"][1],
        *ex3["marks"]["binary_crossentropy"],
        ex3["clipped_loss"][2],
        ex3["logits_loss"][2],
        *ex3["logits_loss"][:2],
        ex3["exp_limit"],
    ):
        assert fmt(value) in prose, fmt(value)


def test_shown_spells_out_ieee_specials():
    assert [chapter3.shown(v) for v in (np.nan, np.inf, -1.5)] == ["NaN", "∞", "−1.50"]


# -- chapter 5 -----------------------------------------------------------------
def _network_arrays(ex5) -> dict:
    return {"x": ex5["x"], "y": ex5["y"], **ex5["params"]}


def test_backward_pass_is_the_proved_whole_network_gradient(ex5):
    arrays = _network_arrays(ex5)
    for step, key in (
        ("dW2", "W2"),
        ("db2", "b2"),
        ("dW1", "W1"),
        ("db1", "b1"),
        ("dx", "x"),
    ):
        proved = claim(f"{chapter5.NETWORK}/{step}").gradient.numpy(**arrays)
        np.testing.assert_allclose(ex5["grads"][key], proved, rtol=1e-12, atol=1e-15)
    loss = formula("mlp", activation="tanh", head="softmax").numpy(**arrays)
    assert ex5["loss"] == pytest.approx(float(loss), rel=1e-13)


def test_output_error_is_prediction_minus_target(ex5):
    np.testing.assert_allclose(
        ex5["grads"]["z2"][0], ex5["p"] - ex5["y"][0], atol=1e-15
    )


def test_chain_rule_factors_multiply_to_the_weight_gradient(ex5):
    (i, j), f = ex5["weight"], ex5["factors"]
    assert f["back"] * f["slope"] * f["input"] == pytest.approx(
        ex5["grads"]["W1"][i, j], rel=1e-12
    )
    assert f["slope"] == pytest.approx(1 - np.tanh(ex5["z1"][0, i]) ** 2, rel=1e-12)
    assert f["input"] == ex5["x"][0, j]
    assert abs(ex5["grads"]["W1"][i, j]) == np.abs(ex5["grads"]["W1"]).max()


def test_descent_step_moves_against_the_gradient_and_lowers_the_loss(ex5):
    lr = ex5["learning_rate"]
    for k, v in ex5["params"].items():
        np.testing.assert_allclose(
            ex5["after"][k], v - lr * ex5["grads"][k], rtol=1e-15
        )
    after = formula("mlp", activation="tanh").numpy(
        **{**_network_arrays(ex5), **ex5["after"]}
    )
    assert ex5["loss_after"] == pytest.approx(float(after), rel=1e-13)
    assert ex5["loss_after"] < ex5["loss"]
    true = ex5["target"]
    assert ex5["p_after"][true] > ex5["p"][true]


def test_chapter5_prose_quotes_the_scene_numbers(ex5):
    prose = chapters.get("backprop").prose
    true = ex5["target"]
    assert f"#{ex5['sample']}" in prose and ex5["class_names"][true] in prose
    for value in (
        ex5["p"][true],
        ex5["grads"]["z2"][0, true],
        ex5["loss"],
        ex5["loss_after"],
        ex5["p_after"][true],
        ex5["learning_rate"],
    ):
        assert fmt(value) in prose or fmt(value, 1) in prose, fmt(value)


@pytest.mark.render
def test_chain_rule_scene_renders_at_low_quality(tmp_path):
    import av

    from publishing.render import render_scene

    path = render_scene(
        chapters.get("backprop"), "ChainRuleScene", quality="l", out_dir=tmp_path
    )
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = float(container.duration) / av.time_base
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert size == (854, 480)
    assert 8 < duration < 25
    assert frames[-1].std() > 20, "the last frame is blank"
