"""Chapter 9: the numbers its scenes and prose show are the formulas' and claims',
recomputed here independently with plain NumPy.

Fast: nothing here renders or imports TensorFlow.
"""

from __future__ import annotations

import numpy as np
import pytest

from chapters import chapter9
from nnmath.library import regularization as reg
from nnmath.registry import claim
from nnmath.runs.regularized import decay_race, train_batch_norm
from nnmath.runs.training import load
from nnmath.worked import fmt


@pytest.fixture(scope="module")
def ex9():
    return chapter9.example()


# -- dropout -------------------------------------------------------------------------
def test_the_thinned_networks_scale_the_kept_units_by_one_over_one_minus_p(ex9):
    d = ex9["dropout"]
    a, masks = d["a1"], d["masks"]
    assert masks.shape == (chapter9.MASKS, 8)
    off = (masks == 0).sum(axis=1)
    assert off.min() >= 1 and off.max() < 8  # each mask thins, none empties
    assert len({tuple(m) for m in masks}) == chapter9.MASKS
    np.testing.assert_allclose(d["y"], masks * a / (1 - chapter9.RATE), atol=1e-15)
    assert (d["y"][masks == 0] == 0).all()
    np.testing.assert_allclose(d["p"].sum(axis=1), 1.0)


def test_at_test_time_dropout_is_the_identity_and_the_mean_of_all_masks(ex9):
    d = ex9["dropout"]
    np.testing.assert_array_equal(d["inference"], d["a1"])
    assert d["masks_counted"] == 2**8
    np.testing.assert_allclose(d["expected"], d["a1"], rtol=0, atol=1e-15)


# -- batch norm ------------------------------------------------------------------
def test_the_batch_statistics_are_the_biased_ones(ex9):
    b = ex9["batch_norm"]
    z = b["z"]
    np.testing.assert_allclose(b["mean"], z.mean(axis=0), atol=1e-14)
    np.testing.assert_allclose(b["variance"], z.var(axis=0, ddof=0), atol=1e-13)
    xhat = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + reg.EPSILON)
    np.testing.assert_allclose(b["xhat"], xhat, atol=1e-13)
    np.testing.assert_allclose(b["out"], b["gamma"] * xhat + b["beta"], atol=1e-13)
    v = b["variance"]
    np.testing.assert_allclose(b["xhat_variance"], v / (v + reg.EPSILON), atol=1e-13)
    lo, mid, hi = b["features"]
    assert v[lo] < v[mid] < v[hi] and v[hi] == v.max()


def test_the_three_paths_add_up_to_the_claims_gradient(ex9):
    b = ex9["batch_norm"]
    paths = b["paths"]
    np.testing.assert_allclose(sum(paths.values()), b["dx"], atol=1e-17)
    # the direct path is the textbook shortcut: g·γ/√(σ² + ε), μ and σ² constant
    shortcut = b["g"] * b["gamma"] / np.sqrt(b["variance"] + reg.EPSILON)
    np.testing.assert_allclose(paths["xhat"], shortcut, atol=1e-17)
    # the compact form γ/(N√(σ² + ε))·(N·g − Σg − x̂·Σ(g·x̂)), by hand
    g, N = b["g"], len(b["g"])
    compact = (
        b["gamma"]
        / (N * np.sqrt(b["variance"] + reg.EPSILON))
        * (N * g - g.sum(axis=0) - b["xhat"] * (g * b["xhat"]).sum(axis=0))
    )
    np.testing.assert_allclose(b["dx"], compact, atol=1e-17)
    # the element shown has all three paths visible, and the shortcut is wrong
    n, f = b["element"]
    parts = [abs(paths[k][n, f]) for k in reg.BN_PATHS]
    assert min(parts) > 0.2 * max(parts)
    assert abs(paths["xhat"][n, f] - b["dx"][n, f]) > 0.5 * abs(b["dx"][n, f])


def test_the_path_gradients_sum_to_the_claim_on_random_input():
    rng = np.random.default_rng(3)
    at = {
        "x": rng.normal(size=(5, 3)),
        "gamma": rng.normal(size=3),
        "beta": rng.normal(size=3),
        "g": rng.normal(size=(5, 3)),
    }
    full = claim("batch_norm/dx").gradient
    total = sum(
        f.numpy(**{k: at[k] for k in f.input_names})
        for f in reg.bn_path_gradients().values()
    )
    np.testing.assert_allclose(
        total, full.numpy(**{k: at[k] for k in full.input_names}), atol=1e-14
    )


def test_the_recorded_moving_statistics_follow_the_update_by_hand():
    data = load("digits")
    history: list = []
    run = train_batch_norm(data, hidden=4, epochs=1, history=history)
    assert len(history) == int(np.ceil(len(data.x_train) / 32))
    mean, var = np.zeros(4), np.ones(4)
    for h in history:
        mean = mean * 0.99 + h["batch_mean"] * (1 - 0.99)
        var = var * 0.99 + h["batch_variance"] * (1 - 0.99)
        np.testing.assert_allclose(h["moving_mean"], mean, atol=1e-12)
        np.testing.assert_allclose(h["moving_variance"], var, atol=1e-12)
    np.testing.assert_array_equal(history[-1]["moving_mean"], run.params["moving_mean"])


def test_the_moving_example_is_the_recorded_run(ex9):
    m = ex9["moving"]
    assert m["feature"] == ex9["batch_norm"]["features"][-1]
    assert len(m["moving_variance"]) == ex9["batch_norm"]["steps"] == 215
    assert m["momentum"] == 0.99


# -- L2 against AdamW ------------------------------------------------------------
def test_adam_with_l2_ends_at_the_penalised_minimum_and_adamw_does_not():
    A, c = chapter9.A, np.array(chapter9.CENTER)
    lam = chapter9.WEIGHT_DECAY
    race = decay_race(
        A,
        c,
        chapter9.START,
        600,
        learning_rate=chapter9.LEARNING_RATE,
        weight_decay=lam,
    )
    # ∇(½(θ − c)ᵀA(θ − c) + λ/2·|θ|²) = 0
    penalised = np.linalg.solve(A + lam * np.eye(2), A @ c)
    np.testing.assert_allclose(race["l2"]["theta"][-1], penalised, atol=1e-3)
    assert np.abs(race["adamw"]["theta"][-1] - penalised).max() > 0.2


def test_adamw_first_step_by_hand():
    race = decay_race(
        chapter9.A,
        chapter9.CENTER,
        chapter9.START,
        1,
        learning_rate=0.1,
        weight_decay=0.5,
    )
    theta = np.array(chapter9.START)
    g = chapter9.A @ (theta - np.array(chapter9.CENTER))
    m, v = 0.1 * g, 0.001 * g**2
    step = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(
        race["adamw"]["theta"][1], theta - theta * 0.5 * 0.1 - step, atol=1e-12
    )
    gl2 = g + 0.5 * theta  # the L2(λ/2) gradient, 2·(λ/2)·θ
    m, v = 0.1 * gl2, 0.001 * gl2**2
    step = 0.1 * np.sqrt(1 - 0.999) / (1 - 0.9) * m / (np.sqrt(v) + 1e-7)
    np.testing.assert_allclose(race["l2"]["theta"][1], theta - step, atol=1e-12)


# -- the prose -------------------------------------------------------------------
def test_the_prose_prints_the_examples_numbers(ex9):
    prose = chapter9.CHAPTER.prose
    b, e = ex9["batch_norm"], ex9["decay"]
    n, f = b["element"]
    for k in reg.BN_PATHS:
        assert f"{fmt(1e3 * b['paths'][k][n, f], 3)}·10⁻³".replace("-", "−") in prose
    assert f"∂L/∂x = {fmt(1e3 * b['dx'][n, f], 3)}·10⁻³" in prose
    assert f"a test accuracy of {100 * b['test_accuracy']:.1f} %" in prose
    m = ex9["moving"]
    assert f"0.99²¹⁵ = {fmt(m['momentum'] ** 215, 3)}" in prose
    for k in ("l2", "adamw"):
        end = e["paths"][k][-1]
        assert f"({fmt(end[0])}, {fmt(end[1])})" in prose
    A, c, lam = chapter9.A, np.array(chapter9.CENTER), chapter9.WEIGHT_DECAY
    penalised = np.linalg.solve(A + lam * np.eye(2), A @ c)
    assert f"close to ({fmt(penalised[0])}, {fmt(penalised[1])})" in prose
    sv = e["sqrt_v"]["l2"]
    assert f"√v is {fmt(sv[1])} against {fmt(sv[0])}" in prose
    assert f"{fmt(sv[1] / sv[0], 1)} times larger" in prose
    assert f"dropout at p = {fmt(chapter9.RATE)}" in prose
