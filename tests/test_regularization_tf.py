"""Regularization and normalization against TensorFlow and Keras: every new
formula and claim passes verify's TensorFlow and Keras-layer rows; where the
reductions agree, batch norm and dropout are Keras's bit for bit; the printed
errors are caught by name (and the Keras layer is what catches an error its
author also wrote into the TensorFlow reference); Keras's float32 rounding of
Python-float hyperparameters, shown; and the digits MLP trained with batch norm
and dropout, step for step with Keras."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import claim, claims, formula
from nnmath.checker.checks import (
    check_forward,
    check_keras_layer,
    check_keras_trajectory,
    verify,
)
from nnmath.formula import defined
from nnmath.library import regularization as reg

pytestmark = pytest.mark.tf

NEW = (
    "dropout",
    "batch_norm",
    "batch_norm_inference",
    "batch_norm_moving_mean",
    "batch_norm_moving_variance",
    "layer_norm",
    "l2_penalty",
    "adamw",
)


@pytest.fixture(scope="module")
def keras():
    from nnmath.checker import oracle

    oracle.tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(floatx)


def _failed(formulas=(), claims_=()) -> set[str]:
    return {r.method for r in verify(formulas, claims_) if not r.passed}


def test_every_new_formula_and_claim_passes_every_check():
    fs = [formula(n) for n in NEW]
    cs = [c for c in claims() if c.formula.name in NEW]
    rows = verify(fs, cs)
    assert [r.line for r in rows if not r.passed] == []
    layer_rows = {r.subject for r in rows if r.method == "keras-layer"}
    assert {
        "batch_norm",
        "batch_norm/dx",
        "batch_norm/dgamma",
        "layer_norm/dx",
        "dropout/dx",
        "dropout(training=False)",
        "batch_norm_moving_variance",
        "l2_penalty/dw",
    } <= layer_rows
    assert "adamw" in {r.subject for r in rows if r.method == "keras-trajectory"}


# -- Keras's order of operations, bit for bit --------------------------------------
def test_batch_norm_is_kerass_bit_for_bit_where_the_statistics_are_exact(keras):
    # integers over a batch of 8: mean and biased variance are exact in float64
    # on both sides, so any difference is the order of the element-wise ops
    rng = np.random.default_rng(0)
    x = rng.integers(-20, 20, size=(8, 5)).astype(float)
    gamma, beta = rng.normal(size=5), rng.normal(size=5)
    layer = keras.layers.BatchNormalization()
    layer.build((None, 5))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    ref = np.asarray(layer(x, training=True))
    np.testing.assert_array_equal(
        formula("batch_norm").numpy(x=x, gamma=gamma, beta=beta), ref
    )
    textbook = gamma * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-3) + beta
    assert np.any(textbook != ref)  # γ(x − μ)/√(σ² + ε) + β rounds otherwise
    mm = formula("batch_norm_moving_variance").numpy(moving_variance=np.ones(5), x=x)
    np.testing.assert_array_equal(mm, np.asarray(layer.moving_variance))


def test_dropout_is_kerass_bit_for_bit_with_the_mask_it_drew(keras):
    x = np.random.default_rng(1).normal(size=(40, 50))
    first, again = (keras.layers.Dropout(0.3, seed=5) for _ in range(2))
    mask = (np.asarray(first(np.ones_like(x), training=True)) != 0).astype(float)
    ref = np.asarray(again(x, training=True))
    np.testing.assert_array_equal(formula("dropout").numpy(x=x, mask=mask), ref)
    assert np.any(np.where(mask == 1, x / (1 - 0.3), 0.0) != ref)
    assert 0.6 < mask.mean() < 0.8


# -- the printed errors, caught by name ------------------------------------------------
def _unbiased(f):
    """``f`` with σ² divided by N − 1 (the sample variance) instead of N."""
    N = reg.N
    where = tuple(
        (name, d * N / (N - 1) if name == reg.var[reg.i] else d) for name, d in f.where
    )
    return dataclasses.replace(f, expr=defined(f.shown, where), where=where)


def test_batch_norm_with_the_unbiased_variance_is_caught():
    wrong = _unbiased(formula("batch_norm"))
    assert {"tensorflow-forward", "keras-layer"} <= _failed([wrong])
    # its author writes the same variance into the TensorFlow reference: that row
    # passes, and the Keras layer is what still catches it
    same_in_tf = dataclasses.replace(
        wrong,
        tf="tf.nn.batch_normalization(x, tf.reduce_mean(x, 0), "
        "tf.math.reduce_variance(x, 0) * x.shape[0] / (x.shape[0] - 1), beta, gamma, "
        "0.001)",
    )
    assert check_forward(same_in_tf, "float64").passed
    row = check_keras_layer(same_in_tf)
    assert not row.passed and row.label == "batch_norm [keras-layer float64]"


def test_the_moving_variance_with_bessels_correction_is_caught():
    # Keras 2's fused kernel moved it by the unbiased variance; Keras 3 does not
    assert "keras-layer" in _failed([_unbiased(formula("batch_norm_moving_variance"))])


def test_batch_norm_backward_treating_mean_and_variance_as_constants_is_caught():
    g, gamma = sp.IndexedBase("g"), sp.IndexedBase("gamma")
    shown = g[reg.n, reg.i] * gamma[reg.i] / sp.sqrt(reg.var[reg.i] + reg.eps)
    where = reg.moments("N")
    wrong = dataclasses.replace(
        claim("batch_norm/dx"), rhs=defined(shown, where), shown=shown, where=where
    )
    assert {
        "symbolic",
        "tensorflow-gradient",
        "keras-layer",
        "finite-differences",
    } <= _failed(claims_=[wrong])


def _dropout_written(factor, tf_factor: str, rate: float = reg.RATE):
    """Dropout as a textbook writes it, formula, TensorFlow reference and
    gradient alike: kept units times ``factor`` (of p)."""
    f = formula("dropout", rate=rate)
    kept = sp.Eq(reg.mask[reg.n, reg.i], 1)
    expr = sp.Piecewise((reg.x[reg.n, reg.i] * factor, kept), (0, True))
    wrong = dataclasses.replace(
        f,
        expr=expr,
        tf=f"tf.where(mask == 1, x * {tf_factor.format(p=rate)}, tf.zeros_like(x))",
    )
    g = sp.IndexedBase("g")[reg.n, reg.i]
    c = dataclasses.replace(
        claim("dropout/dx"),
        formula=wrong,
        rhs=g * sp.Piecewise((factor, kept), (0, True)),
    )
    return wrong, c


@pytest.mark.parametrize(
    "factor, tf_factor",
    [(sp.Integer(1), "1"), (1 / reg.p, "(1 / {p})")],
    ids=["no 1/(1 - rate)", "1/rate"],
)
def test_dropout_scaled_wrongly_is_caught_by_the_keras_layer(factor, tf_factor):
    wrong, c = _dropout_written(factor, tf_factor)
    rows = verify([wrong], [c])
    failed = {r.label for r in rows if not r.passed}
    # self-consistent: its own claim and its own TensorFlow string agree with it
    assert failed == {
        "dropout [keras-layer float64]",
        "dropout/dx [keras-layer float64]",
    }


def test_at_rate_one_half_one_over_rate_is_one_over_one_minus_rate():
    # why the book's rate is 0.3: at 0.5 the 1/rate error is invisible
    wrong, _ = _dropout_written(1 / reg.p, "(1 / {p})", rate=0.5)
    assert check_keras_layer(wrong).passed


def test_adamw_written_as_adam_with_weight_decay_in_the_gradient_is_caught():
    f = formula("adamw")
    eta, eps, lam, b1, b2 = (
        sp.Symbol(s, positive=True)
        for s in ("eta", "epsilon", "lamda", "beta_1", "beta_2")
    )
    t = sp.Symbol("t")
    p_ = f.indices[0]
    theta, g, m, v = (sp.IndexedBase(s)[p_] for s in ("theta", "g", "m", "v"))
    l2 = g + lam * theta  # "L2 regularization" through Adam's moments
    m_new, v_new = b1 * m + (1 - b1) * l2, b2 * v + (1 - b2) * l2**2
    step = eta * sp.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
    wrong = dataclasses.replace(f, expr=theta - step * m_new / (sp.sqrt(v_new) + eps))
    row = check_keras_trajectory(wrong)
    assert not row.passed and row.label == "adamw [keras-trajectory float64]"
    # θ(1 − λη) − step is the same rule, rounded otherwise: it passes
    right = dataclasses.replace(
        f,
        expr=theta * (1 - lam * eta)
        - step * (b1 * m + (1 - b1) * g) / (sp.sqrt(b2 * v + (1 - b2) * g**2) + eps),
    )
    assert check_keras_trajectory(right).passed


def test_correct_rewrites_pass():
    # the textbook's γ(x − μ)/√(σ² + ε) + β: other roundings, the same maths
    f = formula("batch_norm")
    mu_, var_ = reg.mu[reg.i], reg.var[reg.i]
    shown = (
        reg.gamma[reg.i] * (reg.x[reg.n, reg.i] - mu_) / sp.sqrt(var_ + reg.eps)
        + (reg.beta[reg.i])
    )
    textbook = dataclasses.replace(
        f, expr=defined(shown, reg.moments("N")), shown=shown, where=reg.moments("N")
    )
    assert _failed([textbook]) == set()
    shown, where = reg.bn_backward_compact()
    compact = dataclasses.replace(
        claim("batch_norm/dx"), rhs=defined(shown, where), shown=shown, where=where
    )
    assert _failed(claims_=[compact]) == set()
    # dropout as mask·x/(1 − p): one ulp from Keras at most
    masked = dataclasses.replace(
        formula("dropout"),
        expr=reg.mask[reg.n, reg.i] * reg.x[reg.n, reg.i] / (1 - reg.p),
    )
    assert check_keras_layer(masked).passed


# -- Keras's float32 rounding of Python-float hyperparameters ----------------------
def test_keras_casts_a_python_float_through_float32(keras):
    import tensorflow as tf

    assert float(tf.cast(0.01, tf.float64)) == float(np.float32(0.01)) != 0.01
    assert float(tf.cast(np.float64(0.01), tf.float64)) == 0.01
    assert reg.float32_rounding(0.01) == pytest.approx(2.2351741790771484e-08)
    assert reg.float32_rounding(0.25) == 0.0


def test_the_l2_regularizer_uses_l2_rounded_to_float32(keras):
    w = np.random.default_rng(2).normal(size=(5, 3))
    penalty = float(keras.regularizers.L2(0.01)(w))
    held = float(np.float32(0.01))  # 0.009999999776482582
    assert penalty == pytest.approx(
        formula("l2_penalty", l2=held).numpy(w=w), rel=1e-15
    )
    exact = float(formula("l2_penalty").numpy(w=w))
    assert abs(penalty - exact) / exact == pytest.approx(
        reg.float32_rounding(0.01), rel=1e-6
    )
    # verify states the tolerance with its reason; a dyadic λ needs none
    row = check_keras_layer(formula("l2_penalty"))
    assert row.passed and row.rtol == pytest.approx(2 * reg.float32_rounding(0.01))
    assert "Keras holds l2 in float32 (0.009999999776482582)" in row.detail
    dyadic = check_keras_layer(formula("l2_penalty", l2=0.25))
    assert dyadic.passed and dyadic.rtol == 1e-10 and dyadic.max_rel < 1e-15


def test_adamw_rounds_a_python_float_weight_decay_to_float32(keras):
    import tensorflow as tf

    theta0, g = np.array([1e3, -2e3]), np.array([0.5, -0.25])

    def one_step(weight_decay):
        # every other hyperparameter exact (β inside βᵗ is cast through float32
        # too): only the weight decay is what differs
        exact = {
            k: np.float64(v)
            for k, v in {
                "learning_rate": 1.0,
                "beta_1": 0.9,
                "beta_2": 0.999,
                "epsilon": 1e-7,
            }.items()
        }
        opt = keras.optimizers.AdamW(weight_decay=weight_decay, **exact)
        var = tf.Variable(theta0)
        opt.apply_gradients([(tf.constant(g), var)])
        return var.numpy()

    state = {
        "theta": theta0,
        "m": np.zeros(2),
        "v": np.zeros(2),
        "g": g,
        "t": np.asarray(0.0),
    }

    def ours(wd):
        return formula("adamw", learning_rate=1.0, weight_decay=wd).numpy(**state)

    held = float(np.float32(0.004))
    np.testing.assert_allclose(one_step(0.004), ours(held), rtol=1e-15)
    np.testing.assert_allclose(one_step(np.float64(0.004)), ours(0.004), rtol=1e-15)
    assert np.all(np.abs(one_step(0.004) - ours(0.004)) > 1e-9)


# -- training on digits ----------------------------------------------------------------
def test_batch_norm_mlp_follows_kerass_fit_for_five_epochs():
    from nnmath.checker import oracle
    from nnmath.runs.regularized import init_batch_norm, train_batch_norm
    from nnmath.runs.training import epoch_orders, load

    data = load("digits")
    p0 = init_batch_norm(64, 32, 10, seed=0)
    run = train_batch_norm(data, hidden=32, epochs=5, params=p0)
    ref = oracle.train_keras(
        data.x_train,
        data.y_train,
        p0,
        epoch_orders(len(data.x_train), 5, seed=0),
        activation="tanh",
        head="softmax",
        learning_rate=0.125,
        batch_size=32,
        batch_norm=True,
    )
    # measured: 2.3e-16 relative at most over 5 epochs (the batch statistics'
    # sums differ in order); 1e-10 leaves room for other CPUs' reductions
    np.testing.assert_allclose(run.losses, ref["losses"], rtol=1e-10, atol=0)
    for k in ("W1", "gamma", "beta", "W2", "b2", "moving_mean", "moving_variance"):
        np.testing.assert_allclose(
            run.params[k], ref["params"][k], rtol=1e-9, atol=1e-13, err_msg=k
        )
    assert run.losses[-1] < 0.1 * run.losses[0] and run.test_accuracy > 0.95


def test_one_dropout_step_equals_kerass_with_the_masks_keras_drew():
    from nnmath.checker import oracle
    from nnmath.runs.regularized import DropoutNetwork
    from nnmath.runs.training import init_params, load, sgd_step

    data = load("digits")
    p0 = init_params(64, 32, 10, seed=0)
    x, y = data.x_train[:48], data.y_train[:48]
    ref = oracle.train_keras(
        x,
        y,
        p0,
        [np.arange(48)],
        activation="tanh",
        head="softmax",
        learning_rate=0.125,
        batch_size=48,
        dropout=(0.3, 11),
    )
    mask = ref["mask"]
    net = DropoutNetwork(0.3)
    ours = sgd_step(p0, net.backward(p0, x, y, mask), 0.125)
    for k in ours:
        np.testing.assert_allclose(
            ours[k], ref["params"][k], rtol=1e-12, atol=1e-15, err_msg=k
        )
    # another mask gives another step: the comparison sees the mask
    other = sgd_step(p0, net.backward(p0, x, y, 1 - mask), 0.125)
    assert np.abs(other["W2"] - ref["params"]["W2"]).max() > 1e-3
