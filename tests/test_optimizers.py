"""Optimizer update rules: one step is formula evaluations; Keras agrees over 100
steps; deliberately wrong rules (ε misplaced, no bias correction, Nesterov done as
plain momentum) are caught by the keras-trajectory check."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import formula
from nnmath.checker.checks import check_keras_trajectory, check_lowering, plan
from nnmath.library.optimizers import eps, eta
from nnmath.update_rules import OPTIMIZERS, optimizer, optimizer_of, trajectory

RULES = sorted({name for o in OPTIMIZERS.values() for name in o.updates.values()})


def test_every_rule_is_registered_and_lowers_exactly():
    for name in RULES:
        check = check_lowering(formula(name))
        assert check.passed, (name, check.detail)


def test_defaults_are_keras_defaults():
    assert optimizer("sgd").defaults() == {"learning_rate": 0.01}
    assert optimizer("rmsprop").defaults() == {
        "learning_rate": 0.001,
        "rho": 0.9,
        "epsilon": 1e-7,
    }
    assert optimizer("adam").defaults() == {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
    }


def test_first_adam_step_moves_every_parameter_by_about_the_learning_rate():
    # after one step, m = (1-β1)g and v = (1-β2)g²; Keras's step size
    # η√(1-β2)/(1-β1) cancels both factors except at ε: the step is
    # η·g/(|g| + ε/√(1-β2)), so a gradient of 1e-3 moves 0.3 % less than η
    g = np.array([3.0, -0.02, 1e-3])
    path = trajectory(optimizer("adam"), np.zeros(3), g[None, :])
    step = -0.001 * g / (np.abs(g) + 1e-7 / np.sqrt(1 - 0.999))
    np.testing.assert_allclose(path["theta"][1], step, rtol=1e-12)
    assert abs(path["theta"][1][2]) < 0.999 * 0.001
    assert path["t"].tolist() == [0.0, 1.0]


def test_one_step_is_each_formula_on_the_old_state():
    opt = optimizer("momentum")
    state = {
        "theta": np.array([1.0, -1.0]),
        "v": np.array([0.5, 0.2]),
        "t": np.asarray(3.0),
    }
    g = np.array([2.0, -4.0])
    new = opt.step(state, g, opt.formulas())
    v_new = formula("momentum_velocity").numpy(v=state["v"], g=g)
    np.testing.assert_allclose(new["v"], v_new, atol=1e-15)
    # momentum's θ moves by exactly the new velocity
    np.testing.assert_allclose(new["theta"], state["theta"] + v_new, atol=1e-15)


def test_unknown_optimizer_and_hyperparameter_name_the_valid_ones():
    valid = "valid: sgd, momentum, nesterov, rmsprop, adam"
    with pytest.raises(ValueError, match=valid):
        optimizer("adagrad")
    with pytest.raises(ValueError, match="valid: learning_rate, rho, epsilon"):
        optimizer("rmsprop").formulas(beta_1=0.9)


def test_verify_plans_a_keras_trajectory_for_each_update_rule_only():
    subjects = [formula(n) for n in RULES] + [formula("dense")]
    labels = [label for label, _ in plan(subjects, [])]
    for name in RULES:
        assert f"{name} keras-trajectory" in labels
    assert "dense keras-trajectory" not in labels
    assert not any(
        "keras" in label for label, _ in plan([formula("adam")], [], oracle=False)
    )


# -- deliberately wrong rules --------------------------------------------------
def _mutant(name: str, expr: sp.Expr):
    return dataclasses.replace(formula(name), expr=expr)


def _adam_parts():
    f = formula("adam")
    theta, m, v, g = (sp.IndexedBase(s) for s in ("theta", "m", "v", "g"))
    (p,) = f.indices
    b1, b2 = (
        next(s for s in f.expr.free_symbols if s.name == n)
        for n in ("beta_1", "beta_2")
    )
    t = sp.Symbol("t")
    m1 = b1 * m[p] + (1 - b1) * g[p]
    v1 = b2 * v[p] + (1 - b2) * g[p] ** 2
    return theta[p], m1, v1, b1, b2, t


def _wrong_adam_rules():
    theta, m1, v1, b1, b2, t = _adam_parts()
    m_hat, v_hat = m1 / (1 - b1 ** (t + 1)), v1 / (1 - b2 ** (t + 1))
    return {
        # the paper's form: ε added to √v̂ instead of √v
        "epsilon on the bias-corrected root": theta
        - eta * m_hat / (sp.sqrt(v_hat) + eps),
        "no bias correction": theta - eta * m1 / (sp.sqrt(v1) + eps),
        "epsilon inside the root": theta
        - eta
        * sp.sqrt(1 - b2 ** (t + 1))
        / (1 - b1 ** (t + 1))
        * m1
        / sp.sqrt(v1 + eps),
    }


@pytest.mark.tf
@pytest.mark.parametrize("name", RULES)
def test_rule_follows_the_keras_optimizer_for_100_steps(name):
    check = check_keras_trajectory(formula(name))
    assert check.passed, check.detail
    assert check.max_abs < 1e-12


@pytest.mark.tf
@pytest.mark.parametrize("wrong", list(_wrong_adam_rules()))
def test_wrong_adam_is_caught(wrong):
    check = check_keras_trajectory(_mutant("adam", _wrong_adam_rules()[wrong]))
    assert not check.passed, wrong
    assert "worst on case" in check.detail


@pytest.mark.tf
def test_rmsprop_with_epsilon_outside_the_root_is_caught():
    f = formula("rmsprop")
    theta, s, g = (sp.IndexedBase(n) for n in ("theta", "s", "g"))
    (p,) = f.indices
    rho = next(x for x in f.expr.free_symbols if x.name == "rho")
    ms = rho * s[p] + (1 - rho) * g[p] ** 2
    check = check_keras_trajectory(
        _mutant("rmsprop", theta[p] - eta * g[p] / (sp.sqrt(ms) + eps))
    )
    # ε/√s is negligible for gradients near 1 and decisive near 1e-4
    small = next(c for c in check.cases if c["case"] == "gradients ~1e-4")
    assert not check.passed and small["max_rel"] > 1e-3


@pytest.mark.tf
def test_nesterov_done_as_plain_momentum_is_caught():
    bad = _mutant("nesterov", formula("momentum").expr)
    assert optimizer_of(bad)[0].name == "nesterov"
    assert not check_keras_trajectory(bad).passed


@pytest.mark.tf
def test_one_keras_run_serves_every_rule_about_one_optimizer(monkeypatch):
    """Adam's θ, m and v rules are compared with one Keras run; another
    optimizer (AdamW) gets its own."""
    from nnmath.checker import oracle

    runs = []
    real = oracle._trajectories
    monkeypatch.setattr(oracle, "_TRAJECTORIES", {})
    monkeypatch.setattr(
        oracle, "_trajectories", lambda *a: runs.append(a[0]) or real(*a)
    )
    for name in ("adam", "adam_m", "adam_v", "adamw"):
        assert check_keras_trajectory(formula(name)).passed, name
    assert runs == ["Adam", "AdamW"]


@pytest.mark.tf
@pytest.mark.parametrize("keras_class", ["Adam", "AdamW", "RMSprop", "SGD"])
def test_variables_of_one_optimizer_move_as_each_would_alone(keras_class):
    """The trajectory check runs its three cases as three variables of one
    optimizer: each must follow the path it follows as the only variable."""
    from nnmath.checker import oracle

    rng = np.random.default_rng(5)
    runs = [(rng.normal(size=n), rng.normal(size=(20, n))) for n in (3, 7, 5)]
    slots = {"m": "_momentums"} if keras_class.startswith("Adam") else {}
    args = {"learning_rate": 0.1, **({"momentum": 0.9} if keras_class == "SGD" else {})}
    if keras_class == "SGD":
        slots = {"v": "momentums"}
    together = oracle._trajectories(keras_class, args, runs, slots)
    for run, joint in zip(runs, together):
        (alone,) = oracle._trajectories(keras_class, args, [run], slots)
        for k in alone:
            np.testing.assert_array_equal(joint[k], alone[k])


@pytest.mark.tf
def test_an_optimizer_that_couples_its_variables_runs_each_alone():
    """global_clipnorm scales every variable's step by the norm of all of them:
    the trajectory check's cases then run as one optimizer each."""
    from nnmath.checker import oracle

    rng = np.random.default_rng(2)
    runs = [(rng.normal(size=n), 3 * rng.normal(size=(10, n))) for n in (3, 7)]
    args = {"learning_rate": 0.1, "global_clipnorm": 1.0}
    got = oracle.keras_trajectories("SGD", args, runs, {})
    alone = [oracle._trajectories("SGD", args, [run], {})[0] for run in runs]
    joint = oracle._trajectories("SGD", args, runs, {})
    for g, a in zip(got, alone):
        np.testing.assert_array_equal(g["theta"], a["theta"])
    assert not np.allclose(joint[0]["theta"], alone[0]["theta"])  # it matters


# -- chapter 6: the race and the worked Adam step --------------------------------
@pytest.fixture(scope="module")
def ex6():
    from chapters import chapter6

    return chapter6.example()


def test_race_paths_are_trajectories_of_the_registered_rules(ex6):
    from chapters import chapter6
    from nnmath.runs.trajectories import quadratic_gradient

    grad = quadratic_gradient(chapter6.A)
    for name, hyper in chapter6.SETTINGS.items():
        path = trajectory(
            optimizer(name), chapter6.START, grad, chapter6.STEPS, **hyper
        )
        np.testing.assert_array_equal(ex6["paths"][name], path["theta"])


def test_worked_adam_step_ends_with_the_races_first_step(ex6):
    from chapters import chapter6
    from nnmath.worked import fmt, substituted_latex

    f = formula("adam", **chapter6.SETTINGS["adam"])
    first = ex6["adam_first"]
    line = substituted_latex(
        f, {n: first[n] for n in f.input_names}, at={"p": 0}, digits=chapter6.DIGITS
    )
    assert line.endswith(f"= {fmt(ex6['paths']['adam'][1][0], chapter6.DIGITS)}")
    assert "0.999" in line  # β₂ is not rounded to 1.00


def test_chapter6_prose_matches_the_race(ex6):
    from chapters import chapter6

    prose = chapter6.CHAPTER.prose
    final = {n: loss[-1] for n, loss in ex6["loss"].items()}
    assert min(final, key=final.get) == "nesterov"  # "finishes lowest"
    assert max(final, key=final.get) == "adam"  # "still swinging back"
    for name, text in (
        ("sgd", "4 \\cdot 10^{-3}"),
        ("nesterov", "4 \\cdot 10^{-5}"),
        ("rmsprop", "8 \\cdot 10^{-5}"),
    ):
        mantissa, exponent = f"{final[name]:.0e}".split("e")
        assert text == f"{mantissa} \\cdot 10^{{{int(exponent)}}}" and text in prose
    assert f"{final['adam']:.1f}" == "0.1"
    limit = 2 / np.linalg.eigvalsh(chapter6.A).max()
    assert f"{limit:.3f}" in prose and chapter6.SETTINGS["sgd"]["learning_rate"] < limit


def test_race_bowl_has_the_curvatures_the_scene_names():
    from chapters import chapter6

    # the Hessian of ½θᵀAθ is A for a symmetric A: "11 across, 0.8 along"
    np.testing.assert_array_equal(chapter6.A, chapter6.A.T)
    flat, steep = np.linalg.eigvalsh(chapter6.A)
    assert f"{flat:.1f}" == "0.8" and round(steep) == 11


@pytest.mark.tf
def test_keras_rounds_a_python_float_momentum_through_float32():
    # why the oracle passes hyperparameters as float64: with a Python 0.9 Keras's
    # ops.cast gives μ = float32(0.9), and 100 steps drift far beyond float64 noise
    import keras

    from nnmath.checker.oracle import tensorflow

    tf = tensorflow()
    rng = np.random.default_rng(0)
    theta0, grads = rng.normal(size=3), rng.normal(size=(100, 3))
    ours = trajectory(optimizer("momentum"), theta0, grads)["theta"][-1]
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        opt = tf.keras.optimizers.SGD(learning_rate=0.01, momentum=0.9)
    finally:
        keras.config.set_floatx(floatx)
    var = tf.Variable(theta0)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
    assert np.abs(var.numpy() - ours).max() > 1e-8
