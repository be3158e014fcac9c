"""Convolution and pooling against TensorFlow: every parameterisation forward,
and TensorFlow's rule for tied maxima."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp
from test_conv import VARIANTS

from nnmath import claim, formula
from nnmath.cases import cases_for, sample
from nnmath.checks import check_forward, check_gradient
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
