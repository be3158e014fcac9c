"""The teaching forms of the losses (issue 13): derived from the registered
formula, equal to it where their conditions hold, and not where they do not."""

from __future__ import annotations

import numpy as np
import pytest

from nnmath import formula
from nnmath.teaching import LOSSES, taught, teaching_form

#: K = 5 classes for the categorical loss: no size another dimension has
K = 5


def _one_sample(name: str, rng) -> dict[str, np.ndarray]:
    """Inputs of one sample inside every condition (p well inside [ε, 1 − ε])."""
    if name == "categorical_crossentropy":
        p = rng.uniform(0.05, 1.0, size=(1, K))
        return {"p": p / p.sum(), "y": np.eye(K)[[rng.integers(K)]]}
    key = "yhat" if name == "mse" else "p"
    return {key: rng.uniform(0.01, 0.99, (1, 1)), "y": rng.integers(0, 2, (1, 1)) * 1.0}


def _taught(form, arrays):
    """The teaching form reads one sample's values: the batch index dropped."""
    return form.formula.numpy(
        **{k: v[0, 0] if v.shape == (1, 1) else v[0] for k, v in arrays.items()}
    )


@pytest.mark.parametrize("name", LOSSES)
def test_the_taught_form_equals_the_keras_form_where_its_conditions_hold(name):
    form = taught(name)
    rng = np.random.default_rng(7)
    for _ in range(50):
        arrays = _one_sample(name, rng)
        full = formula(name).numpy(**arrays)
        # the same operations but the clip and the division by Σp (1 to within
        # an ulp or two) or by N·K = 1: over 2000 samples the largest relative
        # difference measured 4.2e-16 (categorical), 1.4e-16 (mse), 0 (binary)
        np.testing.assert_allclose(_taught(form, arrays), full, rtol=1e-15, atol=0)


def test_outside_its_conditions_the_taught_form_is_not_what_keras_computes():
    # p = 0 for the true class: the taught −log p is infinite; Keras clips to
    # ε = 1e-7 and gets −log ε ≈ 16.1
    bce = taught("binary_crossentropy")
    arrays = {"p": np.array([[0.0]]), "y": np.array([[1.0]])}
    with np.errstate(divide="ignore"):
        assert np.isinf(_taught(bce, arrays))
    np.testing.assert_allclose(
        formula("binary_crossentropy").numpy(**arrays), -np.log(1e-7), rtol=1e-6
    )
    # probabilities that do not sum to 1: Keras divides by their sum first
    cce = taught("categorical_crossentropy")
    arrays = {"p": np.array([[0.2, 0.2, 0.2, 0.2, 0.4]]), "y": np.eye(K)[[4]]}
    assert (
        abs(_taught(cce, arrays) - formula("categorical_crossentropy").numpy(**arrays))
        > 0.1
    )


def test_the_taught_forms_read_as_textbooks_print_them():
    bce = taught("binary_crossentropy")
    assert "clip" not in bce.latex and "sum" not in bce.latex
    assert bce.conditions == ("N = 1", "K = 1", r"\epsilon \le p \le 1 - \epsilon")
    cce = taught("categorical_crossentropy")
    assert "clip" not in cce.latex and "{p}_{k}" in cce.latex and "N" not in cce.latex
    assert cce.conditions[1] == r"\sum_{j=0}^{K - 1} {p}_{j} = 1"
    assert [i.shape for i in cce.formula.inputs] == [("K",), ("K",)]


def test_a_teaching_form_is_asked_of_a_loss_over_its_own_dimensions():
    with pytest.raises(ValueError, match="scalar formula"):
        teaching_form(formula("softmax"), sizes={"N": 1})
    with pytest.raises(ValueError, match="no dimension B; its dimensions are K, N"):
        teaching_form(formula("mse"), sizes={"B": 1})


def test_a_loss_without_a_teaching_form_is_named_with_those_that_have_one():
    with pytest.raises(ValueError, match="there is one for mse, binary_cross"):
        taught("hinge")
