"""Sizes in exact integer arithmetic: output sizes as TensorFlow computes them,
empty tensors, explicit padding for pooling, and test sizes that tell dimensions
apart.  No TensorFlow here (tests/test_conv_sweep.py compares with it)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import sympy as sp

from helpers import formula_claims
from nnmath import claim, formula, names
from nnmath.integers import NotInteger, integer_code, sizes_function
from nnmath.library.conv import gradient_claims, tells_apart
from nnmath.registry import origin

#: parameterisations across strides 1–7, dilations 1–3 and the three paddings
PARAMETERS = [
    {"stride": s, "dilation": d, "padding": p}
    for s, d, p in itertools.product(
        [1, 2, 3, 5, 6, 7, (3, 7)], [1, 3, (2, 1)], ["valid", "same", ((1, 2), (3, 0))]
    )
]


# -- exact sizes ---------------------------------------------------------------------
def test_integer_code_divides_in_integers():
    H, KW, W, k, C = sp.symbols("H KW W k C", integer=True, positive=True)
    assert integer_code(sp.floor((W - KW) / 3) + 1) == "(W - KW) // 3 + 1"
    assert integer_code(sp.ceiling(H / 7)) == "-(-H // 7)"
    assert integer_code(sp.Mod(sp.floor(k / C), W)) == "k // C % W"
    for bad in (H / 3, sp.Float(0.5) * H, sp.sqrt(H)):
        with pytest.raises(NotInteger):
            integer_code(bad)


def test_the_float_floor_of_the_issue_is_exact_now():
    # ⌊7/3 − 4/3⌋ + 1 is 2; through floats (lambdify, modules="math") it was 1
    W, KW = sp.symbols("W KW", integer=True, positive=True)
    expr = sp.floor(W / 3 - KW / 3) + 1
    assert sp.lambdify([W, KW], expr, modules="math")(7, 4) == 1  # the old way
    fn, source = sizes_function(((sp.Symbol("Wo"), expr),))
    assert "Wo = (W - KW) // 3 + 1" in source and fn({"W": 7, "KW": 4}) == (2,)


def _derived_everywhere():
    # the book's library only: chapter files other tests load in this process
    # register formulas of their own, some made to fail
    library = [n for n in names() if origin(n).startswith("nnmath/library/")]
    yield from (formula(n) for n in library)
    yield from (formula("conv2d", **p) for p in PARAMETERS)
    for op in ("max_pool2d", "avg_pool2d"):
        for pool, s in itertools.product([1, 2, 5, (3, 2)], [1, 3, 6, (7, 2)]):
            yield formula(op, pool_size=pool, stride=s, padding="same")
            yield formula(op, pool_size=pool, stride=s, padding="valid")
    yield from (
        c.gradient for n in formula_claims() for c in [claim(n)] if c.gradient.derived
    )


def test_every_derived_size_equals_sympys_exact_evaluation():
    """The compiled integer code against SymPy's exact evaluation, for every
    derived size of the library (sizes from 0, strides to 7, dilations to 3)."""
    rng = np.random.default_rng(0)
    checked = 0
    for f in _derived_everywhere():
        derived = {s.name for s, _ in f.derived}
        given = sorted({a.name for _, e in f.derived for a in e.free_symbols} - derived)
        for _ in range(12):
            point = {
                a: int(rng.integers(0 if a in ("H", "W") else 1, 15)) for a in given
            }
            exact = {f.dim_symbols[a]: sp.Integer(v) for a, v in point.items()}
            for s, expr in f.derived:  # each after those it uses, as SymPy evaluates
                exact[s] = expr.xreplace(exact)
                assert exact[s].is_Integer, (f, s, expr, point)
            got = f._derived_sizes(point)
            assert got == tuple(int(exact[s]) for s, _ in f.derived), (f, point)
            checked += 1
    assert checked > 1000


def _tensorflow_output_size(size: int, span: int, stride: int, pads: int) -> int | None:
    """tensorflow/core/framework/kernel_shape_util.cc, GetWindowedOutputSizeVerbose:
    (size + pads − span + stride) / stride in C's integer division (towards 0);
    negative: "Computed output size would be negative" (None here)."""
    numerator = size + pads - span + stride
    out = abs(numerator) // stride * (1 if numerator >= 0 else -1)
    return None if out < 0 else out


@pytest.mark.parametrize("params", PARAMETERS, ids=str)
def test_output_sizes_are_tensorflows(params):
    f = formula("conv2d", **params)
    padding = f.params["padding"]
    for axis, (size, k) in itertools.product(
        (0, 1), itertools.product(range(13), range(1, 6))
    ):
        stride, dilation = f.params["stride"][axis], f.params["dilation"][axis]
        # the other axis: 4 cells and a 1-cell kernel, never rejected
        sizes = {"N": 1, "C": 1, "O": 1, "H": 4, "W": 4, "KH": 1, "KW": 1}
        sizes |= {("H", "W")[axis]: size, ("KH", "KW")[axis]: k}
        span = dilation * (k - 1) + 1
        if padding == "same":
            want = -(-size // stride)
        else:
            pads = 0 if padding == "valid" else sum(padding[axis])
            want = _tensorflow_output_size(size, span, stride, pads)
        if want is None:
            with pytest.raises(ValueError, match="larger than"):
                f.complete_sizes(sizes)
        else:
            assert f.complete_sizes(sizes)[("Ho", "Wo")[axis]] == want, (axis, size, k)


def test_the_issues_examples_have_tensorflows_shapes():
    """Both reported cases: one row or column short before (floats)."""
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    y = formula("max_pool2d", pool_size=2, stride=3, padding="valid").numpy(x=x)
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(y[0, :, :, 0], [[6.0, 9.0], [21.0, 24.0]])

    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 8, 7, 2)), rng.normal(size=(4, 4, 2, 3)), np.zeros(3)
    f = formula("conv2d", stride=3, padding="valid")
    y = f.numpy(x=x, w=w, b=b)
    assert y.shape == (2, 2, 2, 3)
    # the last column reads input columns 3..6: as written out by hand
    np.testing.assert_allclose(
        y[1, 1, 1], np.einsum("pqc,pqco->o", x[1, 3:7, 3:7], w), rtol=1e-12
    )
    dw = gradient_claims("conv2d", stride=3, padding="valid")[1]
    grad = dw.gradient.numpy(x=x, w=w, b=b, g=np.ones(y.shape))  # was a ShapeError
    assert grad.shape == w.shape


# -- empty tensors ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "op, params, x_shape, w_shape, y_shape",
    [
        ("conv2d", {"stride": 3}, (0, 8, 7, 2), (4, 4, 2, 3), (0, 2, 2, 3)),
        ("conv2d", {"padding": "same"}, (2, 0, 5, 2), (3, 2, 2, 3), (2, 0, 5, 3)),
        ("conv2d", {}, (2, 5, 5, 2), (3, 2, 2, 0), (2, 3, 4, 0)),
        # the window overhangs by less than 2·stride: TensorFlow's empty output
        ("conv2d", {"stride": 2}, (1, 1, 5, 2), (3, 2, 2, 3), (1, 0, 2, 3)),
        ("max_pool2d", {"pool_size": 3, "stride": 2}, (0, 5, 5, 2), None, (0, 2, 2, 2)),
        ("max_pool2d", {}, (2, 5, 5, 0), None, (2, 2, 2, 0)),
        ("avg_pool2d", {"padding": "same"}, (2, 5, 0, 3), None, (2, 3, 0, 3)),
        ("avg_pool2d", {"pool_size": 3, "stride": 3}, (1, 2, 7, 1), None, (1, 0, 2, 1)),
    ],
)
def test_empty_tensors_give_empty_outputs_and_zero_gradients(
    op, params, x_shape, w_shape, y_shape
):
    rng = np.random.default_rng(2)
    arrays = {"x": rng.normal(size=x_shape)}
    if w_shape:
        arrays |= {"w": rng.normal(size=w_shape), "b": rng.normal(size=w_shape[-1])}
    y = formula(op, **params).numpy(**arrays)
    assert y.shape == y_shape
    arrays["g"] = rng.normal(size=y_shape)
    for c in gradient_claims(op, **params):
        grad = c.gradient.numpy(**{k: arrays[k] for k in c.gradient.input_names})
        assert grad.shape == arrays[c.wrt].shape, c.name
        if y.size == 0:
            assert not grad.any(), c.name  # a sum over no outputs


def test_conv2d_rejects_what_tensorflow_rejects_in_one_line():
    f = formula("conv2d")
    with pytest.raises(ValueError, match=r"C=0; TensorFlow rejects .* valid: KH, KW"):
        f.numpy(x=np.ones((1, 5, 5, 0)), w=np.ones((2, 2, 0, 3)), b=np.ones(3))
    with pytest.raises(ValueError, match=r"KH=0"):
        f.numpy(x=np.ones((1, 5, 5, 1)), w=np.ones((0, 2, 1, 3)), b=np.ones(3))
    # an overhang of 2·stride or more: "Computed output size would be negative"
    with pytest.raises(ValueError, match=r"^conv2d: the 4×1 window .*'same'$"):
        f.numpy(x=np.ones((1, 1, 5, 1)), w=np.ones((4, 1, 1, 1)), b=np.ones(1))


# -- explicit padding for pooling ---------------------------------------------------
def test_explicit_pool_padding_is_tensorflows_spelling_too():
    a = formula("max_pool2d", pool_size=3, padding=((1, 2), (0, 1)))
    b = formula("max_pool2d", pool_size=3, padding=[[0, 0], [1, 2], [0, 1], [0, 0]])
    assert a.params == b.params and a.source == b.source
    assert "padding=[[0, 0], [1, 2], [0, 1], [0, 0]]" in a.tf


def test_explicitly_padded_cells_never_win_a_max_nor_count_in_an_average():
    pads = {"pool_size": 3, "stride": 2, "padding": ((2, 1), (1, 2))}
    x = -1.0 - np.arange(20.0).reshape(1, 4, 5, 1)  # all negative: a zero pad would win
    y = formula("max_pool2d", **pads).numpy(x=x)
    assert y.shape == (1, 3, 3, 1)  # ⌊(4 + 3 − 3)/2⌋ + 1, ⌊(5 + 3 − 3)/2⌋ + 1
    np.testing.assert_array_equal(
        y[0, :, :, 0], [[-1, -2, -4], [-1, -2, -4], [-11, -12, -14]]
    )
    ones = formula("avg_pool2d", **pads).numpy(x=np.ones((2, 4, 5, 3)))
    np.testing.assert_array_equal(ones, 1.0)  # zeros counted would pull edges below 1


# -- test sizes ----------------------------------------------------------------------
def _conv_pool_flatten():
    fs = [formula(n) for n in ("conv2d", "max_pool2d", "avg_pool2d", "flatten")]
    fs += [
        claim(n).formula
        for n in formula_claims()
        if claim(n).formula.name in ("conv2d", "max_pool2d", "avg_pool2d")
    ]
    fs += [formula("conv2d", **p) for p in PARAMETERS]
    return fs


def test_every_case_tells_its_dimensions_apart():
    for f in _conv_pool_flatten():
        for name, sizes in f.cases:
            assert tells_apart(sizes), (f, name)


def test_every_claim_instance_tells_each_tensors_axes_apart():
    for n in formula_claims():
        c = claim(n)
        if c.formula.name not in ("conv2d", "max_pool2d", "avg_pool2d", "flatten"):
            continue
        sizes = c.formula.complete_sizes(c.sizes)
        tensors = [i.shape for i in c.formula.inputs]
        if c.formula.name in ("conv2d", "avg_pool2d", "flatten"):  # g too
            tensors.append(c.formula.output_shape)
        for shape in tensors:
            assert tells_apart({d: sizes[d] for d in shape}), (n, shape)


@pytest.mark.parametrize("op", ["conv2d", "max_pool2d", "avg_pool2d"])
def test_verify_covers_a_stride_other_than_1_2_and_4(op):
    strides = {
        s
        for n in formula_claims()
        if claim(n).formula.name == op
        for s in claim(n).formula.params["stride"]
    }
    assert strides - {1, 2, 4}, strides


def test_verify_cases_hold_every_kind_of_empty_tensor():
    for f in _conv_pool_flatten():
        if f.name == "flatten":
            continue
        kinds = {name.split(" (")[0] for name, _ in f.cases}
        assert {"a batch of 0", "an output of size 0"} <= kinds, f
        assert kinds & {"no channels", "no output channels"}, f
        for name, sizes in f.cases:
            if name.startswith("an output of size 0"):
                full = f.complete_sizes(sizes)
                assert full["Ho"] * full["Wo"] == 0 and min(sizes.values()) >= 0
