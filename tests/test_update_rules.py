"""Update rules are checked by what they claim to be, not by their name.

A rule declares the Keras optimizer and hyperparameters it computes
(``Formula(keras=keras_rule(...))``) and ``nnbook verify`` runs it against that
optimizer for 100 steps, whatever it is called; a rule that declares no Keras
counterpart is reported as such, and one that declares nothing fails.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
import sympy as sp

from nnmath import formula
from nnmath.checker.checks import check_keras_trajectory, plan, verify
from nnmath.checker.report import summary, write_junit
from nnmath.update_rules import OPTIMIZERS, KerasRule, NoKeras, keras_rule, optimizer_of

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "my_adam.py"
#: the planted error: the paper's Adam (ε added to the bias-corrected √v̂), in
#: the formula and in the TensorFlow string beside it, as one hand writes both
RIGHT_EXPR = "expr=w[p] - step * m_new / (sp.sqrt(v_new) + eps)"
WRONG_EXPR = (
    "expr=w[p] - eta * m_new / (1 - b1 ** (t + 1)) / "
    "(sp.sqrt(v_new / (1 - b2 ** (t + 1))) + eps)"
)
WRONG_TF = (
    'tf=f"w - {learning_rate} * ({beta_1} * m + (1 - {beta_1}) * grad) / (1 - '
    "{beta_1} ** (t + 1)) / (tf.sqrt(({beta_2} * v + (1 - {beta_2}) * grad ** 2) "
    '/ (1 - {beta_2} ** (t + 1))) + {epsilon})",\n'
)


def _renamed(name: str, new: str, **changes):
    """A book rule copied under a lecturer's name, as a chapter file would."""
    return dataclasses.replace(formula(name), name=new, **changes)


# -- the declaration -------------------------------------------------------------
def test_every_book_rule_declares_the_keras_variable_it_computes():
    for opt in OPTIMIZERS.values():
        for var, name in opt.updates.items():
            rule = formula(name).keras
            assert isinstance(rule, KerasRule), name
            assert rule.variable == var and name in rule.book.updates.values()
            # a slot rule shared with another optimizer (AdamW keeps Adam's m and
            # v: Keras's AdamW is Adam with a weight decay) names the one it is of
            assert rule.optimizer == opt.keras or (
                var != "theta" and rule.book.updates[var] == name
            )


def test_a_rule_is_found_by_its_declaration_not_its_name():
    mine = _renamed("adam", "my_adam")
    assert optimizer_of(mine) == (OPTIMIZERS["adam"], "theta")
    # the book's name with the declaration taken away is not Adam any more
    assert optimizer_of(dataclasses.replace(formula("adam"), keras=None)) is None


@pytest.mark.parametrize(
    "args, valid",
    [
        (("Adagrad",), "valid: Adam, AdamW, RMSprop, SGD"),
        (("Adam",), "takes no amsgrad; valid: learning_rate, beta_1, beta_2, epsilon"),
        (("RMSprop",), "keeps no variable 'm'; valid: s, theta"),
    ],
)
def test_a_declaration_keras_cannot_check_names_what_is_valid(args, valid):
    kwargs = {"Adam": {"amsgrad": True}, "RMSprop": {"variable": "m"}}.get(args[0], {})
    with pytest.raises(ValueError, match=re.escape(valid)):
        keras_rule(*args, **kwargs)


def test_sgd_declarations_select_the_book_optimizer_keras_runs():
    assert keras_rule("SGD").book.name == "sgd"
    assert keras_rule("SGD", momentum=0.5).book.name == "momentum"
    assert keras_rule("SGD", momentum=0.5, nesterov=True).book.name == "nesterov"
    with pytest.raises(ValueError, match="keeps no variable 'v'"):
        keras_rule("SGD", variable="v")


# -- what verify plans -------------------------------------------------------------
def _labels(formulas, oracle=True):
    return [label for label, _ in plan(formulas, [], oracle=oracle)]


def test_a_renamed_rule_gets_its_keras_trajectory_check():
    assert "my_adam keras-trajectory" in _labels([_renamed("adam", "my_adam")])
    assert "dense keras-trajectory" not in _labels([formula("dense")])


def test_a_rule_that_declares_nothing_fails_even_without_tensorflow():
    # written as a tutorial writes it: its only reference is its own TF string
    mine = _renamed("adam", "my_adam", keras=None)
    for oracle in (True, False):
        (row,) = [
            c
            for c in verify([mine], [], oracle=oracle)
            if c.method == "keras-trajectory"
        ]
        assert not row.passed and row.dtype == "-"
        assert "gives theta' from theta, so it is an update rule" in row.detail
        assert "keras=keras_rule('Adam', ...)" in row.detail


def test_a_rule_with_no_keras_counterpart_is_reported_not_passed(tmp_path):
    checks = verify([formula("gd_batch")], [], oracle=False)
    (row,) = [c for c in checks if c.method == "keras-trajectory"]
    assert row.passed and not row.checked
    assert row.detail.startswith("no Keras counterpart: tf.keras.optimizers.SGD takes")
    s = summary(checks)
    assert s["not_checked"] == 1 and s["passed"] == len(checks) - 1 and s["ok"]
    write_junit(tmp_path / "j.xml", checks, chapters=["x"])
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert suite.get("skipped") == "1"
    assert len(suite.findall(".//skipped")) == 1


def test_a_declaration_that_is_not_one_fails_naming_what_is_valid():
    mine = _renamed("sgd", "my_sgd", keras="SGD")
    (row,) = [
        c for c in verify([mine], [], oracle=False) if c.method == "keras-trajectory"
    ]
    assert not row.passed and "neither keras_rule(...) nor NoKeras(...)" in row.detail


def test_the_table_and_summary_name_what_was_not_checked(nnbook, tmp_path):
    done = nnbook("verify", "4", "--no-tf", cwd=tmp_path)
    assert done.returncode == 3, done.stderr  # --no-tf: not a full verification
    assert "passed, 0 failed, 2 not checked" in done.stdout
    rows = [
        ln
        for ln in done.stdout.splitlines()
        if "keras-trajectory" in ln and not ln.startswith("NOT CHECKED")
    ]
    none = [r.split()[0] for r in rows if r.rstrip().endswith("none")]
    assert none == ["gd_batch", "gd_minibatch"]
    # gd_stochastic declares Keras's SGD: under --no-tf its row is a skip
    assert [r.split()[0] for r in rows if r.rstrip().endswith("skip")] == [
        "gd_stochastic"
    ]
    assert (
        "NOT CHECKED gd_batch [keras-trajectory -]: no Keras counterpart" in done.stdout
    )


# -- against Keras ------------------------------------------------------------------
@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "course"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "my_adam.py")
    return folder


def test_readme_shows_the_update_rule_example_verbatim():
    blocks = re.findall(
        r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL
    )
    assert EXAMPLE.read_text() in blocks


@pytest.mark.tf
def test_a_lecturers_adam_under_its_own_name_is_run_against_keras(outside, nnbook):
    done = nnbook("verify", "my_adam.py", cwd=outside)
    assert done.returncode == 0, done.stderr
    row = next(ln for ln in done.stdout.splitlines() if "keras-trajectory" in ln)
    assert row.split()[:3] == ["my_adam", "keras-trajectory", "float64"]
    assert row.rstrip().endswith("pass")


@pytest.mark.tf
def test_the_papers_adam_under_its_own_name_fails_against_keras(outside, nnbook):
    source = (outside / "my_adam.py").read_text()
    assert source.count(RIGHT_EXPR) == 1
    # the same mistake in its TensorFlow string: that reference cannot see it
    tf = re.compile(r'tf=f"w - .*?\{epsilon\}\)",\n', re.DOTALL)
    assert len(tf.findall(source)) == 1
    wrong = tf.sub(WRONG_TF, source.replace(RIGHT_EXPR, WRONG_EXPR))
    (outside / "my_adam.py").write_text(wrong)
    done = nnbook("verify", "my_adam.py", cwd=outside)
    assert done.returncode == 1
    rows = [ln.split() for ln in done.stdout.splitlines() if ln.startswith("my_adam ")]
    assert [r[-1] for r in rows if r[1] == "tensorflow-forward"] == ["pass", "pass"]
    assert "FAILED my_adam [keras-trajectory float64]: fails on" in done.stderr


@pytest.mark.tf
def test_wrong_renamed_rules_are_caught_and_right_ones_pass():
    adam = formula("adam")
    theta, m, v, g = (sp.IndexedBase(s) for s in ("theta", "m", "v", "g"))
    (p,) = adam.indices
    eta, b1, b2, eps = (
        next(s for s in adam.expr.free_symbols if s.name == n)
        for n in ("eta", "beta_1", "beta_2", "epsilon")
    )
    t = sp.Symbol("t")
    m1, v1 = b1 * m[p] + (1 - b1) * g[p], b2 * v[p] + (1 - b2) * g[p] ** 2
    paper = theta[p] - eta * (m1 / (1 - b1 ** (t + 1))) / (
        sp.sqrt(v1 / (1 - b2 ** (t + 1))) + eps
    )
    assert not check_keras_trajectory(_renamed("adam", "my_adam", expr=paper)).passed
    # the same rule written another way: the step size as √(1 − β₂ᵗ⁺¹)·η/(1 − β₁ᵗ⁺¹)
    other = theta[p] - m1 * sp.sqrt(1 - b2 ** (t + 1)) * eta / (
        (sp.sqrt(v1) + eps) * (1 - b1 ** (t + 1))
    )
    assert check_keras_trajectory(_renamed("adam", "my_adam", expr=other)).passed
    # a rule claiming other hyperparameters than it computes is caught
    lying = _renamed("adam", "my_adam", keras=keras_rule("Adam", learning_rate=0.002))
    assert not check_keras_trajectory(lying).passed


@pytest.mark.tf
def test_input_names_keras_has_not_fail_naming_the_state():
    mine = _renamed("sgd", "my_sgd", keras=keras_rule("SGD", inputs={"theta": "w"}))
    row = check_keras_trajectory(mine)
    assert not row.passed
    assert "reads w, which SGD's state has not (valid: theta, g, t)" in row.detail


def test_no_keras_declarations_print_their_reason():
    assert NoKeras("no such optimizer").reason == "no such optimizer"
