"""Gradient descent on the classic example X = [1, 2, 3], y = [2, 4, 6]: the shape
trap is rejected, the update rules agree with the proved gradients, and the
learning rate behaves as the Hessian predicts.  No TensorFlow, no rendering."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import ShapeError, claim, formula
from nnmath.checker.checks import verify
from nnmath.runs.trajectories import (
    CLASSIC_X,
    CLASSIC_Y,
    RULES,
    descend,
    linreg_loss,
    race,
    sample_gradients,
    stability_limit,
    tutorial_error_matrix,
)
from nnmath.update_rules import optimizer, trajectory
from nnmath.worked import fmt

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
    assert np.mean(errors**2) == pytest.approx(48 / 9, abs=1e-12)


def test_mean_of_per_sample_gradients_is_the_gradient_of_the_mean_loss():
    theta = np.array([0.7, -0.4])
    G = sample_gradients(X, Y, theta)
    full = [
        claim(f"linreg_mse/{v}").gradient.numpy(x=X, y=Y, w=theta[0], b=theta[1])
        for v in ("dw", "db")
    ]
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
        formula("gd_stochastic", learning_rate=0.1).numpy(theta=theta, G=G[1]),
        sgd,
        atol=1e-15,
    )


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
        dataclasses.replace(c, rhs=c.rhs / 2)
    )


def test_mse_gradient_that_forgets_the_input_is_caught():
    c, db = claim("linreg_mse/dw"), claim("linreg_mse/db")
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=db.rhs)
    )


def test_quadratic_gradient_assuming_a_symmetric_matrix_is_caught():
    c = claim("quadratic/dtheta")
    theta, A = sp.IndexedBase("theta"), sp.IndexedBase("A")
    (p,) = c.indices
    (j,) = c.rhs.atoms(sp.Sum).pop().variables
    P = formula("quadratic").dim_symbols["P"]
    wrong = sp.Sum(A[p, j] * theta[j], (j, 0, P - 1))
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=wrong)
    )


# -- the optimizer race ----------------------------------------------------------
def test_race_paths_are_the_optimizers_trajectories_on_the_quadratic():
    A = np.array([[10.0, 3.0], [3.0, 2.0]])
    paths = race(
        A,
        [-3.0, 2.0],
        25,
        {"sgd": {"learning_rate": 0.05}, "adam": {"learning_rate": 0.3}},
    )
    assert paths["sgd"].shape == (26, 2)
    grad = claim("quadratic/dtheta").gradient
    again = trajectory(
        optimizer("sgd"),
        [-3.0, 2.0],
        lambda t: grad.numpy(theta=t, A=A),
        25,
        learning_rate=0.05,
    )
    np.testing.assert_array_equal(paths["sgd"], again["theta"])
    # plain SGD's first step is −η∇L = −η A θ0
    np.testing.assert_allclose(
        paths["sgd"][1] - paths["sgd"][0], -0.05 * A @ np.array([-3.0, 2.0]), atol=1e-12
    )


# -- chapter 4: the numbers the scenes and the prose show ------------------------
@pytest.fixture(scope="module")
def ex4():
    from chapters import chapter4

    return chapter4.example()


def test_chapter4_walk_is_the_registered_batch_rule(ex4):
    from chapters import chapter4

    run = descend(X, Y, chapter4.START, chapter4.LEARNING_RATE, chapter4.WALK_STEPS)
    np.testing.assert_array_equal(ex4["walk"]["theta"], run.theta)
    for k in range(3):
        w_line, b_line = chapter4.step_equations(ex4, k)
        nxt = ex4["walk"]["theta"][k + 1]
        assert w_line.startswith(f"w_{{{k + 1}}} = ") and w_line.endswith(
            f"= {fmt(nxt[0])}"
        )
        assert b_line.startswith(f"b_{{{k + 1}}} = ") and b_line.endswith(
            f"= {fmt(nxt[1])}"
        )


def test_chapter4_trap_shows_nnbooks_own_error(ex4):
    with pytest.raises(ShapeError) as info:
        formula("linreg_mse").numpy(x=X.reshape(3, 1), y=Y, w=2.0, b=0.0)
    assert ex4["trap"]["message"] == str(info.value)
    assert ex4["trap"]["errors"].shape == (3, 3)


def test_chapter4_prose_numbers_are_computed_numbers(ex4):
    from chapters import chapter4

    prose = chapter4.CHAPTER.prose
    first = ex4["walk"]["theta"][1]
    G0 = ex4["walk"]["G"][0]
    for text in (
        fmt(G0[:, 0].mean()),
        fmt(first[0]),
        fmt(first[1]),
        fmt(ex4["trap"]["trap_loss"]),
        fmt(ex4["limit"]),
    ):
        assert text in prose, text
    rates = chapter4.RATES
    assert f"\\eta = {rates['too small']}" in prose
    assert ex4["rates"]["too small"]["loss"][-1] > 6  # "still above 6"
    assert fmt(ex4["rates"]["good"]["loss"][-1]) == "0.01"  # "down to 0.01"
    assert not np.isfinite(ex4["rates"]["diverges"]["theta"]).all() or (
        ex4["rates"]["diverges"]["loss"][-1] > 1e3
    )
    # "about 46 times larger across the valley than along it"
    from nnmath.runs.trajectories import linreg_hessian

    lam = np.linalg.eigvalsh(linreg_hessian(X, Y))
    assert round(lam[1] / lam[0]) == 46


@pytest.mark.render
def test_trap_scene_renders_at_low_quality(tmp_path):
    import av

    import chapters
    from publishing.render import render_scene

    path = render_scene(
        chapters.get("gradient-descent"),
        "TrapScene",
        quality="l",
        out_dir=tmp_path,
        cache=False,
    )
    assert path == tmp_path / "chapter4" / "TrapScene.mp4" and path.is_file()
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        size = (stream.codec_context.width, stream.codec_context.height)
        duration = float(container.duration) / av.time_base
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert size == (854, 480) and 10 < duration < 25
    last = frames[-1]
    assert last.std() > 20, "the last frame is blank"
    # the ShapeError is on screen in red (COLORS["wrong"]) at the end
    red = (last[..., 0] > 180) & (last[..., 1] < 120) & (last[..., 2] < 120)
    assert red[int(0.75 * last.shape[0]) :].sum() > 200
