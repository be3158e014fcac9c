"""Cross-checks against TensorFlow, the independent oracle."""

from __future__ import annotations

import dataclasses
import json

import pytest

from helpers import formula_claims
from nnmath import claim, formula, names
from nnmath.checker.checks import check_forward, check_gradient, verify
from nnmath.checker.report import write_json, write_junit
from nnmath.primitives import sigmoid

pytestmark = pytest.mark.tf


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", names())
def test_forward_matches_tensorflow(name, dtype):
    check = check_forward(formula(name), dtype)
    assert check.passed, check.detail


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", formula_claims())
def test_gradient_matches_gradient_tape(name, dtype):
    check = check_gradient(claim(name), dtype)
    assert check.passed, check.detail


def test_wrong_sigmoid_derivative_fails_against_tensorflow():
    c = claim("sigmoid'")
    s = sigmoid(c.formula.var)
    bad = dataclasses.replace(c, rhs=s * (1 + s))
    assert not check_gradient(bad, "float64").passed


def test_one_tape_per_case_serves_a_formulas_claims(monkeypatch):
    """The MLP's claims (x, W1, b1, W2, b2) are compared with one GradientTape
    call per case and dtype; a wrong ∂L/∂W1 (∂L/∂W2's gradient, in W1's
    indices) asked right after them, from the same tape, still fails."""
    from nnmath.checker import oracle

    calls = []
    real = oracle._gradients
    monkeypatch.setattr(oracle, "_GRADIENTS", {})
    monkeypatch.setattr(oracle, "_gradients", lambda *a: calls.append(a) or real(*a))
    about = [claim(n) for n in formula_claims() if n.startswith("mlp/")]
    assert len(about) >= 5
    rows = [check_gradient(c, "float64") for c in about]
    assert all(r.passed for r in rows)
    per_claim = len(calls)
    # a tape per set of arrays (a claim may add a large-magnitude case of its
    # own), not one per case of every claim
    assert per_claim < sum(len(r.cases) for r in rows) / 2, per_claim
    dW1 = claim("mlp/dW1")
    wrong = dataclasses.replace(dW1, rhs=2 * dW1.rhs)
    assert not check_gradient(wrong, "float64").passed
    assert len(calls) == per_claim


def test_unshifted_softmax_fails_against_tensorflow_at_large_logits():
    from helpers import unshifted_softmax

    check = check_forward(unshifted_softmax(), "float64")
    assert not check.passed
    assert "NaN/inf where TensorFlow is finite at z[" in check.detail


def test_reports_parse(tmp_path):
    rows = verify([formula("sigmoid")], [claim("sigmoid'")])
    write_json(tmp_path / "v.json", rows, chapters=["chapter2"])
    write_junit(tmp_path / "v.xml", rows, chapters=["chapter2"])
    doc = json.loads((tmp_path / "v.json").read_text())
    assert doc["summary"] == {
        "checks": len(rows),
        "passed": len(rows),
        "failed": 0,
        "skipped": 0,
        "not_checked": 0,
        "ok": True,
        "complete": True,
    }
    assert {r["method"] for r in doc["checks"]} >= {"symbolic", "tensorflow-gradient"}
    from xml.etree import ElementTree as ET

    suite = ET.parse(tmp_path / "v.xml").getroot()
    assert suite.get("tests") == str(len(rows)) and suite.get("failures") == "0"
