"""The chapters: lookup, declared names, worked examples and the numbers scenes show.

Fast: nothing here renders.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from manim import Scene

import chapters
from chapters import chapter1, chapter2
from nnmath.registry import claim, claim_names, formula, names
from nnmath.worked import fmt

ALL = chapters.all_chapters()


def _assert_same(a, b, path="example"):
    """Deep equality of example dicts (arrays compared exactly)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    else:
        np.testing.assert_array_equal(a, b, err_msg=path)


@pytest.mark.parametrize("name", ["chapter1", "1", "neuron"])
def test_chapter_one_resolves_by_id_number_and_slug(name):
    assert chapters.get(name) is chapter1.CHAPTER


@pytest.mark.parametrize("name", ["chapter2", "2", "activations"])
def test_chapter_two_resolves_by_id_number_and_slug(name):
    assert chapters.get(name) is chapter2.CHAPTER


def test_unknown_chapter_lists_the_valid_names():
    with pytest.raises(chapters.UnknownChapterError, match="chapter1 \\(neuron\\)"):
        chapters.get("chapter99")


@pytest.mark.parametrize("chapter", ALL, ids=lambda c: c.id)
def test_every_scene_is_a_manim_scene_in_the_chapter_module(chapter):
    module = importlib.import_module(chapter.module)
    assert chapter.scenes
    for scene in chapter.scenes:
        cls = getattr(module, scene, None)
        assert isinstance(cls, type) and issubclass(cls, Scene), scene
        assert scene in module.__all__


@pytest.mark.parametrize("chapter", ALL, ids=lambda c: c.id)
def test_every_formula_and_claim_a_chapter_names_is_registered(chapter):
    assert set(chapter.formulas) <= set(names())
    assert set(chapter.claims) <= set(claim_names())


@pytest.mark.parametrize("chapter", ALL, ids=lambda c: c.id)
def test_worked_example_is_deterministic(chapter):
    _assert_same(chapter.example(), chapter.example())


@pytest.mark.parametrize("chapter", ALL, ids=lambda c: c.id)
def test_prose_exists_and_is_markdown_with_the_chapter_title(chapter):
    assert chapter.prose.startswith(f"# {chapter.title}\n")


# -- chapter 1 ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ex1():
    return chapter1.example()


def test_chapter1_uses_a_real_standardized_iris_flower(ex1):
    from sklearn.datasets import load_iris

    iris = load_iris()
    n = ex1["sample"]
    np.testing.assert_array_equal(ex1["raw"], iris.data[n])
    assert ex1["target"] == iris.target[n]
    expected = np.round((iris.data[n] - iris.data.mean(0)) / iris.data.std(0), 2)
    np.testing.assert_array_equal(ex1["x"][0], expected)
    assert ex1["class_names"] == list(iris.target_names)


def test_chapter1_prose_matches_the_worked_example(ex1):
    prose = chapter1.CHAPTER.prose
    assert f"#{ex1['sample']}" in prose
    assert ex1["class_names"][ex1["target"]] in prose
    assert ex1["class_names"][ex1["predicted"]] in prose


def test_neuron_numbers_are_nnmath_numbers(ex1):
    x, w, b = ex1["x"], ex1["w"], ex1["b"]
    z = formula("dense").numpy(x=x, W=w[None, :], b=np.array([b]))[0, 0]
    assert ex1["z"] == pytest.approx(z, abs=1e-12)
    assert ex1["a"] == pytest.approx(
        formula("neuron").numpy(x=x, w=w, b=b)[0], abs=1e-12
    )
    # the neuron is a one-row dense layer followed by the sigmoid
    assert ex1["a"] == pytest.approx(
        formula("sigmoid").numpy(z=np.array([[z]]))[0, 0], abs=1e-12
    )
    np.testing.assert_allclose(ex1["terms"], w * x[0], atol=1e-12)
    assert ex1["wsum"] + b == pytest.approx(z, abs=1e-12)


def test_neuron_scene_equation_shows_the_example_numbers(ex1):
    symbolic, substituted = chapter1.neuron_equations(ex1)
    assert symbolic == formula("neuron").latex
    for j in range(4):
        assert fmt(ex1["w"][j]) in substituted and fmt(ex1["x"][0, j]) in substituted
    assert substituted.endswith(f"= {fmt(ex1['a'])}")


def test_forward_pass_numbers_are_nnmath_numbers(ex1):
    dense = formula("dense")
    z1 = dense.numpy(x=ex1["x"], W=ex1["W1"], b=ex1["b1"])
    a1 = formula("tanh").numpy(z=z1)
    z2 = dense.numpy(x=a1, W=ex1["W2"], b=ex1["b2"])
    p = formula("softmax").numpy(z=z2)
    for key, value in {"z1": z1, "a1": a1, "z2": z2, "p": p}.items():
        np.testing.assert_allclose(ex1[key], value, atol=1e-12, err_msg=key)
    assert ex1["W1"].shape == (8, 4) and ex1["W2"].shape == (3, 8)
    assert p.sum() == pytest.approx(1.0)
    assert ex1["predicted"] == int(np.argmax(p))


@pytest.mark.parametrize("layer", [1, 2])
def test_layer_rows_written_out_end_with_the_layer_output(ex1, layer):
    symbolic, row = chapter1.layer_equations(ex1, layer, at=1)
    assert symbolic == formula("dense").latex
    assert row.startswith("{z}_{1} = ")
    assert row.endswith(f"= {fmt(ex1[f'z{layer}'][0, 1])}")


# -- chapter 2 ---------------------------------------------------------------
@pytest.fixture(scope="module")
def ex2():
    return chapter2.example()


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "leaky_relu"])
def test_activation_curves_are_nnmath_numbers(ex2, name):
    z = ex2[name]["z"][None, :]
    np.testing.assert_allclose(
        ex2[name]["value"], formula(name).numpy(z=z)[0], atol=1e-12
    )
    grad = claim(f"{name}'").gradient.numpy(z=z, g=np.ones_like(z))[0]
    np.testing.assert_allclose(ex2[name]["slope"], grad, atol=1e-12)


@pytest.mark.parametrize("name", ["sigmoid", "tanh"])
def test_saturation_regions_start_where_the_slope_drops_below_ten_percent(ex2, name):
    data = ex2[name]
    (lo_start, lo_end), (hi_start, hi_end) = data["regions"]
    assert lo_start == data["z"][0] and hi_end == data["z"][-1]
    assert lo_end == pytest.approx(-hi_start, abs=1e-9)  # symmetric
    peak = data["slope"].max()
    step = data["z"][1] - data["z"][0]
    for edge in (lo_end, hi_start):
        slope = claim(f"{name}'").gradient.numpy(
            z=np.array([[edge]]), g=np.ones((1, 1))
        )
        assert slope[0, 0] < chapter2.SATURATION * peak
        inner = edge + step if edge < 0 else edge - step
        slope = claim(f"{name}'").gradient.numpy(
            z=np.array([[inner]]), g=np.ones((1, 1))
        )
        assert slope[0, 0] >= chapter2.SATURATION * peak


def test_dead_relu_region_is_the_negative_half_line(ex2):
    ((start, end),) = ex2["relu"]["regions"]
    assert start == -3 and end == pytest.approx(0.0, abs=1e-12)
    z, slope = ex2["relu"]["z"], ex2["relu"]["slope"]
    assert np.all(slope[z <= 0] == 0) and np.all(slope[z > 0] == 1)


def test_tanh_is_shown_in_exponential_form_rewritten_from_its_formula():
    # regression: Formula.latex once read tanh(z) = tanh(z)
    latex = formula("tanh").latex
    assert latex.startswith(r"\tanh\left(z\right) = \frac{e^{z} - e^{- z}}")


def test_softmax_scene_uses_the_chapter1_logits(ex1, ex2):
    data = ex2["softmax"]
    np.testing.assert_array_equal(data["logits"], ex1["z2"])
    np.testing.assert_allclose(
        data["p"], formula("softmax").numpy(z=ex1["z2"]), atol=1e-12
    )
    assert data["names"] == ex1["class_names"]


def test_wrap_breaks_long_equations_only_at_top_level_signs(ex1):
    from chapters.blocks import wrap

    _, row = chapter1.layer_equations(ex1, 2, at=1)
    wrapped = wrap(row, 2)
    assert wrapped.count(r"\\") == 1 and "&=" in wrapped
    assert wrapped.replace(" &= ", " = ").replace(r" \\ &\quad ", " ") == row
    neuron = chapter1.neuron_equations(ex1)[1]  # one \left( ... \right) group
    assert wrap(neuron, 2) == neuron


def test_prose_equations_come_from_nnmath_not_typed_by_hand():
    import chapters
    from chapters.base import PLACEHOLDER, fill_equations

    for ch in chapters.all_chapters():
        raw = Path(ch.prose_file).read_text(encoding="utf-8")
        assert "{{formula:" in raw
        assert not any(line.startswith("$$") for line in raw.splitlines()), ch.id
        assert not PLACEHOLDER.search(ch.prose)
        for name in ch.formulas:
            if f"{{{{formula:{name}}}}}" in raw:
                assert f"$${formula(name).latex}$$" in ch.prose
    with pytest.raises(KeyError, match="valid"):
        fill_equations("{{formula:nope}}")
