"""Gradient descent on the classic example X = [1, 2, 3], y = [2, 4, 6]: the shape
trap is rejected, the update rules agree with the proved gradients, and the
learning rate behaves as the Hessian predicts.  No TensorFlow, no rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import ShapeError, claim, formula
from nnmath.checks import verify
from nnmath.descent import (
    CLASSIC_X,
    CLASSIC_Y,
    RULES,
    descend,
    linreg_loss,
    race,
    sample_gradients,
    stability_limit,
    trajectory,
    optimizer,
    tutorial_error_matrix,
)

X, Y = CLASSIC_X, CLASSIC_Y


def test_column_shaped_x_against_flat_y_is_rejected_with_the_shapes_named():
    with pytest.raises(ShapeError) as info:
        formula("linreg_mse").numpy(x=X.reshape(3, 1), y=Y, w=2.0, b=0.0)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "x has shape (3, 1)" in message and "broadcasting" in message


def test_the_tutorial_bug_turns_a_perfect_fit_into_a_nonzero_loss():
    errors = tutorial_error_matrix(X.reshape(3, 1), Y, 2.0, 0.0)
    assert errors.shape == (3, 3)  # every input paired with every target
    assert linreg_loss(X, Y, np.array([2.0, 0.0])) == 0.0
    # only the diagonal pairs an input with its own target
    np.testing.assert_array_equal(np.diag(errors), 0.0)
    assert np.mean(errors ** 2) == pytest.approx(48 / 9, abs=1e-12)


def test_mean_of_per_sample_gradients_is_the_gradient_of_the_mean_loss():
    theta = np.array([0.7, -0.4])
    G = sample_gradients(X, Y, theta)
    full = [claim(f"linreg_mse/{v}").gradient.numpy(x=X, y=Y, w=theta[0], b=theta[1])
            for v in ("dw", "db")]
    np.testing.assert_allclose(G.mean(axis=0), full, atol=1e-12)
    # and the residual of sample n times (x_n, 1), doubled
    r = theta[0] * X + theta[1] - Y
    np.testing.assert_allclose(G, 2 * np.stack([r * X, r], axis=1), atol=1e-12)


def test_the_three_rules_are_one_rule_on_different_samples():
    theta, G = np.array([0.5, 1.0]), sample_gradients(X, Y, np.array([0.5, 1.0]))
    batch = formula("gd_batch", learning_rate=0.1).numpy(theta=theta, G=G)
    mini = formula("gd_minibatch", learning_rate=0.1).numpy(theta=theta, G=G)
    one = formula("gd_stochastic", learning_rate=0.1).numpy(theta=theta, G=G.mean(0))
    np.testing.assert_allclose(batch, mini, atol=1e-15)
    np.testing.assert_allclose(batch, one, atol=1e-15)
    # the stochastic rule is Keras's plain SGD step with one sample's gradient
    sgd = formula("sgd", learning_rate=0.1).numpy(theta=theta, g=G[1])
    np.testing.assert_allclose(
        formula("gd_stochastic", learning_rate=0.1).numpy(theta=theta, G=G[1]), sgd,
        atol=1e-15)


def test_stability_limit_is_two_over_the_largest_curvature():
    limit = stability_limit(X, Y)
    assert 0.17 < limit < 0.19
    converges = descend(X, Y, [0.0, 0.0], 0.98 * limit, 400)
    diverges = descend(X, Y, [0.0, 0.0], 1.02 * limit, 400)
    assert converges.loss[-1] < 1e-6
    assert diverges.loss[-1] > 1e3 * diverges.loss[0]


def test_learning_rates_too_small_good_and_divergent():
    runs = {lr: descend(X, Y, [0.0, 0.0], lr, 40) for lr in (0.002, 0.15, 0.19)}
    small, good, bad = runs[0.002].loss, runs[0.15].loss, runs[0.19].loss
    assert good[-1] < 0.01 * small[-1]  # same steps, far lower loss
    assert np.all(np.diff(small) < 0) and small[-1] > 1.0  # steady but slow
    assert bad[-1] > bad[0] and np.isfinite(bad).all()


def test_good_batch_descent_finds_the_line_y_equals_2x():
    run = descend(X, Y, [0.0, 0.0], 0.15, 600)
    np.testing.assert_allclose(run.theta[-1], [2.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("variant, size", [("stochastic", 1), ("mini-batch", 2)])
def test_stochastic_and_mini_batch_visit_every_sample_once_per_epoch(variant, size):
    run = descend(X, Y, [0.0, 0.0], 0.05, 12, variant, batch_size=size, seed=3)
    epoch, seen = [], []
    for batch in run.batches:
        assert 1 <= len(batch) <= size
        epoch += batch
        if len(epoch) == 3:
            assert sorted(epoch) == [0, 1, 2]
            seen.append(epoch)
            epoch = []
    assert len(seen) >= 3
    assert run.loss[-1] < 0.2 * run.loss[0]


def test_the_same_seed_gives_the_same_run_and_another_seed_another():
    a = descend(X, Y, [0.0, 0.0], 0.05, 9, "stochastic", seed=1)
    b = descend(X, Y, [0.0, 0.0], 0.05, 9, "stochastic", seed=1)
    c = descend(X, Y, [0.0, 0.0], 0.05, 9, "stochastic", seed=2)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert a.batches != c.batches


def test_unknown_variant_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid: batch, mini-batch, stochastic"):
        descend(X, Y, [0.0, 0.0], 0.1, 3, "full")
    assert list(RULES) == ["batch", "mini-batch", "stochastic"]


# -- wrong claims are caught ---------------------------------------------------
def _failed(c):
    return {r.method for r in verify([], [c], oracle=False) if not r.passed}


def test_mse_gradient_without_the_factor_two_is_caught():
    c = claim("linreg_mse/dw")
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=c.rhs / 2))


def test_mse_gradient_that_forgets_the_input_is_caught():
    c, db = claim("linreg_mse/dw"), claim("linreg_mse/db")
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=db.rhs))


def test_quadratic_gradient_assuming_a_symmetric_matrix_is_caught():
    c = claim("quadratic/dtheta")
    theta, A = sp.IndexedBase("theta"), sp.IndexedBase("A")
    (p,) = c.indices
    (j,) = c.rhs.atoms(sp.Sum).pop().variables
    P = formula("quadratic").dim_symbols["P"]
    wrong = sp.Sum(A[p, j] * theta[j], (j, 0, P - 1))
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=wrong))


# -- the optimizer race ----------------------------------------------------------
def test_race_paths_are_the_optimizers_trajectories_on_the_quadratic():
    A = np.array([[10.0, 3.0], [3.0, 2.0]])
    paths = race(A, [-3.0, 2.0], 25, {"sgd": {"learning_rate": 0.05},
                                        "adam": {"learning_rate": 0.3}})
    assert paths["sgd"].shape == (26, 2)
    grad = claim("quadratic/dtheta").gradient
    again = trajectory(optimizer("sgd"), [-3.0, 2.0],
                       lambda t: grad.numpy(theta=t, A=A), 25, learning_rate=0.05)
    np.testing.assert_array_equal(paths["sgd"], again["theta"])
    # plain SGD's first step is −η∇L = −η A θ0
    np.testing.assert_allclose(paths["sgd"][1] - paths["sgd"][0],
                               -0.05 * A @ np.array([-3.0, 2.0]), atol=1e-12)
