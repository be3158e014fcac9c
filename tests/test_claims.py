"""Every claim is proved; deliberately wrong claims are caught, by name."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from helpers import formula_claims, unshifted_softmax
from nnmath import claim, formula, names
from nnmath.checker.checks import (
    check_finite_differences,
    check_lowering,
    check_symbolic,
    verify,
)
from nnmath.checker.symbolic import prove
from nnmath.primitives import sigmoid
from nnmath.update_rules import optimizer_of, updated_variable

z = formula("sigmoid").var


def test_every_activation_and_loss_has_a_derivative_claim():
    about = {claim(c).formula.name for c in formula_claims()}
    for name in names():
        # update rules (an optimizer's, batch norm's moving statistics) are
        # checked against Keras's optimizer or layer instead
        f = formula(name)
        if name != "neuron" and optimizer_of(f) is None and updated_variable(f) is None:
            assert name in about, f"{name} has no derivative claim"


@pytest.mark.parametrize("name", formula_claims())
def test_claim_is_proved_symbolically(name):
    result = prove(claim(name))
    assert result.passed, result.detail


@pytest.mark.parametrize("name", formula_claims())
def test_claim_matches_finite_differences(name):
    check = check_finite_differences(claim(name))
    assert check.passed, check.detail


def _mutant(name, rhs):
    return dataclasses.replace(claim(name), rhs=rhs)


def _failed_methods(c):
    return {r.method for r in verify([], [c], oracle=False) if not r.passed}


def test_sigmoid_derivative_written_as_s_times_1_plus_s_is_caught():
    s = sigmoid(z)
    bad = _mutant("sigmoid'", s * (1 + s))
    failed = _failed_methods(bad)
    assert {"symbolic", "finite-differences"} <= failed
    assert "sigmoid'" in check_symbolic(bad).subject


def test_derivative_applied_to_the_activation_is_caught():
    # the tutorial bug: σ'(a) with a = σ(z), i.e. σ(σ(z))(1 − σ(σ(z)))
    a = sigmoid(sigmoid(z))
    assert {"symbolic", "finite-differences"} <= _failed_methods(
        _mutant("sigmoid'", a * (1 - a))
    )


def test_cross_entropy_gradient_with_the_wrong_sign_is_caught():
    c = claim("binary_crossentropy_logits/dz")
    assert {"symbolic", "finite-differences"} <= _failed_methods(
        _mutant(c.name, -c.rhs)
    )
    c = claim("categorical_crossentropy_logits/dz")
    assert {"symbolic", "finite-differences"} <= _failed_methods(
        _mutant(c.name, -c.rhs)
    )


def test_batch_sum_where_the_loss_takes_the_mean_is_caught():
    c = claim("mse/dyhat")
    N = formula("mse").dim_symbols["N"]
    assert "symbolic" in _failed_methods(_mutant(c.name, c.rhs * N))


def test_unshifted_softmax_is_equal_on_paper_but_overflows_at_1000():
    bad = unshifted_softmax()
    with np.errstate(all="ignore"):
        a = bad.numpy(z=np.array([[1000.0, 0.0]]))
    assert np.isnan(a).any()
    check = check_lowering(bad)
    assert not check.passed
    assert "NaN/inf where the 50-digit definition is finite at z[" in check.detail
    assert "z at ±100..1000 (reaches a division, exp)" in check.detail


def test_a_check_that_crashes_is_a_failure_not_a_crash():
    bad = _mutant("dense/dW", sp.IndexedBase("nope")[0])
    rows = verify([], [bad], oracle=False)
    assert rows and not any(r.passed for r in rows)
