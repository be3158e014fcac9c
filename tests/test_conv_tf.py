"""Convolution and pooling against TensorFlow: every parameterisation forward,
and TensorFlow's rule for tied maxima."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from helpers import VARIANTS, assert_close_to_tensorflow, shifted_calls
from nnmath import claim, formula
from nnmath.checker.cases import cases_for, sample
from nnmath.checker.checks import check_forward, check_gradient
from nnmath.primitives import FirstArgMax, Maximum

pytestmark = pytest.mark.tf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_forward_matches_tensorflow(name, params, dtype):
    check = check_forward(formula(name, **params), dtype)
    assert check.passed, check.detail


def test_max_pool_cases_contain_ties():
    f = claim("max_pool2d/dx").formula
    (ties,) = [c for c in cases_for(f) if c.kind == "ties"]
    x = sample(f, ties)["x"]
    assert len(np.unique(x)) < x.size / 4  # many equal cells, as after a ReLU


def test_gradient_to_every_tied_maximum_fails_only_on_ties():
    # the tutorial rule [x = max window] agrees with TensorFlow until cells tie;
    # TensorFlow routes to the first maximal cell in row-major order
    c = claim("max_pool2d/dx")
    n, u, v, ch = sp.symbols("n u v c", integer=True, nonnegative=True)

    def every_max(routed, _otherwise):
        (window,) = routed.cond.atoms(FirstArgMax)
        cell_is_max = sp.Eq(
            sp.IndexedBase("x")[n, u, v, ch], Maximum(window.function, *window.limits)
        )
        return sp.Piecewise((routed.expr, cell_is_max), (0, True))

    bad = dataclasses.replace(c, rhs=c.rhs.replace(sp.Piecewise, every_max))
    check = check_gradient(bad, "float64")
    assert not check.passed and "ties" in check.detail
    assert all(r["passed"] for r in check.cases if r["case"] != "ties, as after a ReLU")


def test_random_conv2d_parameterisations_match_tensorflow(monkeypatch):
    """Shapes, strides, dilations and paddings drawn at random (fixed seed), not
    the library's own cases: both lowering paths, the zero-copy shifted rows and
    im2col, equal tf.nn.conv2d (the formula's reference, through verify's oracle)."""
    from nnmath.checker import oracle

    shifted = shifted_calls(monkeypatch)
    rng = np.random.default_rng(2026)
    checked = 0
    while checked < 80:
        n, h, w, c, o = (int(v) for v in rng.integers(1, [4, 12, 12, 6, 6]))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = (
            tuple(int(v) for v in rng.integers(1, 3, size=2))
            if rng.random() < 0.3
            else 1
        )
        dilation = (
            tuple(int(v) for v in rng.integers(1, 3, size=2))
            if stride == 1 and rng.random() < 0.3
            else 1
        )
        kind = rng.choice(["valid", "same", "explicit"])
        padding = (
            tuple(tuple(int(v) for v in rng.integers(0, 3, size=2)) for _ in range(2))
            if kind == "explicit"
            else str(kind)
        )
        dil = (dilation, dilation) if isinstance(dilation, int) else dilation
        extra = padding if kind == "explicit" else ((0, 0), (0, 0))
        if kind != "same" and (
            h + sum(extra[0]) < (kh - 1) * dil[0] + 1
            or w + sum(extra[1]) < (kw - 1) * dil[1] + 1
        ):
            # the kernel is larger than the input: a ValueError, tested elsewhere
            continue
        dtype = ("float64", "float32")[checked % 2]
        f = formula("conv2d", stride=stride, padding=padding, dilation=dilation)
        x = rng.normal(size=(n, h, w, c)).astype(dtype)
        k = rng.normal(size=(kh, kw, c, o)).astype(dtype)
        b = rng.normal(size=o).astype(dtype)
        want = oracle.forward(f, {"x": x, "w": k, "b": b}, dtype)
        got = f.numpy(x=x, w=k, b=b)
        assert got.shape == want.shape, (x.shape, k.shape, stride, dilation, padding)
        assert_close_to_tensorflow(
            got,
            want,
            "tensorflow-forward",
            dtype,
            f,
            str((x.shape, k.shape, stride, dilation, padding)),
        )
        checked += 1
    assert 10 < len(shifted) < checked  # both paths were exercised


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_random_pooling_parameterisations_match_tensorflow(name):
    """Pool sizes, strides and paddings drawn at random (fixed seed), tie-free
    inputs, float32 and float64, against tf.nn.max_pool2d / avg_pool2d (the
    formulas' references, through verify's oracle)."""
    from nnmath.checker import oracle

    rng = np.random.default_rng(7)
    checked = 0
    while checked < 40:
        n, h, w, c = (int(v) for v in rng.integers(1, [4, 13, 13, 5]))
        pool = tuple(int(v) for v in rng.integers(1, 4, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = str(rng.choice(["valid", "same"]))
        if padding == "valid" and (h < pool[0] or w < pool[1]):
            continue
        dtype = ("float64", "float32")[checked % 2]
        x = rng.permutation(n * h * w * c).reshape(n, h, w, c).astype(dtype) / 7.0
        f = formula(name, pool_size=pool, stride=stride, padding=padding)
        got = f.numpy(x=x)
        # the oracle passes typed constants: a NumPy float64 array passed straight to
        # tf.nn.max_pool2d right after a float32 call came back float32 (TF 2.21)
        want = oracle.forward(f, {"x": x}, dtype)
        assert got.shape == want.shape, (x.shape, pool, stride, padding)
        assert_close_to_tensorflow(
            got,
            want,
            "tensorflow-forward",
            dtype,
            f,
            str((x.shape, pool, stride, padding)),
        )
        checked += 1


def test_the_issues_examples_match_tensorflow():
    """max_pool2d(2, stride 3) on 5×5 and conv2d stride 3 on (2, 8, 7, 2) ∗
    (4, 4, 2, 3): one row or column short before (sizes through floats), and the
    filter gradient a ShapeError."""
    import tensorflow as tf

    from nnmath.library.conv import gradient_claims

    x = np.random.default_rng(3).normal(size=(1, 5, 5, 1))
    got = formula("max_pool2d", pool_size=2, stride=3, padding="valid").numpy(x=x)
    # a typed constant: a NumPy array came back float32 after a float32 call
    want = tf.nn.max_pool2d(tf.constant(x, tf.float64), 2, 3, "VALID").numpy()
    assert got.shape == want.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(got, want)

    rng = np.random.default_rng(4)
    x, w, b = rng.normal(size=(2, 8, 7, 2)), rng.normal(size=(4, 4, 2, 3)), np.zeros(3)
    xt, wt = tf.constant(x, tf.float64), tf.constant(w, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch([xt, wt])
        want = tf.nn.conv2d(xt, wt, 3, "VALID")
        g = rng.normal(size=want.shape)
        loss = tf.reduce_sum(want * g)
    dx, dw = tape.gradient(loss, [xt, wt])
    f = formula("conv2d", stride=3, padding="valid")
    got = f.numpy(x=x, w=w, b=b)
    assert got.shape == (2, 2, 2, 3)
    assert_close_to_tensorflow(got, want.numpy(), "tensorflow-forward", "float64", f)
    claims = {c.wrt: c.gradient for c in gradient_claims("conv2d", stride=3)}
    arrays = {"x": x, "w": w, "b": b, "g": g}
    for name, ref in (("x", dx), ("w", dw)):
        ours = claims[name].numpy(**{k: arrays[k] for k in claims[name].input_names})
        assert_close_to_tensorflow(
            ours, ref.numpy(), "tensorflow-gradient", "float64", f, name
        )


@pytest.mark.parametrize("name", ["max_pool2d", "avg_pool2d"])
def test_explicitly_padded_pooling_and_its_gradient_match_tensorflow(name):
    """verify's own checks of the explicit-padding claims, float64 and float32."""
    c = claim(f"{name}/dx.padded")
    assert not isinstance(c.formula.params["padding"], str)
    for dtype in ("float64", "float32"):
        assert check_forward(c.formula, dtype).passed
        check = check_gradient(c, dtype)
        assert check.passed, check.detail


@pytest.mark.parametrize("name", ["conv2d/dw", "max_pool2d/dx", "avg_pool2d/dx.padded"])
def test_verify_checks_empty_tensors_against_tensorflow(name):
    """A batch of 0, no (output) channels and an output of size 0 are cases of
    verify's own checks, forward and gradient (where TensorFlow's conv2d filter
    gradient would crash the process on the empty output)."""
    c = claim(name)
    for check in (check_forward(c.formula, "float64"), check_gradient(c, "float64")):
        assert check.passed, check.detail
        cases = {r["case"].split(" (")[0] for r in check.cases}
        assert {"a batch of 0", "an output of size 0"} <= cases
        assert cases & {"no channels", "no output channels"}
