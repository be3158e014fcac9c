"""The tutorials' own bugs, as the book shows them (chapters 3, 4 and 5).

For each: the printed code computes what its formula or claim states (so the
checker judges exactly that code), the code's numbers on the chapter's example
are the wrong ones, verify rejects it, and the prose quotes the code and the
numbers the scene shows.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from chapters import chapter3, chapter4, chapter5
from nnmath import claim, formula
from nnmath.checker.cases import Case, cases_for, sample
from nnmath.checker.checks import (
    check_finite_differences,
    check_forward,
    check_symbolic,
)
from nnmath.runs import tutorials
from nnmath.runs.trajectories import CLASSIC_X, CLASSIC_Y
from nnmath.worked import fmt


def _code_blocks(prose: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```python\n(.*?)```", prose, re.DOTALL)]


# -- chapter 3: the cross-entropy without the clip --------------------------------
def test_the_tutorials_cross_entropy_is_the_formula_verify_judges():
    f = tutorials.cross_entropy_formula()
    for case in cases_for(f):
        arrays = sample(f, case)
        with np.errstate(all="ignore"):
            ours, theirs = f.numpy(**arrays), tutorials.cross_entropy(**arrays)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        if np.isfinite(theirs):
            assert ours == pytest.approx(theirs, rel=1e-14)


def test_the_tutorials_cross_entropy_gives_nan_and_infinity_on_the_chapters_logits():
    tl = chapter3.tutorial_loss()
    assert np.isnan(tl["tutorial"][:2]).all() and tl["tutorial"][2] == np.inf
    assert np.isfinite(tl["keras"]).all()
    assert tl["source"] == tutorials.source(tutorials.cross_entropy)


@pytest.mark.tf
def test_verify_fails_the_unclipped_cross_entropy_against_keras():
    wrong = tutorials.cross_entropy_formula()
    for dtype in ("float64", "float32"):
        check = check_forward(wrong, dtype)
        assert not check.passed
        assert "probabilities at exactly 0 and 1" in check.detail
    # the scene shows the checker's lines, not typed ones
    assert chapter3.tutorial_verdict() == [
        check_forward(wrong, d).line for d in ("float64", "float32")
    ]
    assert check_forward(formula("categorical_crossentropy"), "float64").passed


def test_chapter3_prose_shows_the_code_and_its_numbers():
    prose = chapter3.CHAPTER.prose
    assert tutorials.source(tutorials.cross_entropy) in _code_blocks(prose)
    tl = chapter3.tutorial_loss()
    keras = ", ".join(fmt(v) for v in tl["keras"][:2]) + f" and {fmt(tl['keras'][2])}"
    assert f"where Keras gives {keras}" in " ".join(prose.split())
    assert "`cross_entropy [tensorflow-forward float64]`" in prose


# -- chapter 4: X shaped (3, 1) against y shaped (3,) --------------------------------
def test_the_tutorials_gradient_is_the_claim_verify_judges():
    wrong = tutorials.dw_claim()
    rng = np.random.default_rng(4)
    for n in (3, 5):
        x, y = rng.normal(size=n), rng.normal(size=n)
        for w, b in rng.normal(size=(3, 2)):
            dw, _ = tutorials.gradients(x.reshape(-1, 1), y, w, b)
            assert wrong.gradient.numpy(x=x, y=y, w=w, b=b) == pytest.approx(
                dw, rel=1e-12
            )
            # with X flat, the same code computes the right gradient
            right, _ = tutorials.gradients(x, y, w, b)
            proved = claim("linreg_mse/dw").gradient.numpy(x=x, y=y, w=w, b=b)
            assert proved == pytest.approx(right, rel=1e-12)


def test_verify_fails_the_broadcast_gradient():
    wrong = tutorials.dw_claim()
    assert not check_symbolic(wrong).passed
    assert not check_finite_differences(wrong).passed


def test_the_tutorials_loop_ends_on_the_mean_target_where_the_rule_ends_on_the_line():
    tl = chapter4.tutorial_loop()
    np.testing.assert_allclose(tl["tutorial"], [0.0, CLASSIC_Y.mean()], atol=1e-9)
    np.testing.assert_allclose(tl["right"], [2.0, 0.0], atol=1e-9)
    assert tl["tutorial_loss"] > 2 and tl["loss"] < 1e-12
    assert [line.split(":")[0] for line in tl["verdict"]] == [
        "FAILED dw [symbolic exact]",
        "FAILED dw [finite-differences float64]",
    ]


def test_chapter4_prose_shows_the_loop_and_where_it_ends():
    prose = " ".join(chapter4.CHAPTER.prose.split())
    tl = chapter4.tutorial_loop()
    assert tutorials.source(tutorials.gradients, tutorials.linear_regression) in (
        _code_blocks(chapter4.CHAPTER.prose)
    )
    w, b = (fmt(v) for v in tl["tutorial"])
    assert f"it ends at $w = {w}$, $b = {b}$" in prose
    assert f"mean squared error on the real data is {fmt(tl['tutorial_loss'])}" in prose
    w, b = (fmt(v) for v in tl["right"])
    assert f"ends at $w = {w}$, $b = {b}$" in prose
    assert (
        f"$\\eta = {fmt(chapter4.LEARNING_RATE)}$ and {chapter4.TUTORIAL_EPOCHS} steps"
        in prose
    )


# -- chapter 5: σ'(a) for σ'(z) --------------------------------------------------------
def test_the_tutorials_backward_step_is_the_claim_verify_judges():
    wrong = tutorials.d_hidden_claim()
    f = wrong.formula  # the sigmoid network above its hidden layer
    arrays = sample(f, Case("N=6", {"N": 6, "I": 4, "K": 3}))
    rng = np.random.default_rng(5)
    x, W1, b1 = rng.normal(size=(6, 5)), rng.normal(size=(4, 5)), rng.normal(size=4)
    z1 = x @ W1.T + b1
    W2, b2, y = arrays["W2"], arrays["b2"], arrays["y"]
    _, db1, _, _ = tutorials.train_step(x, y, W1.T, b1, W2.T, b2)
    claimed = wrong.gradient.numpy(z1=z1, W2=W2, b2=b2, y=y)
    np.testing.assert_allclose(claimed.sum(axis=0), db1, rtol=1e-12)
    proved = claim("mlp.sigmoid/dz1").gradient.numpy(z1=z1, W2=W2, b2=b2, y=y)
    assert np.abs(proved - claimed).max() > 1e-3


def test_verify_fails_the_slope_taken_at_the_activation():
    sl = chapter5.slip()
    assert [line.split(":")[0] for line in sl["verdict"]] == [
        "FAILED d_hidden [symbolic exact]",
        "FAILED d_hidden [finite-differences float64]",
    ]
    assert check_symbolic(claim("mlp.sigmoid/dz1")).passed


def test_the_slip_is_shown_on_the_chapters_flower_with_the_proved_numbers():
    sl = chapter5.slip()
    np.testing.assert_allclose(
        sl["slope"], tutorials.sigmoid_derivative(sl["z1"]), rtol=1e-12
    )
    assert (sl["tutorial_slope"] >= sl["floor"]).all()
    assert np.abs(sl["tutorial_db1"] - sl["db1"]).max() > 1e-3
    # the rest of the tutorial's code is right: the output layer's gradient agrees,
    # only δ₁ and what is computed from it differ
    np.testing.assert_allclose(sl["tutorial_dW2"], sl["dW2"], rtol=1e-12)
    assert np.abs(sl["tutorial_dW1"] - sl["dW1"]).max() > 1e-3


def test_chapter5_prose_shows_the_code_and_the_worst_unit():
    sl = chapter5.slip()
    prose = " ".join(chapter5.CHAPTER.prose.split())
    assert tutorials.source(tutorials.sigmoid_derivative, tutorials.train_step) in (
        _code_blocks(chapter5.CHAPTER.prose)
    )
    worst = int(np.argmax(np.abs(sl["tutorial_db1"] - sl["db1"]) / np.abs(sl["db1"])))
    off = abs(sl["tutorial_db1"][worst] / sl["db1"][worst] - 1)
    assert (
        f"is {off:.0%} off at hidden unit {worst} "
        f"({fmt(sl['tutorial_db1'][worst], 3)} where the proved claim gives "
        f"{fmt(sl['db1'][worst], 3)})"
    ) in prose
    assert f"below $\\sigma'(1) = {fmt(sl['floor'], 3)}$" in prose


def test_the_three_tutorial_scenes_are_in_their_chapters():
    assert "TutorialLossScene" in chapter3.CHAPTER.scenes
    assert "TutorialLoopScene" in chapter4.CHAPTER.scenes
    assert "SigmoidSlipScene" in chapter5.CHAPTER.scenes
    assert np.array_equal(CLASSIC_X, [1.0, 2.0, 3.0])
