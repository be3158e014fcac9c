"""Convolution and pooling: TensorFlow's semantics, a vectorized lowering equal to
the loop oracle, and bad input rejected with the valid choices named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from helpers import VARIANTS, shifted_calls
from nnmath import ShapeError, claim, claim_names, formula
from nnmath.checker.checks import check_lowering, verify
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.kernels import reduce_window, window
from nnmath.primitives import present


#: parameterisations that exercise stride > 1, 'same' with an odd total,
#: dilation > 1, explicit padding and multiple channels
@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_lowering_equals_the_loop_oracle(name, params):
    check = check_lowering(formula(name, **params))
    assert check.passed, check.detail


@pytest.mark.parametrize(("name", "params"), VARIANTS)
def test_generated_source_has_no_python_loop(name, params):
    src = formula(name, **params).source
    assert " for " not in src and "while" not in src
    compile(src, "<test>", "exec")


def test_conv2d_source_is_a_strided_window_contracted_by_a_blocked_gemm():
    src = formula("conv2d", stride=2, padding="same").source
    assert "window(x, (1, (2, 1), (Ho, KH), -P_t), (2, (2, 1), (Wo, KW), -P_l))" in src
    assert "contract('pqco,nipjqc->nijo', w, window(" in src


@pytest.mark.parametrize(
    "spec, shapes",
    [
        ("pqco,nipjqc->nijo", [(3, 2, 4, 5), (7, 6, 3, 5, 2, 4)]),  # conv2d
        ("nipjqc,pqco->nijo", [(7, 6, 3, 5, 2, 4), (3, 2, 4, 5)]),  # operands swapped
        (
            "nipjqc,nijo->pqco",
            [(2, 6, 3, 5, 2, 4), (2, 6, 5, 7)],
        ),  # dw: sum over n, i, j
        ("ni,ni->n", [(5, 3), (5, 3)]),  # an axis in both and the output: einsum
    ],
)
def test_contract_equals_einsum_across_block_boundaries(monkeypatch, spec, shapes):
    from nnmath import kernels

    rng = np.random.default_rng(7)
    a, b = (rng.standard_normal(s) for s in shapes)
    b = b[..., ::-1]  # a non-contiguous view, like a window
    monkeypatch.setattr(kernels, "GEMM_BLOCK_BYTES", 200)  # many blocks, a ragged last
    got = kernels.contract(spec, a, b)
    np.testing.assert_allclose(got, np.einsum(spec, a, b), rtol=1e-12, atol=1e-12)
    f32 = kernels.contract(spec, a.astype(np.float32), b.astype(np.float32))
    assert f32.dtype == np.float32
    # a bias (the last output axis) is added inside the blocks, broadcast as NumPy would
    bias = rng.standard_normal(got.shape[-1])
    np.testing.assert_allclose(
        kernels.contract(spec, a, b, add=bias),
        np.einsum(spec, a, b) + bias,
        rtol=1e-12,
        atol=1e-12,
    )
    column = rng.standard_normal(got.shape[:1] + (1,) * (got.ndim - 1))
    np.testing.assert_allclose(
        kernels.contract(spec, a, b, add=column),
        np.einsum(spec, a, b) + column,
        rtol=1e-12,
        atol=1e-12,
    )


def _delta_kernel(kh: int, kw: int) -> np.ndarray:
    """A kernel that copies the input under its top-left tap."""
    w = np.zeros((kh, kw, 1, 1))
    w[0, 0] = 1.0
    return w


def test_same_padding_puts_the_extra_row_at_the_bottom():
    # H = 6, stride 2, 3x3 kernel: TF pads 1 row in total, so 0 on top and 1 below;
    # the top-left tap of output row i then reads input row 2i (not 2i - 1)
    f = formula("conv2d", stride=2, padding="same", bias=False)
    x = np.arange(36.0).reshape(1, 6, 6, 1)
    y = f.numpy(x=x, w=_delta_kernel(3, 3))
    np.testing.assert_array_equal(y, x[:, ::2, ::2, :])
    assert (
        f.complete_sizes({"N": 1, "H": 6, "W": 6, "C": 1, "KH": 3, "KW": 3, "O": 1})[
            "P_t"
        ]
        == 0
    )


def test_same_padding_with_an_even_total_is_symmetric():
    # H = 5, stride 1, 3x3: 2 rows in total, one on each side
    f = formula("conv2d", padding="same", bias=False)
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    y = f.numpy(x=x, w=_delta_kernel(3, 3))
    assert y.shape == x.shape
    np.testing.assert_array_equal(y[0, 1:, 1:, 0], x[0, :-1, :-1, 0])
    np.testing.assert_array_equal(y[0, 0, :, 0], 0.0)  # the padded row above


def test_dilation_spreads_the_kernel_taps():
    f = formula("conv2d", dilation=2, bias=False)
    x = np.arange(49.0).reshape(1, 7, 7, 1)
    w = np.zeros((2, 2, 1, 1))
    w[1, 1] = 1.0  # the bottom-right tap sits 2 rows and 2 columns down
    y = f.numpy(x=x, w=w)
    assert y.shape == (1, 5, 5, 1)
    np.testing.assert_array_equal(y, x[:, 2:, 2:, :])


def test_convolution_is_cross_correlation_not_flipped():
    x = np.arange(9.0).reshape(1, 3, 3, 1)
    w = np.arange(1.0, 5.0).reshape(2, 2, 1, 1)  # [[1, 2], [3, 4]]
    y = formula("conv2d", bias=False).numpy(x=x, w=w)
    # top-left output: 0·1 + 1·2 + 3·3 + 4·4 (a flipped kernel would give 0·4 + … = 7)
    assert y[0, 0, 0, 0] == 0 * 1 + 1 * 2 + 3 * 3 + 4 * 4


def test_padded_cells_never_win_a_max():
    x = -1.0 - np.arange(16.0).reshape(1, 4, 4, 1)  # all negative: a zero pad would win
    y = formula("max_pool2d", pool_size=3, stride=2, padding="same").numpy(x=x)
    assert y.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(y[0, :, :, 0], [[-1.0, -3.0], [-9.0, -11.0]])


def test_padded_cells_never_count_in_an_average():
    y = formula("avg_pool2d", pool_size=3, stride=2, padding="same").numpy(
        x=np.ones((2, 5, 4, 3))
    )
    np.testing.assert_array_equal(y, 1.0)  # zeros counted would pull edges below 1


def test_flatten_is_numpys_row_major_reshape():
    x = np.arange(24.0).reshape(2, 2, 3, 2)
    f = formula("flatten")
    np.testing.assert_array_equal(f.numpy(x=x), x.reshape(2, 12))
    assert f.source.strip().endswith("return x.reshape(x.shape[0], F)")
    # -1 could not be inferred for an empty batch: "cannot reshape array of size 0"
    assert f.numpy(x=np.ones((0, 2, 3, 2))).shape == (0, 12)


def test_integer_and_pair_parameters_are_one_formula():
    a = formula("conv2d", stride=2, dilation=1)
    b = formula("conv2d", stride=(2, 2), dilation=(1, 1))
    assert a.params == b.params
    assert a.source == b.source


# -- bad input -------------------------------------------------------------------
def test_mismatched_channels_name_both_shapes():
    with pytest.raises(ShapeError, match=r"C=2.*C=3"):
        formula("conv2d").numpy(
            x=np.ones((1, 5, 5, 3)), w=np.ones((3, 3, 2, 4)), b=np.ones(4)
        )


def test_kernel_larger_than_input_under_valid_padding():
    # TensorFlow's output size is (4 − 5 + 1) / 1 = 0 here and (2 − 3 + 3) / 3 = 0
    # for the pool: an empty output, not an error (tests/test_conv_tf.py checks
    # both against TensorFlow); it raises once the overhang reaches 2·stride
    y = formula("conv2d", dilation=2).numpy(
        x=np.ones((1, 4, 4, 1)), w=np.ones((3, 3, 1, 1)), b=np.ones(1)
    )
    assert y.shape == (1, 0, 0, 1)
    assert formula("max_pool2d", pool_size=3).numpy(x=np.ones((1, 2, 2, 1))).shape == (
        1,
        0,
        0,
        1,
    )
    with pytest.raises(ValueError, match=r"5×5 window .* 2×2 input .*valid: .*'same'"):
        formula("conv2d", dilation=2).numpy(
            x=np.ones((1, 2, 2, 1)), w=np.ones((3, 3, 1, 1)), b=np.ones(1)
        )
    with pytest.raises(ValueError, match="3×3 window"):
        formula("max_pool2d", pool_size=3, stride=1).numpy(x=np.ones((1, 1, 2, 1)))


@pytest.mark.parametrize("name", ["conv2d", "max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize("stride", [0, 1.5, (2, 0), (1, 1, 1), True, {}])
def test_bad_stride_names_the_valid_values(name, stride):
    with pytest.raises(ValueError, match=r"stride=.* is not valid; valid: .*1, 2"):
        formula(name, stride=stride)


def test_unknown_padding_lists_the_choices():
    with pytest.raises(
        ValueError, match=r"padding='full' is not valid; valid: valid, same, "
    ):
        formula("conv2d", padding="full")
    # pooling takes explicit pads now, as tf.nn.max_pool2d does, each smaller than
    # the window (a window of padding alone would have nothing to pool)
    with pytest.raises(
        ValueError, match=r"left padding 2 is not smaller than the pool's 2 columns"
    ):
        formula("avg_pool2d", padding=((1, 1), (2, 1)))
    with pytest.raises(ValueError, match=r"pads the batch or the channels"):
        formula("max_pool2d", padding=[[0, 0], [1, 1], [1, 1], [0, 1]])


# -- gradients: proved, and wrong ones caught ---------------------------------------
def _mutant(name, rhs):
    return dataclasses.replace(claim(name), rhs=rhs)


def _failed_methods(c):
    return {r.method for r in verify([], [c], oracle=False) if not r.passed}


def test_every_gradient_the_issue_names_is_registered():
    assert {
        "conv2d/dx",
        "conv2d/dw",
        "conv2d/db",
        "max_pool2d/dx",
        "avg_pool2d/dx",
        "flatten/dx",
    } <= set(claim_names())


def test_variants_cover_stride_odd_same_padding_dilation_and_channels():
    params = [claim(n).formula.params for n in claim_names() if n.startswith("conv2d/")]
    assert any(p["stride"] == (2, 2) and p["padding"] == "same" for p in params)
    assert any(p["dilation"] == (2, 2) for p in params)
    assert any(not isinstance(p["padding"], str) for p in params)
    c = claim("conv2d/dx.strided")
    sizes = c.formula.complete_sizes(c.sizes)
    assert sizes["P_t"] == 0 and c.sizes["C"] > 1  # an odd total: the extra row below


def test_unflipped_kernel_is_caught():
    c = claim("conv2d/dx")
    flipped = c.rhs.atoms(sp.Indexed)
    (w_read,) = [r for r in flipped if str(r.base) == "w"]
    p_, q_, c_, o_ = sp.symbols("p q c o", integer=True, nonnegative=True)
    bad = _mutant(c.name, c.rhs.xreplace({w_read: sp.IndexedBase("w")[p_, q_, c_, o_]}))
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_upstream_not_dilated_for_stride_two_is_caught():
    c = claim("conv2d/dx.strided")
    (g_read,) = [r for r in c.rhs.atoms(sp.Indexed) if str(r.base) == "g"]
    # g[(u + P - (KH - 1 - p))/2] read as g[u + P - (KH - 1 - p)]: no zeros between
    undilated = g_read.base[
        tuple(sp.fraction(sp.together(sp.expand(i)))[0] for i in g_read.indices)
    ]
    bad = _mutant(c.name, c.rhs.xreplace({g_read: undilated}))
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_max_pool_gradient_to_every_cell_is_caught():
    c = claim("max_pool2d/dx")
    # (SymPy folds g·[cell is the argmax] into Piecewise((g, cell is the argmax), …))
    bad = _mutant(c.name, c.rhs.replace(sp.Piecewise, lambda routed, *_: routed.expr))
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_average_over_padded_cells_is_caught():
    c = claim("avg_pool2d/dx.same")  # 3x3 windows: dividing by 9 counts the padding
    bad = _mutant(
        c.name,
        c.rhs.replace(
            lambda e: isinstance(e, sp.Sum) and e.has(present), lambda e: sp.Integer(9)
        ),
    )
    assert {"symbolic", "finite-differences"} <= _failed_methods(bad)


def test_weight_gradient_without_the_stride_is_caught():
    c = claim("conv2d/dw.strided")
    (x_read,) = [r for r in c.rhs.atoms(sp.Indexed) if str(r.base) == "x"]
    i_ = sp.Symbol("i", integer=True, nonnegative=True)
    j_ = sp.Symbol("j", integer=True, nonnegative=True)
    unstrided = x_read.xreplace({i_: i_ / 2, j_: j_ / 2})  # s·i + p became i + p
    bad = _mutant(c.name, c.rhs.xreplace({x_read: unstrided}))
    assert "symbolic" in _failed_methods(bad)


# -- the lowering's window helpers against plain indexing ---------------------------
def test_window_reads_affine_indices_with_padding_flips_and_dilation():
    a = np.arange(1.0, 8.0)  # 7 cells
    # a[2i + p - 1], i < 3, p < 3: the first read (i = p = 0) is the padded a[-1]
    got = window(a, (0, (2, 1), (3, 3), -1))
    want = [
        [a[2 * i + p - 1] if 0 <= 2 * i + p - 1 < 7 else 0.0 for p in range(3)]
        for i in range(3)
    ]
    np.testing.assert_array_equal(got, want)
    # a[6 - p]: a negative step reads backwards
    np.testing.assert_array_equal(window(a, (0, (-1,), (7,), 6)), a[::-1])
    # a[(u - p) / 2]: present only where 2 divides u - p
    got = window(a, (0, (1, -1), (5, 2), 0, 2), fill=-np.inf)
    want = [
        [a[(u - p) // 2] if (u - p) % 2 == 0 and u >= p else -np.inf for p in range(2)]
        for u in range(5)
    ]
    np.testing.assert_array_equal(got, want)


def test_window_is_a_view_when_nothing_is_padded():
    x = np.arange(24.0).reshape(2, 12)
    assert np.shares_memory(window(x, (1, (2, 1), (5, 2), 0)), x)


def test_reduce_window_equals_numpy_reductions():
    v = np.random.default_rng(0).normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(
        reduce_window(v, (1, 3), np.maximum), v.max(axis=(1, 3))
    )
    np.testing.assert_allclose(
        reduce_window(v, (2,), np.add), v.sum(axis=2), rtol=1e-15
    )


def test_window_reads_several_axes_with_one_padded_copy():
    # 'same' padding on both axes: one (H + 2)·(W + 2) copy under the view, not a
    # copy of the width-windowed view (which would hold KW times the input)
    x = np.random.default_rng(1).normal(size=(2, 5, 6, 3))
    v = window(x, (1, (1, 1), (5, 3), -1), (2, (1, 1), (6, 3), -1))
    assert v.shape == (2, 5, 3, 6, 3, 3)
    span = sum((n - 1) * s for n, s in zip(v.shape, v.strides)) + v.itemsize
    assert span == 2 * 7 * 8 * 3 * x.itemsize
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    for i, p, j, q in np.ndindex(5, 3, 6, 3):
        np.testing.assert_array_equal(v[:, i, p, j, q], padded[:, i + p, j + q])
    # dilation on one axis and padding on another, in the same call:
    # x[(u - p)/2, j + q - 1]
    d = window(x, (1, (1, -1), (5, 2), 0, 2), (2, (1, 1), (6, 3), -1), fill=-np.inf)
    for u, p, j, q in np.ndindex(5, 2, 6, 3):
        row, col = (u - p) // 2, j + q - 1
        inside = (u - p) % 2 == 0 and 0 <= row < 5 and 0 <= col < 6
        want = x[:, row, col] if inside else np.full((2, 3), -np.inf)
        np.testing.assert_array_equal(d[:, u, p, j, q], want)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize(
    "params",
    [
        {"padding": "same"},
        {"padding": "valid"},
        {"padding": ((2, 0), (1, 3)), "dilation": (1, 2)},
    ],
)
def test_stride_one_conv2d_multiplies_shifted_rows_of_the_input(
    monkeypatch, dtype, rtol, params
):
    """The zero-copy path (one GEMM per kernel tap on a row range of x, β = 1)
    equals einsum on the same window, across row blocks, with a bias."""
    from nnmath import kernels

    calls = shifted_calls(monkeypatch)
    monkeypatch.setattr(kernels, "GEMM_BLOCK_BYTES", 300)  # many blocks, a ragged last
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 9, 11, 4)).astype(dtype)
    w = rng.normal(size=(3, 2, 4, 5)).astype(dtype)
    b = rng.normal(size=5).astype(dtype)
    f = formula("conv2d", **params)
    got = f.numpy(x=x, w=w, b=b)
    assert calls, "the shifted-row path was not taken"
    want = loop_oracle(f)(x=x.astype(float), w=w.astype(float), b=b.astype(float))
    assert got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol)


def test_a_small_stride_one_conv2d_takes_im2col_and_a_large_one_shifted_rows(
    monkeypatch,
):
    """Below SHIFT_MIN_MACS a tap's GEMM costs more in calls than the copy it
    saves (a finite difference calls conv2d on 8×11 inputs hundreds of times):
    the same numbers by im2col."""
    from nnmath import kernels

    calls = []
    real = kernels._shifted_gemm
    monkeypatch.setattr(
        kernels, "_shifted_gemm", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    rng = np.random.default_rng(6)
    f = formula("conv2d")
    small = {"x": rng.normal(size=(1, 8, 11, 2)), "w": rng.normal(size=(5, 3, 2, 7))}
    small["b"] = rng.normal(size=7)
    want = loop_oracle(f)(**small)
    np.testing.assert_allclose(f.numpy(**small), want, rtol=1e-12, atol=1e-12)
    assert not calls
    x, w = rng.normal(size=(8, 28, 28, 16)), rng.normal(size=(3, 3, 16, 32))
    f.numpy(x=x, w=w, b=rng.normal(size=32))
    assert calls, "a layer-sized conv2d no longer multiplies shifted rows"


def test_shifted_rows_leave_strided_flipped_and_integer_windows_to_im2col():
    from nnmath.kernels import _shifted_rows

    x = np.random.default_rng(0).normal(size=(2, 12, 12, 4))
    order = (0, 1, 3, 2, 4, 5)  # as contract puts it: free n, i, j, then summed p, q, c
    same = window(x, (1, (1, 1), (12, 3), -1), (2, (1, 1), (12, 3), -1)).transpose(
        order
    )
    assert _shifted_rows(same, 3) is not None
    # stride 2 would compute 4 rows per row kept
    strided = window(x, (1, (2, 1), (6, 3), -1), (2, (2, 1), (6, 3), -1)).transpose(
        order
    )
    assert _shifted_rows(strided, 3) is None
    flipped = window(x, (1, (1, -1), (10, 3), 2), (2, (1, 1), (10, 3), 0)).transpose(
        order
    )
    assert _shifted_rows(flipped, 3) is None
    assert _shifted_rows(same.astype(np.int64), 3) is None


@pytest.mark.parametrize(
    "small_dtype, add",
    [
        (np.complex128, None),  # looked BLAS up for complex128 first: KeyError
        (np.float32, np.ones(2)),  # a float64 bias makes the product float64
    ],
)
def test_mixed_dtypes_take_the_im2col_path(monkeypatch, small_dtype, add):
    from nnmath import kernels

    calls = shifted_calls(monkeypatch)
    x = np.random.default_rng(4).normal(size=(2, 12, 12, 3)).astype(np.float32)
    w = np.random.default_rng(5).normal(size=(3, 3, 3, 2)).astype(small_dtype)
    if small_dtype is np.complex128:
        w = w + 1j
    v = window(x, (1, (1, 1), (10, 3), 0), (2, (1, 1), (10, 3), 0))
    spec = "pqco,nipjqc->nijo"
    want = np.einsum(spec, w, v) + (0 if add is None else add)
    got = kernels.contract(spec, w, v, add=add)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not calls


def test_conv2d_gemm_is_numpys_own_blas(monkeypatch):
    """The β = 1 GEMM is NumPy's own OpenBLAS (a second BLAS's spinning threads
    slowed NumPy's matmul 2–4× here); without one, conv2d still runs, by im2col."""
    import glob
    import os

    from nnmath import kernels

    wheel = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    if glob.glob(os.path.join(wheel, "*openblas*")):
        assert kernels._numpy_blas_gemm(np.float32) is not None
        assert kernels._numpy_blas_gemm(np.float64) is not None
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(2, 6, 6, 3)), rng.normal(size=(3, 3, 3, 2))
    f = formula("conv2d", padding="same", bias=False)
    want = loop_oracle(f)(x=x, w=w)
    calls = shifted_calls(monkeypatch)
    monkeypatch.setattr(kernels, "_numpy_blas_gemm", lambda dtype: None)
    np.testing.assert_allclose(f.numpy(x=x, w=w), want, rtol=1e-12, atol=1e-12)
    assert not calls


@pytest.mark.parametrize("ufunc", [np.maximum, np.add])
def test_reduce_window_in_threads_equals_one_thread(monkeypatch, ufunc):
    from nnmath import kernels

    x = np.random.default_rng(2).normal(size=(7, 10, 10, 3))
    v = window(x, (1, (2, 1), (5, 2), 0), (2, (2, 1), (5, 2), 0))
    monkeypatch.setattr(kernels, "THREAD_BYTES", 1 << 40)
    alone = reduce_window(v, (2, 4), ufunc)
    monkeypatch.setattr(kernels, "THREAD_BYTES", 64)  # 7 rows over every core
    assert kernels._threads()[0] >= 1
    np.testing.assert_array_equal(reduce_window(v, (2, 4), ufunc), alone)
    np.testing.assert_array_equal(
        alone,
        (
            x.reshape(7, 5, 2, 5, 2, 3).max(axis=(2, 4))
            if ufunc is np.maximum
            else x.reshape(7, 5, 2, 5, 2, 3).sum(axis=(2, 4))
        ),
    )
