"""Regularization and normalization without TensorFlow: dropout, batch norm, layer
norm, L2 and AdamW as formulas; their claims; the printed errors the symbolic and
finite-difference checks catch; the order of operations the lowering keeps; and
bad input refused with the valid range."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import ShapeError, claim, formula
from nnmath.checker.checks import check_lowering, check_symbolic, plan, verify
from nnmath.formula import Formula, Input, defined, dims, indices
from nnmath.keras_layer import KerasLayer, keras_layer
from nnmath.library import regularization as reg
from nnmath.primitives import reciprocal

NEW = (
    "dropout",
    "batch_norm",
    "batch_norm_inference",
    "batch_norm_moving_mean",
    "batch_norm_moving_variance",
    "layer_norm",
    "l2_penalty",
)


def _failed(c, oracle: bool = False) -> set[str]:
    return {r.method for r in verify([], [c], oracle=oracle) if not r.passed}


# -- the formulas ------------------------------------------------------------------
@pytest.mark.parametrize("name", NEW)
def test_formula_lowers_exactly_and_declares_its_keras_layer(name):
    f = formula(name)
    check = check_lowering(f)
    assert check.passed, check.detail
    assert isinstance(f.keras, KerasLayer)
    assert f"{f.name} keras-layer" in [label for label, _ in plan([f], [])]


def test_batch_norm_uses_the_biased_variance_and_kerass_defaults():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    gamma, beta = np.array([2.0, 0.5]), np.array([0.25, -1.0])
    y = formula("batch_norm").numpy(x=x, gamma=gamma, beta=beta)
    mu, var = x.mean(axis=0), x.var(axis=0)  # NumPy's var divides by N
    np.testing.assert_allclose(
        y, gamma * (x - mu) / np.sqrt(var + 1e-3) + beta, rtol=1e-14
    )
    unbiased = gamma * (x - mu) / np.sqrt(x.var(axis=0, ddof=1) + 1e-3) + beta
    assert np.abs(y - unbiased).max() > 0.1
    assert formula("batch_norm").constants == {"epsilon": 1e-3}
    assert formula("batch_norm_moving_mean").constants == {"momentum": 0.99}


def test_moving_statistics_move_by_the_biased_batch_statistics():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 1.0]])
    mm = formula("batch_norm_moving_mean").numpy(moving_mean=np.zeros(2), x=x)
    mv = formula("batch_norm_moving_variance").numpy(moving_variance=np.ones(2), x=x)
    np.testing.assert_allclose(mm, 0.01 * x.mean(axis=0), rtol=1e-14)
    np.testing.assert_allclose(mv, 0.99 + 0.01 * x.var(axis=0), rtol=1e-14)


def test_inference_normalises_by_the_moving_statistics_a_batch_of_one_too():
    x = np.array([[4.0, -1.0, 0.5]])
    gamma, beta = np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, -1.0])
    mm, mv = np.array([1.0, 0.0, 0.5]), np.array([4.0, 1.0, 0.0])
    y = formula("batch_norm_inference").numpy(
        x=x, gamma=gamma, beta=beta, moving_mean=mm, moving_variance=mv
    )
    np.testing.assert_allclose(
        y, gamma * (x - mm) / np.sqrt(mv + 1e-3) + beta, rtol=1e-14
    )


def test_layer_norm_normalises_each_sample_over_its_features():
    x = np.array([[1.0, 2.0, 4.0, 8.0], [0.0, 0.0, 1.0, -1.0]])
    gamma, beta = np.array([1.0, 2.0, 0.5, 1.0]), np.array([0.0, 0.0, 1.0, 0.0])
    y = formula("layer_norm").numpy(x=x, gamma=gamma, beta=beta)
    mu, var = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(
        y, gamma * (x - mu) / np.sqrt(var + 1e-3) + beta, rtol=1e-14
    )


def test_inverted_dropout_scales_the_kept_units_and_zeroes_the_rest_exactly():
    x = np.array([[1.0, np.nan, -2.0], [np.inf, 3.0, 0.5]])
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    y = formula("dropout").numpy(x=x, mask=mask)
    keep = 1 / (1 - 0.3)
    # a dropped NaN or ∞ is +0.0, as TensorFlow's where() gives; not NaN
    np.testing.assert_array_equal(
        y, [[1.0 * keep, 0.0, -2.0 * keep], [0.0, 3.0 * keep, 0.5 * keep]]
    )
    assert not np.signbit(y[1, 0])
    np.testing.assert_array_equal(
        formula("dropout", training=False).numpy(x=x[:, [0, 2]]), x[:, [0, 2]]
    )


def test_dropout_multiplies_by_the_reciprocal_as_keras_does():
    # x·(1/(1 − p)), not x/(1 − p): they differ by an ulp at p = 0.3
    assert "x * (1 / (1 - p))" in formula("dropout").source
    x = np.linspace(0.1, 10, 2000)[None, :]
    y = formula("dropout").numpy(x=x, mask=np.ones_like(x))
    np.testing.assert_array_equal(y, x * (1 / (1 - 0.3)))
    assert np.any(y != x / (1 - 0.3))


def test_l2_penalty_has_no_half_and_adamw_decays_before_the_step():
    w = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]])
    assert formula("l2_penalty").numpy(w=w) == pytest.approx(0.01 * (w**2).sum())
    np.testing.assert_allclose(claim("l2_penalty/dw").gradient.numpy(w=w), 0.02 * w)
    # one AdamW step: θ − θλη, then Adam's step with the same m, v
    theta, g = np.array([2.0, -1.0]), np.array([0.5, 0.25])
    state = {
        "theta": theta,
        "m": np.zeros(2),
        "v": np.zeros(2),
        "g": g,
        "t": np.asarray(0.0),
    }
    adam = formula("adam").numpy(**state)
    adamw = formula("adamw").numpy(**state)
    np.testing.assert_allclose(adamw, adam - theta * 0.004 * 0.001, rtol=1e-15)


# -- what is printed is what is computed -------------------------------------------
def test_long_formulas_print_in_named_parts_that_define_the_expression():
    f = formula("batch_norm")
    assert f.latex.startswith(r"{y}_{n,i} = {s}_{i} {x}_{n,i}")
    assert r"{\sigma^{2}}_{i} = \frac{\sum_{m=0}^{N - 1}" in f.latex
    assert defined(f.shown, f.where) == f.expr
    assert r"{\delta^{\mu}}_{i}" in claim("batch_norm/dx").latex
    with pytest.raises(ValueError, match="not its shown form"):
        dataclasses.replace(f, expr=f.expr * 2)


def test_defined_renames_a_parts_index_where_it_is_read():
    n, i, m = indices("n i m")
    N = dims("N")
    x, mu, s = sp.IndexedBase("x"), sp.IndexedBase("mu"), sp.IndexedBase("s")
    where = ((mu[i], sp.Sum(x[m, i], (m, 0, N - 1)) / N),)
    put = defined(s[i] * mu[n], where)
    assert put.doit() == (s[i] * sp.Sum(x[m, n], (m, 0, N - 1)) / N).doit()


# -- the lowering keeps the written order --------------------------------------------
def _tiny(name: str, expr: sp.Expr) -> Formula:
    n = indices("n")
    return Formula(
        name=name,
        title=name,
        output="y",
        indices=(n,),
        expr=expr,
        inputs=tuple(Input(s, ("N",), s) for s in "abc"),
        tf="",
        output_shape=("N",),
    )


def test_a_sum_written_inside_a_sum_is_added_as_written():
    n = indices("n")
    a, b, c = (sp.IndexedBase(s)[n] for s in "abc")
    f = _tiny("nested_add", sp.Add(a, sp.Add(b, c, evaluate=False), evaluate=False))
    # (1e16 − 1e16) + 1 = 1, but 1e16 + (−1e16 + 1) = 0 in float64
    out = f.numpy(a=np.array([1e16]), b=np.array([-1e16]), c=np.array([1.0]))
    assert out[0] == 0.0


def test_a_product_written_inside_a_product_is_multiplied_as_written():
    n = indices("n")
    a, b, c = (sp.IndexedBase(s)[n] for s in "abc")
    f = _tiny("nested_mul", sp.Mul(a, sp.Mul(b, c, evaluate=False), evaluate=False))
    # (1e308·10)·0.1 overflows; 1e308·(10·0.1) does not
    with np.errstate(over="ignore"):
        out = f.numpy(a=np.array([1e308]), b=np.array([10.0]), c=np.array([0.1]))
    assert out[0] == 1e308


def test_a_reciprocal_is_a_division_for_the_edge_cases():
    from nnmath.checker.cases import cases_for, reaching

    # x reaches 1/√(σ² + ε) only through reciprocal(): still drawn at ±100..1000
    assert reaching(formula("batch_norm"))["x"] == ["a division"]
    assert any(c.kind == "large" for c in cases_for(formula("layer_norm")))
    assert "x" not in reaching(formula("dropout"))  # 1/(1 − p) reads no input


def test_reciprocal_is_one_division_and_elementary_for_the_proofs():
    from nnmath.primitives import elementary

    z = sp.Symbol("z")
    assert elementary(reciprocal(1 - z)) == 1 / (1 - z)
    assert sp.latex(reciprocal(z)) == r"\frac{1}{z}"


# -- printed errors caught without TensorFlow ---------------------------------------
def test_batch_norm_backward_treating_mean_and_variance_as_constants_is_caught():
    c = claim("batch_norm/dx")
    g, gamma = sp.IndexedBase("g"), sp.IndexedBase("gamma")
    shown = g[reg.n, reg.i] * gamma[reg.i] / sp.sqrt(reg.var[reg.i] + reg.eps)
    where = reg.moments("N")
    wrong = dataclasses.replace(c, rhs=defined(shown, where), shown=shown, where=where)
    assert {"symbolic", "finite-differences"} <= _failed(wrong)


def test_the_compact_batch_norm_backward_is_a_correct_rewrite():
    shown, where = reg.bn_backward_compact()
    c = claim("batch_norm/dx")
    compact = dataclasses.replace(
        c,
        name="batch_norm/dx.compact",
        rhs=defined(shown, where),
        shown=shown,
        where=where,
    )
    assert _failed(compact) == set()


def test_dropout_gradient_without_the_scale_or_scaled_by_one_over_rate_is_caught():
    # regression: the proof once took "mask = 1" for a kink (an equation, so a set
    # of measure zero) and passed both; a binary mask is 1 on half its inputs
    c = claim("dropout/dx")
    g, mask = sp.IndexedBase("g"), sp.IndexedBase("mask")
    kept = sp.Eq(mask[reg.n, reg.i], 1)
    for factor in (sp.Integer(1), 1 / reg.p):  # no 1/(1 − p); 1/p for 1/(1 − p)
        wrong = dataclasses.replace(
            c, rhs=g[reg.n, reg.i] * sp.Piecewise((factor, kept), (0, True))
        )
        assert {"symbolic", "finite-differences"} <= _failed(wrong)
        assert "kink" not in check_symbolic(wrong).detail


def test_l2_gradient_with_the_textbook_half_is_caught():
    c = claim("l2_penalty/dw")
    assert {"symbolic", "finite-differences"} <= _failed(
        dataclasses.replace(c, rhs=c.rhs / 2)
    )


def test_layer_norm_gradient_through_the_batch_axis_is_caught():
    # the batch-norm backward written for layer norm: sums over n, not the features
    c = claim("layer_norm/dx")
    g, gamma = sp.IndexedBase("g"), sp.IndexedBase("gamma")
    n, i, r, N = reg.n, reg.i, reg.r, reg.N
    shown = (
        g[n, i] * gamma[i] - sp.Sum(g[r, i] * gamma[i], (r, 0, N - 1)) / N
    ) / sp.sqrt(reg.var[n] + reg.eps)
    where = reg.moments("I")
    wrong = dataclasses.replace(c, rhs=defined(shown, where), shown=shown, where=where)
    assert "symbolic" in _failed(wrong)


# -- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize("rate", [1.0, 1.5, -0.1, float("nan"), True])
def test_dropout_rate_outside_0_1_names_the_valid_range(rate):
    with pytest.raises(ValueError, match=r"valid: a number in \[0, 1\)"):
        formula("dropout", rate=rate)


def test_dropout_mask_not_zero_one_or_of_the_wrong_shape_is_refused():
    f = formula("dropout")
    x = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"mask\[1, 2\] = 0.5; valid: a mask of 0"):
        f.numpy(x=x, mask=np.where(np.arange(12).reshape(4, 3) == 5, 0.5, 1.0))
    with pytest.raises(ShapeError, match=r"inputs must agree on x \(N, I\), mask"):
        f.numpy(x=x, mask=np.ones((3, 4)))


@pytest.mark.parametrize(
    "name", ["batch_norm", "batch_norm_moving_mean", "batch_norm_moving_variance"]
)
def test_a_batch_of_one_in_training_mode_is_refused_with_the_reason(name):
    f = formula(name)
    arrays = {
        i.name: np.ones((1, 3) if i.shape == ("N", "I") else (3,)) for i in f.inputs
    }
    with pytest.raises(
        ValueError,
        match=r"N=1 is a batch of one in training mode; "
        r"with fewer than 2 values the variance is 0.*valid: N ≥ 2",
    ):
        f.numpy(**arrays)
    arrays["x"] = np.ones((0, 3))  # an empty batch has no statistics at all
    with pytest.raises(ValueError, match="valid: N ≥ 2"):
        f.numpy(**arrays)


def test_layer_norm_over_a_single_feature_is_refused():
    with pytest.raises(ValueError, match="I=1 is a single feature.*valid: I ≥ 2"):
        formula("layer_norm").numpy(
            x=np.ones((4, 1)), gamma=np.ones(1), beta=np.zeros(1)
        )


@pytest.mark.parametrize("name", ["batch_norm", "batch_norm_inference", "layer_norm"])
@pytest.mark.parametrize("epsilon", [0.0, -1e-3, float("inf")])
def test_epsilon_must_be_positive(name, epsilon):
    with pytest.raises(
        ValueError, match=r"epsilon=.* is not valid; valid: a number > 0"
    ):
        formula(name, epsilon=epsilon)


def test_momentum_and_l2_name_their_valid_ranges():
    with pytest.raises(ValueError, match=r"valid: a number in \[0, 1\]"):
        formula("batch_norm_moving_mean", momentum=1.5)
    with pytest.raises(ValueError, match="valid: a number ≥ 0"):
        formula("l2_penalty", l2=-0.01)
    with pytest.raises(ValueError, match="valid: a number ≥ 0"):
        formula("adamw", weight_decay=-1.0)


def test_cli_show_says_what_is_wrong_in_one_line(nnbook):
    done = nnbook("show", "dropout", "-p", "rate=1.5")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: dropout: rate=1.5 is not valid; valid: a number in [0, 1)"
    ]
    done = nnbook("show", "batch_norm", "-p", "epsilon=0")
    assert done.returncode == 2
    assert "valid: a number > 0" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_keras_layer_declaration_names_what_is_valid():
    with pytest.raises(ValueError, match="valid: map one input to 'inputs'"):
        keras_layer("Dense", {}, {"w": "kernel"})
    with pytest.raises(ValueError, match="valid: gamma, inputs"):
        keras_layer(
            "BatchNormalization",
            {},
            {"x": "inputs", "gamma": "gamma"},
            output="moving_mean",
        )


# -- the networks trained in nnmath/runs/regularized.py --------------------------------
def _central_differences(loss, params: dict, key: str, step: float = 1e-6):
    grad = np.zeros_like(params[key])
    for at in np.ndindex(*grad.shape):
        up = {k: v.copy() for k, v in params.items()}
        down = {k: v.copy() for k, v in params.items()}
        up[key][at] += step
        down[key][at] -= step
        grad[at] = (loss(up) - loss(down)) / (2 * step)
    return grad


def test_batch_norm_network_backward_is_the_gradient_of_its_training_loss():
    from nnmath.runs.regularized import BatchNormNetwork, init_batch_norm

    rng = np.random.default_rng(3)
    # F=5 inputs, H=4 hidden, K=3 classes, a batch of N=7: all told apart
    p = init_batch_norm(5, 4, 3, seed=1)
    p["gamma"], p["beta"] = rng.uniform(0.5, 2, 4), rng.normal(size=4)
    p = {k: v for k, v in p.items() if not k.startswith("moving")}
    x, y = rng.normal(size=(7, 5)), np.eye(3)[rng.integers(0, 3, 7)]
    net = BatchNormNetwork()

    def loss(q):  # training mode: the batch's own statistics
        return float(net.loss_formula.numpy(z=net.forward(q, x)["z2"], y=y))

    grads = net.backward(p, x, y)
    for key in ("W1", "b1", "gamma", "beta", "W2", "b2"):
        np.testing.assert_allclose(
            grads[key],
            _central_differences(loss, p, key),
            rtol=1e-5,
            atol=1e-8,
            err_msg=key,
        )
    # b1 only shifts the batch mean, which batch norm removes
    assert np.abs(grads["b1"]).max() < 1e-15


def test_dropout_network_backward_is_the_gradient_of_its_training_loss():
    from nnmath.runs.regularized import DropoutNetwork, draw_masks
    from nnmath.runs.training import init_params

    rng = np.random.default_rng(4)
    p = init_params(5, 4, 3, seed=2)
    x, y = rng.normal(size=(7, 5)), np.eye(3)[rng.integers(0, 3, 7)]
    for rate in (0.3, 0.6):
        net, mask = DropoutNetwork(rate), draw_masks(rng, (7, 4), rate)

        def loss(q, net=net, mask=mask):
            return float(net.loss_formula.numpy(z=net.forward(q, x, mask)["z2"], y=y))

        grads = net.backward(p, x, y, mask)
        for key in p:
            np.testing.assert_allclose(
                grads[key],
                _central_differences(loss, p, key),
                rtol=1e-5,
                atol=1e-8,
                err_msg=(rate, key),
            )


def test_dropout_at_rate_zero_trains_exactly_as_the_plain_network():
    from nnmath.runs.regularized import train_dropout
    from nnmath.runs.training import load, train

    data = load("iris")
    plain = train(data, hidden=8, epochs=3)
    kept = train_dropout(data, hidden=8, rate=0.0, epochs=3)
    assert kept.losses == plain.losses
    assert kept.test_accuracy == plain.test_accuracy
