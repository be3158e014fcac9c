"""Worked examples: equations with real numbers, derived from Formula.expr."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nnmath.registry import claim, formula
from nnmath.update_rules import optimizer
from nnmath.worked import (
    derived_latex,
    fmt,
    scientific,
    substituted_latex,
    worked,
)

NUMBER = re.compile(r"-?\d+\.\d+")


def _numbers(latex: str) -> list[str]:
    return NUMBER.findall(latex)


def _python(latex_rhs: str) -> str:
    """The few LaTeX spellings these tests meet, as Python."""
    for tex, py in (
        (r"\left(", "("),
        (r"\right)", ")"),
        (r"\cdot", "*"),
        (r"\sigma", "sigmoid"),
        (r"\tanh", "np.tanh"),
    ):
        latex_rhs = latex_rhs.replace(tex, py)
    return latex_rhs.replace("{", "").replace("}", "")


def _rounded(rng: np.random.Generator, *shape: int) -> np.ndarray:
    # two decimals, so the printed numbers are exactly the numbers used
    return np.round(rng.normal(size=shape), 2)


@pytest.fixture
def layer():
    rng = np.random.default_rng(7)
    return {"x": _rounded(rng, 1, 4), "W": _rounded(rng, 3, 4), "b": _rounded(rng, 3)}


def test_dense_row_lists_bias_then_weight_input_pairs_in_j_order(layer):
    latex = substituted_latex(formula("dense"), layer, at={"i": 2})
    x, W, b = layer["x"][0], layer["W"][2], layer["b"][2]
    expected = [fmt(b)] + [v for j in range(4) for v in (fmt(W[j]), fmt(x[j]))]
    z = formula("dense").numpy(**layer)[0, 2]
    assert _numbers(latex) == expected + [fmt(z)]
    assert latex.startswith("{z}_{2} = ")


def test_printed_numbers_evaluate_to_the_printed_result(layer):
    latex = substituted_latex(formula("dense"), layer, at={"i": 1})
    rhs, shown = latex.split(" = ")[1:]
    assert eval(_python(rhs)) == pytest.approx(float(shown), abs=0.005 + 1e-12)


def test_negative_numbers_are_parenthesised_unless_they_lead(layer):
    layer["x"][0, 0], layer["b"][0] = -1.25, -0.5
    latex = substituted_latex(formula("dense"), layer)
    assert "(-1.25)" in latex
    assert latex.startswith("{z}_{0} = -0.50 + ")
    assert not re.search(r"(\+|\\cdot) -\d", latex)


def test_sums_of_ten_or_more_terms_keep_index_order():
    rng = np.random.default_rng(1)
    arrays = {
        "x": np.arange(12.0)[None, :] / 100,
        "W": _rounded(rng, 1, 12),
        "b": np.array([0.5]),
    }
    nums = _numbers(substituted_latex(formula("dense"), arrays))
    xs = nums[2:-1:2]
    assert xs == [fmt(v) for v in arrays["x"][0]]


def test_max_terms_elides_the_middle_of_a_long_sum():
    arrays = {"x": np.ones((1, 8)), "W": np.full((1, 8), 0.5), "b": np.zeros(1)}
    latex = substituted_latex(formula("dense"), arrays, max_terms=3)
    assert latex.count(r"\cdot") == 3 and r"\dots" in latex
    assert latex.endswith("= 4.00")


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_neuron_substitution_reproduces_the_lowered_numpy(activation):
    rng = np.random.default_rng(3)
    arrays = {"x": _rounded(rng, 1, 4), "w": _rounded(rng, 4), "b": np.float64(0.1)}
    f = formula("neuron", activation=activation)
    work = worked(f, arrays)
    assert work.evaluate() == pytest.approx(work.value, rel=1e-12, abs=1e-12)
    assert work.sum_terms() == pytest.approx(list(arrays["w"] * arrays["x"][0]))


def test_neuron_prints_one_sample_without_batch_index():
    arrays = {
        "x": np.array([[0.5, -1.0, 2.0, 0.25]]),
        "w": np.array([1.0, 0.5, -0.5, 2.0]),
        "b": np.float64(0.1),
    }
    latex = substituted_latex(formula("neuron"), arrays)
    assert latex.startswith(
        r"a = \sigma\left(0.10 + 1.00 \cdot 0.50 + 0.50 \cdot (-1.00)"
    )
    rhs = latex.split(" = ")[1]
    oracle = {"np": np, "sigmoid": lambda z: 1 / (1 + np.exp(-z))}
    shown = float(latex.split(" = ")[-1])
    assert shown == pytest.approx(eval(_python(rhs), oracle), abs=0.005)


def test_softmax_substitutes_the_max_shift_by_its_number():
    z = np.array([[1.2, -0.5, 2.3]])
    work = worked(formula("softmax"), {"z": z}, at={"i": 1})
    latex = work.latex()
    assert r"e^{-0.50 - 2.30}" in latex and r"\max" not in latex
    assert work.evaluate() == pytest.approx(work.value, rel=1e-12)


def test_claim_gradients_substitute_too():
    z = np.array([[1.2, -0.5, 2.3]])
    g = np.array([[0.1, -0.2, 0.3]])
    work = worked(claim("softmax'").gradient, {"z": z, "g": g}, at={"j": 1})
    assert work.evaluate() == pytest.approx(work.value, rel=1e-12)
    # g_j minus the whole (bracketed) sum, not minus its first term
    assert r"\left(-0.20 - \left(" in work.latex()


def test_unknown_or_out_of_range_index_names_the_valid_ones(layer):
    with pytest.raises(ValueError, match="valid: n, i"):
        worked(formula("dense"), layer, at={"k": 0})
    with pytest.raises(ValueError, match="valid: 0..2"):
        worked(formula("dense"), layer, at={"i": 3})


def test_fmt_never_writes_negative_zero():
    assert fmt(-0.001) == "0.00"
    assert fmt(-0.005 - 1e-9) == "-0.01"
    assert fmt(1.0, digits=3) == "1.000"


def test_zero_padding_cells_print_as_zero_not_wrapped_around():
    # regression: x[-1] (the 'same' border) was read from the far end of the array
    f = formula("conv2d", stride=2, padding="same")
    x = np.arange(1.0, 26.0).reshape(1, 5, 5, 1)
    w = np.ones((3, 3, 1, 1))
    arrays = {"x": x, "w": w, "b": np.zeros(1)}
    text = substituted_latex(f, arrays, at={"n": 0, "i": 0, "j": 0, "o": 0})
    lhs, printed, result = text.split(" = ")
    products = [
        float(a) * float(b) for a, b in re.findall(r"([\d.]+) \\cdot ([\d.]+)", printed)
    ]
    expected = f.numpy(**arrays)[0, 0, 0, 0]
    assert float(result) == pytest.approx(expected) == pytest.approx(sum(products))
    assert (
        expected == 1 + 2 + 6 + 7
    )  # the 2x2 corner inside the image; the rest is border


# -- textbook term order ------------------------------------------------------------
def test_sums_print_subtracted_terms_last():
    """SymPy alone prints θ' = −ηg + θ and (−y + ŷ)²."""
    assert formula("sgd").latex == r"{\theta'}_{p} = {\theta}_{p} - \eta {g}_{p}"
    assert r"\left({\hat{y}}_{n,k} - {y}_{n,k}\right)^{2}" in formula("mse").latex
    assert claim("mse/dyhat").latex.endswith(
        r"= \frac{2 {\hat{y}}_{n,k} - 2 {y}_{n,k}}{K N}"
    )
    # all terms subtracted: SymPy's order, nothing moved
    import sympy as sp

    from nnmath.typeset import latex

    a, b = sp.symbols("a b")
    assert latex(-a - b) == "- a - b"
    assert latex(b - a) == "b - a"
    assert latex(sp.exp(-a + b)) == "e^{b - a}"


def test_worked_update_reads_theta_minus_step():
    # the numbers follow the printed order: θ first, then − η·g
    latex = substituted_latex(
        formula("sgd"), {"theta": np.array([0.5]), "g": np.array([2.0])}, at={"p": 0}
    )
    rhs = latex.split(" = ")[1]
    assert rhs.startswith("0.50 - ")
    assert latex.endswith(f"= {fmt(0.5 - 0.01 * 2.0)}")


def _adam_step_latex() -> str:
    f = optimizer("adam").formulas(learning_rate=0.4)["theta"]
    one = np.array([0.0])
    arrays = {"theta": np.array([-4.5]), "m": one, "v": one, "g": np.array([-1.5])}
    return substituted_latex(f, {**arrays, "t": 0.0}, at={"p": 0}, digits=3)


def test_a_number_too_small_for_its_decimals_is_written_in_scientific_notation():
    # regression: Keras's ε = 1e-7 was printed 0.000 in Adam's worked step
    latex = _adam_step_latex()
    assert r"\left(10^{-7} + " in latex and r"\left(0.000 + " not in latex
    assert scientific(-2.5e-9) == r"-2.5 \cdot 10^{-9}"


def test_an_input_of_whole_numbers_is_written_in_integers():
    # regression: t = 0 was printed 0.000 in β^{t+1}, and m = v = 0 as 0.000
    latex = _adam_step_latex()
    assert "^{0 + 1}" in latex and r"0.900 \cdot 0 + " in latex
    assert "-4.500 - " in latex  # θ = −4.5 is not whole: decimals, as given
    # ch4's first step: the gradients of integer data are integers
    sgd = substituted_latex(
        formula("sgd"), {"theta": np.array([0.5]), "g": np.array([-4.0])}, at={"p": 0}
    )
    assert r"\cdot (-4)" in sgd and sgd.startswith("{\\theta'}_{0} = 0.50 - ")


def test_derived_sizes_are_worked_out_with_the_numbers_put_in():
    # stride 2, 'same': 5 rows give ⌈5/2⌉ = 3 outputs, which need
    # (3 − 1)·2 + 3 = 7 rows, so 2 zero rows, 1 above; 6 columns need 1, 0 left
    f = formula("conv2d", stride=2, padding="same")
    lines = derived_latex(f, {"H": 5, "KH": 3, "W": 6, "KW": 3})
    assert list(lines) == ["Ho", "P_t", "Wo", "P_l"]
    assert lines["Ho"].startswith("H_{o} = ") and lines["Ho"].endswith(" = 3")
    assert r"2 \cdot 3 + 3 - 5 - 2" in lines["P_t"] and lines["P_t"].endswith(" = 1")
    assert lines["P_l"].endswith(" = 0")
