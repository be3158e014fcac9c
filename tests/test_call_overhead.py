"""A formula call binds and checks shapes once per signature, and the lowering
plans a contraction once: every check and every message stays (issue 19).

Speed is measured in bench/overhead.py; these tests assert what the caches must
not change, and that the planning really happens once."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import ShapeError, claim, formula, kernels
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.formula import Formula, Input, indices

RNG = np.random.default_rng(19)


def fresh(f: Formula) -> Formula:
    """The same formula with nothing remembered: no signature seen yet."""
    return dataclasses.replace(f)


def message(f: Formula, **arrays) -> tuple[type, str]:
    with pytest.raises((ShapeError, ValueError)) as e:
        f.numpy(**arrays)
    return type(e.value), str(e.value)


def dense_inputs(n: int, j: int, i: int) -> dict[str, np.ndarray]:
    return {
        "x": RNG.normal(size=(n, j)),
        "W": RNG.normal(size=(i, j)),
        "b": RNG.normal(size=i),
    }


# -- shapes are checked once per signature, and every new one is checked ---------
BAD_AFTER_GOOD = {
    "inner dimension": {"x": np.ones((2, 4)), "W": np.ones((5, 3)), "b": np.ones(5)},
    "a bias of another size": {
        "x": np.ones((2, 3)),
        "W": np.ones((5, 3)),
        "b": np.ones(4),
    },
    "a broadcast bias": {
        "x": np.ones((2, 3)),
        "W": np.ones((5, 3)),
        "b": np.ones((1, 5)),
    },
    "a list of the wrong length": {
        "x": [[1.0, 2.0]],
        "W": np.ones((5, 3)),
        "b": np.ones(5),
    },
    "a missing input": {"x": np.ones((2, 3)), "W": np.ones((5, 3))},
    "an unexpected input": {
        "x": np.ones((2, 3)),
        "W": np.ones((5, 3)),
        "b": np.ones(5),
        "c": np.ones(5),
    },
}


@pytest.mark.parametrize("case", list(BAD_AFTER_GOOD))
def test_a_new_bad_shape_after_a_cached_good_one_is_caught_with_the_same_message(
    case,
):
    bad = BAD_AFTER_GOOD[case]
    never_called = message(fresh(formula("dense")), **bad)
    f = fresh(formula("dense"))
    good = dense_inputs(2, 3, 5)  # the same N, J, I the bad calls nearly have
    np.testing.assert_allclose(f.numpy(**good), good["b"] + good["x"] @ good["W"].T)
    assert message(f, **bad) == never_called
    assert message(f, **bad) == never_called  # a failed signature is not kept
    np.testing.assert_allclose(f.numpy(**good), good["b"] + good["x"] @ good["W"].T)


def test_the_messages_are_the_ones_the_formulas_always_gave():
    f = fresh(formula("dense"))
    f.numpy(**dense_inputs(2, 3, 5))
    kind, text = message(f, x=np.ones((2, 4)), W=np.ones((5, 3)), b=np.ones(5))
    assert kind is ShapeError
    assert text == (
        "dense: W has shape (5, 3), so J=3, but x (2, 4) gives J=4; inputs must "
        "agree on x (N, J), W (I, J), b (I)"
    )
    kind, text = message(f, x=np.ones((2, 3)), W=np.ones((5, 3)), b=np.ones((1, 5)))
    assert kind is ShapeError
    assert text == (
        "dense: b has shape (1, 5) but must be (I) (1 axes); broadcasting between "
        "inputs is not allowed, reshape it explicitly"
    )


def test_binding_runs_once_per_signature(monkeypatch):
    f = fresh(formula("dense"))
    calls = []
    bind = Formula.bind_dims
    monkeypatch.setattr(
        Formula, "bind_dims", lambda self, arrays: calls.append(1) or bind(self, arrays)
    )
    small, large = dense_inputs(2, 3, 5), dense_inputs(7, 3, 5)
    for _ in range(3):
        f.numpy(**small)
    assert len(calls) == 1
    f.numpy(**large)  # a new batch size: bound and checked again
    f.numpy(**{k: small[k] for k in ("b", "W", "x")})  # other order: its own
    assert len(calls) == 3
    for _ in range(3):
        f.numpy(**large)
    assert len(calls) == 3


def test_sizes_a_formula_rejects_are_rejected_after_a_good_call():
    # conv2d's check_sizes (a kernel larger than its input) and derived sizes
    # run for every new signature, not only the first
    f = fresh(formula("conv2d"))
    x, w, b = np.ones((1, 5, 5, 2)), np.ones((3, 3, 2, 4)), np.ones(4)
    assert f.numpy(x=x, w=w, b=b).shape == (1, 3, 3, 4)
    big = np.ones((7, 7, 2, 4))
    expected = message(fresh(formula("conv2d")), x=x, w=big, b=b)
    assert message(f, x=x, w=big, b=b) == expected
    assert "kernel" in expected[1] or "valid" in expected[1]


def test_values_are_checked_on_every_call():
    # check_inputs looks at values, which no signature remembers
    f = fresh(formula("dropout", rate=0.5))
    names = f.input_names
    good = {
        n: np.ones((2, 3)) if n != "mask" else np.array([[0.0, 1, 1], [1, 0, 1]])
        for n in names
    }
    f.numpy(**good)
    bad = {**good, "mask": np.full((2, 3), 0.5)}
    with pytest.raises(ValueError, match="mask"):
        f.numpy(**bad)


def test_lists_and_numbers_are_still_made_arrays():
    f = fresh(formula("dense"))
    f.numpy(**dense_inputs(1, 2, 2))  # the signature of arrays of these shapes
    got = f.numpy(x=[[1.0, 2.0]], W=[[1.0, 0.0], [0.0, 1.0]], b=[0.5, -0.5])
    np.testing.assert_array_equal(got, [[1.5, 1.5]])
    with pytest.raises(ShapeError, match=r"b has shape \(\) but must be \(I\)"):
        f.numpy(x=[[1.0, 2.0]], W=[[1.0, 0.0]], b=2)
    neuron = fresh(formula("neuron"))  # whose bias is a number
    for b in (2.0, np.float64(2.0), np.array(2.0)):
        a = neuron.numpy(x=[[1.0, 2.0]], w=[0.5, -0.25], b=b)
        np.testing.assert_allclose(a, [1 / (1 + np.exp(-2.0))], rtol=1e-15)


# -- contractions: a matrix product where the printer sees one, else planned once --
_n, _i, _j = indices("n i j")
X, W, G = sp.IndexedBase("x"), sp.IndexedBase("W"), sp.IndexedBase("g")
J = sp.Symbol("J", integer=True, positive=True)
SUM = sp.Sum(W[_i, _j] * X[_n, _j], (_j, 0, J - 1))


def _made(expr, name: str) -> Formula:
    return Formula(
        name=name,
        title="",
        output="a",
        indices=(_n, _i),
        expr=expr,
        inputs=(
            Input("x", ("N", "J"), ""),
            Input("W", ("I", "J"), ""),
            Input("g", ("N", "I"), ""),
        ),
        tf="",
        output_shape=("N", "I"),
    )


@pytest.mark.parametrize(
    "expr, printed",
    [
        (G[_n, _i] * SUM, "g * (x @ W.T)"),  # not (g * x) @ W.T
        (SUM / G[_n, _i], "(x @ W.T) / g"),
        (-SUM, "-(x @ W.T)"),
        (G[_n, _i] - SUM, "g - x @ W.T"),
        (sp.exp(SUM) * 2, "2 * np.exp(x @ W.T)"),
        (SUM**2, "(x @ W.T) ** 2"),
        (sp.Sum(W[_i, _j] * X[_n, _j] ** 2, (_j, 0, J - 1)), "x ** 2 @ W.T"),
    ],
    ids=[
        "times",
        "over",
        "negated",
        "subtracted",
        "in a call",
        "squared",
        "of a power",
    ],
)
def test_a_matrix_product_is_grouped_as_the_maths_groups_it(expr, printed):
    f = _made(expr, "t_matmul")
    assert printed in f.source
    arrays = {
        "x": RNG.normal(size=(3, 4)),
        "W": RNG.normal(size=(5, 4)),
        "g": RNG.uniform(1, 2, size=(3, 5)),
    }
    np.testing.assert_allclose(
        f.numpy(**arrays), loop_oracle(f)(**arrays), rtol=1e-12, atol=1e-14
    )


def test_an_einsum_path_is_searched_once_per_shape_signature(monkeypatch):
    searched = []
    search = np.einsum_path
    monkeypatch.setattr(
        np, "einsum_path", lambda *a, **k: searched.append(1) or search(*a, **k)
    )
    kernels._einsum_path.cache_clear()
    f = fresh(formula("quadratic"))  # θᵀAθ/2: three operands, one einsum
    assert "einsum('i,j,ij->', theta, theta, A)" in f.source
    theta, A = RNG.normal(size=6), RNG.normal(size=(6, 6))
    for _ in range(4):
        assert f.numpy(theta=theta, A=A) == pytest.approx(theta @ A @ theta / 2)
    assert len(searched) == 1
    f.numpy(theta=theta[:4], A=A[:4, :4])
    assert len(searched) == 2


# -- what the code would compute twice, it computes once ----------------------------
@pytest.mark.parametrize(
    "name", ["softmax", "categorical_crossentropy_logits/dz", "softmax'"]
)
def test_softmax_exponentiates_once(name):
    f = formula(name) if name == "softmax" else claim(name).gradient
    assert f.source.count("np.exp(") == 1, f.source
    assert "t1 = np.exp(z - z.max(axis=1)[:, None])" in f.source


def test_a_shared_name_never_shadows_an_input():
    T = sp.IndexedBase("t1")
    f = Formula(
        name="t_shadow",
        title="",
        output="a",
        indices=(_n, _i),
        expr=sp.exp(T[_n, _i]) / (1 + sp.exp(T[_n, _i])),
        inputs=(Input("t1", ("N", "I"), ""),),
        tf="",
        output_shape=("N", "I"),
    )
    assert "t2 = np.exp(t1)" in f.source and "return t2 / (1 + t2)" in f.source
    t = RNG.normal(size=(3, 4))
    np.testing.assert_allclose(
        f.numpy(t1=t), loop_oracle(f)(t1=t), rtol=1e-14, atol=1e-15
    )
