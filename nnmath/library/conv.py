"""Convolution, pooling and flattening, exactly as TensorFlow computes them.

Images are NHWC (batch, height, width, channels) and kernels HWIO (height,
width, in-channels, out-channels).  Every formula reads its input at an affine
index such as ``x[n, s·i + d·p − P_t, …]``; a read outside the input is a
padded cell, which adds nothing to a sum and never wins a max (see
:mod:`nnmath.lowering`).  Output sizes and TensorFlow's 'same' padding are
derived sizes of the formula, computed from the input sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, dims, indices
from ..primitives import (
    FirstArgMax,
    Maximum,
    present,
    row_major_digits,
    row_major_index,
)
from ..registry import formula, register, register_claims

n, i, j, c, o, p, q, k, u, v = indices("n i j c o p q k u v")
p2, q2 = sp.symbols("p' q'", integer=True, nonnegative=True)
N, H, W, C, KH, KW, O = dims("N H W C KH KW O")
Ho, Wo, F = dims("Ho Wo F")
PADDINGS = ("valid", "same", "((top, bottom), (left, right))")

_x, _w, _b, _g = (sp.IndexedBase(s) for s in ("x", "w", "b", "g"))


# -- parameters ----------------------------------------------------------------
def _pair(name: str, value) -> tuple[int, int]:
    """An int or a pair of ints ≥ 1, as a pair (hashable, one spelling per value)."""
    try:
        pair = (value, value) if isinstance(value, int) else tuple(value)
    except TypeError:  # neither an int nor a pair, e.g. 1.5
        pair = ()
    if len(pair) != 2 or not all(isinstance(a, int) and a >= 1 for a in pair):
        raise ValueError(
            f"{name} must be a positive int or a pair of them, got {value!r}; "
            f"valid: 1, 2, … or (rows, columns)"
        )
    return pair


def _padding(value) -> str | tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, str) and value.lower() in ("valid", "same"):
        return value.lower()
    try:
        (t, b), (lft, r) = value
        if all(isinstance(a, int) and a >= 0 for a in (t, b, lft, r)):
            return (t, b), (lft, r)
    except (TypeError, ValueError):
        pass
    raise ValueError(f"unknown padding {value!r}; valid: {', '.join(PADDINGS)}")


@dataclass(frozen=True)
class _Axis:
    """One spatial axis of a window op: sizes, stride, dilation and padding."""

    size: sp.Symbol  # H or W
    out: sp.Symbol  # Ho or Wo
    kernel: sp.Expr  # KH (a dimension) or a pool size (a number)
    stride: int
    dilation: int
    padding: str | tuple[int, int]
    pad_name: str

    @property
    def span(self) -> sp.Expr:
        """Rows the dilated kernel covers."""
        return self.dilation * (self.kernel - 1) + 1

    def sizes(self) -> tuple[tuple, sp.Expr]:
        """(derived sizes, the padding before the first cell) as TensorFlow sets them.

        'same' pads so that out = ⌈size/stride⌉; an odd total puts the extra
        row at the bottom (the extra column at the right): before = ⌊total/2⌋.
        """
        if self.padding == "valid":
            return (
                (self.out, sp.floor((self.size - self.span) / self.stride) + 1),
            ), sp.Integer(0)
        if self.padding == "same":
            before = sp.Symbol(self.pad_name, integer=True, nonnegative=True)
            total = sp.Max((self.out - 1) * self.stride + self.span - self.size, 0)
            return (
                (self.out, sp.ceiling(self.size / self.stride)),
                (before, sp.floor(total / 2)),
            ), before
        lo, hi = self.padding
        return (
            (
                (
                    self.out,
                    sp.floor((self.size + lo + hi - self.span) / self.stride) + 1,
                ),
            ),
            sp.Integer(lo),
        )

    def read(self, out_index: sp.Symbol, offset: sp.Symbol) -> sp.Expr:
        """The input row a window reads: s·i + d·p − P."""
        return self.stride * out_index + self.dilation * offset - self.sizes()[1]

    def back(self, in_index: sp.Symbol, offset: sp.Expr) -> sp.Expr:
        """The output row whose window puts kernel row ``offset`` on input row u:
        (u + P − d·offset)/s — a fraction (no such window) unless s divides it.

        Kept unevaluated, so the page shows (u + P − d(K − 1 − p))/s as written.
        """
        before = self.sizes()[1]
        terms = (
            [in_index]
            + ([before] if before != 0 else [])
            + [sp.Mul(-self.dilation, offset, evaluate=False)]
        )
        row = sp.Add(*terms, evaluate=False)
        if self.stride == 1:
            return row
        return sp.Mul(row, sp.Pow(self.stride, -1, evaluate=False), evaluate=False)


def _axes(kernel: tuple, stride, dilation, padding) -> tuple[_Axis, _Axis]:
    stride, dilation, padding = (
        _pair("stride", stride),
        _pair("dilation", dilation),
        _padding(padding),
    )
    pads = (padding, padding) if isinstance(padding, str) else padding
    return (
        _Axis(H, Ho, kernel[0], stride[0], dilation[0], pads[0], "P_t"),
        _Axis(W, Wo, kernel[1], stride[1], dilation[1], pads[1], "P_l"),
    )


def _derived(rows: _Axis, cols: _Axis) -> tuple:
    return rows.sizes()[0] + cols.sizes()[0]


def _tf_padding(padding) -> str:
    if isinstance(padding, str):
        return repr(padding.upper())
    (t, b), (lft, r) = padding
    return f"[[0, 0], [{t}, {b}], [{lft}, {r}], [0, 0]]"


@dataclass(frozen=True)
class _WindowFits:
    """Formula.check_sizes: the (dilated, padded) window must fit the input.

    A dataclass, not a closure, so that a formula's fingerprint is the same in
    every process."""

    op: str
    rows: _Axis
    cols: _Axis
    kernel_names: tuple[str, str] | None = None  # None: the pool size is the kernel

    def __call__(self, sizes: dict) -> None:
        if sizes["Ho"] >= 1 and sizes["Wo"] >= 1:
            return
        kh, kw = (
            (sizes[a] for a in self.kernel_names)
            if self.kernel_names
            else (self.rows.kernel, self.cols.kernel)
        )
        span = (self.rows.dilation * (kh - 1) + 1, self.cols.dilation * (kw - 1) + 1)
        raise ValueError(
            f"{self.op}: the {span[0]}×{span[1]} window (dilation included) is larger than "
            f"the {sizes['H']}×{sizes['W']} input under padding {self.rows.padding!r}; "
            "valid: a window no larger than the padded input, or padding='same'"
        )


def _cases(*sizes: dict) -> tuple:
    return tuple((", ".join(f"{d}={s}" for d, s in sz.items()), sz) for sz in sizes)


# -- formulas ------------------------------------------------------------------
_CONV_NOTES = (
    "This is cross-correlation, which is what tf.nn.conv2d computes: the kernel slides "
    "over the input unflipped. Mathematical convolution flips the kernel first, "
    "(x * w)[i] = Σ_p x[i − p] w[p]; the two differ only by reversing w, and a learned "
    "kernel does not care. Many tutorials print the flipped form, or index x[i + p] "
    "without the stride, dilation and padding terms; with stride s, dilation d and "
    "TensorFlow's padding P the read is x[s·i + d·p − P]. 'same' padding pads "
    "⌊total/2⌋ rows on top and the rest at the bottom (likewise left/right), so an odd "
    "total puts the extra row at the bottom."
)


@register("conv2d")
def _conv2d(stride=1, padding="valid", dilation=1, bias: bool = True) -> Formula:
    rows, cols = _axes((KH, KW), stride, dilation, padding)
    y = sp.Sum(
        _x[n, rows.read(i, p), cols.read(j, q), c] * _w[p, q, c, o],
        (p, 0, KH - 1),
        (q, 0, KW - 1),
        (c, 0, C - 1),
    )
    inputs = (
        Input("x", ("N", "H", "W", "C"), "images, NHWC"),
        Input("w", ("KH", "KW", "C", "O"), "kernels, HWIO"),
    )
    # TensorFlow's CPU gradient of conv2d rejects dilation > 1; tf.nn.convolution
    # (which dilates by space-to-batch) has one, but takes only 'valid'/'same'
    op = (
        "tf.nn.convolution"
        if max(rows.dilation, cols.dilation) > 1 and isinstance(_padding(padding), str)
        else "tf.nn.conv2d"
    )
    tf = (
        f"{op}(x, w, strides=[{rows.stride}, {cols.stride}], "
        f"padding={_tf_padding(_padding(padding))}, "
        f"dilations=[{rows.dilation}, {cols.dilation}])"
    )
    if bias:
        y, tf = y + _b[o], tf + " + b"
        inputs += (Input("b", ("O",), "one bias per output channel"),)
    stride_, dil = (rows.stride, cols.stride), (rows.dilation, cols.dilation)
    big = max(rows.stride, rows.dilation) > 1
    return Formula(
        name="conv2d",
        title="2-D convolution (cross-correlation, as TensorFlow computes it)",
        output="y",
        indices=(n, i, j, o),
        expr=y,
        inputs=inputs,
        tf=tf,
        output_shape=("N", "Ho", "Wo", "O"),
        derived=_derived(rows, cols),
        params={
            "stride": stride_,
            "padding": _padding(padding),
            "dilation": dil,
            "bias": bool(bias),
        },
        cases=_cases(
            {"N": 2, "H": 6, "W": 5, "C": 3, "KH": 3, "KW": 2, "O": 2},
            {
                "N": 1,
                "H": 7 if big else 4,
                "W": 7 if big else 4,
                "C": 1,
                "KH": 3,
                "KW": 3,
                "O": 3,
            },
            {"N": 3, "H": 8, "W": 6, "C": 2, "KH": 2, "KW": 3, "O": 1},
        ),
        check_sizes=_WindowFits("conv2d", rows, cols, ("KH", "KW")),
        padded=("x",),  # the zero border of 'same' and explicit padding
        tf_tolerance={"float32": (1e-4, 1e-5)},
        tf_note="float32 sums up to KH·KW·C products per output",
        notes=_CONV_NOTES,
    )


def _pool(name: str, pool_size, stride, padding) -> tuple[_Axis, _Axis, dict]:
    size = _pair("pool_size", pool_size)
    padding = _padding(padding)
    if not isinstance(padding, str):  # TensorFlow's pooling takes no explicit pads
        raise ValueError(f"{name}: unknown padding {padding!r}; valid: valid, same")  # noqa: TRY004
    rows, cols = _axes(size, size if stride is None else stride, 1, padding)
    params = {
        "pool_size": size,
        "stride": (rows.stride, cols.stride),
        "padding": padding,
    }
    return rows, cols, params


def _pool_formula(name, title, expr, rows, cols, params, tf, notes) -> Formula:
    return Formula(
        name=name,
        title=title,
        output="y",
        indices=(n, i, j, c),
        expr=expr,
        inputs=(Input("x", ("N", "H", "W", "C"), "feature maps, NHWC", "distinct"),),
        tf=f"{tf}(x, ksize={list(params['pool_size'])}, strides={list(params['stride'])}, "
        f"padding={params['padding'].upper()!r})",
        output_shape=("N", "Ho", "Wo", "C"),
        derived=_derived(rows, cols),
        params=params,
        cases=_cases(
            {"N": 2, "H": 6, "W": 5, "C": 2},
            {"N": 1, "H": 4, "W": 4, "C": 3},
            {"N": 3, "H": 7, "W": 6, "C": 1},
        ),
        check_sizes=_WindowFits(name, rows, cols),
        padded=("x",),  # 'same' windows reach past the edge
        notes=notes,
    )


def _window_read(rows: _Axis, cols: _Axis, a: sp.Symbol, b: sp.Symbol):
    return _x[n, rows.read(i, a), cols.read(j, b), c]


@register("max_pool2d")
def _max_pool2d(pool_size=2, stride=None, padding="valid") -> Formula:
    rows, cols, params = _pool("max_pool2d", pool_size, stride, padding)
    expr = Maximum(
        _window_read(rows, cols, p, q), (p, 0, rows.kernel - 1), (q, 0, cols.kernel - 1)
    )
    return _pool_formula(
        "max_pool2d",
        "Max pooling",
        expr,
        rows,
        cols,
        params,
        "tf.nn.max_pool2d",
        "A padded cell is absent, never −∞ nor 0 in the output: it never wins the max, "
        "as in TensorFlow. stride defaults to pool_size.",
    )


@register("avg_pool2d")
def _avg_pool2d(pool_size=2, stride=None, padding="valid") -> Formula:
    rows, cols, params = _pool("avg_pool2d", pool_size, stride, padding)
    limits = ((p, 0, rows.kernel - 1), (q, 0, cols.kernel - 1))
    read = _window_read(rows, cols, p, q)
    expr = sp.Sum(read, *limits) / sp.Sum(present(read), *limits)
    return _pool_formula(
        "avg_pool2d",
        "Average pooling",
        expr,
        rows,
        cols,
        params,
        "tf.nn.avg_pool2d",
        "The mean is over the cells inside the input only: with 'same' padding an edge "
        "window divides by the number of real cells it covers, as TensorFlow does.",
    )


@register("flatten")
def _flatten() -> Formula:
    return Formula(
        name="flatten",
        title="Flatten feature maps into one row per sample",
        output="y",
        indices=(n, k),
        expr=_x[(n, *row_major_digits(k, (H, W, C)))],
        inputs=(Input("x", ("N", "H", "W", "C"), "feature maps, NHWC"),),
        tf="tf.reshape(x, [tf.shape(x)[0], -1])",
        output_shape=("N", "F"),
        derived=((F, H * W * C),),
        cases=_cases(
            {"N": 2, "H": 3, "W": 4, "C": 2}, {"N": 1, "H": 2, "W": 2, "C": 5}
        ),
        notes="Row-major, as NumPy and TensorFlow store NHWC: k = (h·W + w)·C + c, so "
        "the channels of one pixel are adjacent.",
    )


# -- gradients -------------------------------------------------------------------
def _conv_claims(suffix: str, params: dict, sizes: dict) -> list[Claim]:
    f = formula("conv2d", **params)
    rows, cols = _axes(
        (KH, KW), f.params["stride"], f.params["dilation"], f.params["padding"]
    )
    fp, fq = KH - 1 - p, KW - 1 - q  # the flipped kernel's rows and columns
    every_output = ((n, 0, N - 1), (i, 0, Ho - 1), (j, 0, Wo - 1))
    return [
        Claim(
            f"conv2d/dx{suffix}",
            f,
            "x",
            sp.Sum(
                _g[n, rows.back(u, fp), cols.back(v, fq), o] * _w[fp, fq, c, o],
                (p, 0, KH - 1),
                (q, 0, KW - 1),
                (o, 0, O - 1),
            ),
            "∂L/∂x is a full correlation of the upstream gradient with the flipped "
            "kernel; with stride s the upstream gradient is first dilated (s − 1 zeros "
            "between its cells: a fractional index reads nothing)",
            indices=(n, u, v, c),
            sizes=sizes,
            padded=("g",),  # the full correlation reads g past its edges
        ),
        Claim(
            f"conv2d/dw{suffix}",
            f,
            "w",
            sp.Sum(
                _x[n, rows.read(i, p), cols.read(j, q), c] * _g[n, i, j, o],
                *every_output,
            ),
            "∂L/∂w is a correlation of the input with the upstream gradient: each tap "
            "sums input × upstream over every position it touched",
            indices=(p, q, c, o),
            sizes=sizes,
        ),
        Claim(
            f"conv2d/db{suffix}",
            f,
            "b",
            sp.Sum(_g[n, i, j, o], *every_output),
            "∂L/∂b sums the upstream gradient over the batch and every position",
            indices=(o,),
            sizes=sizes,
        ),
    ]


def _pool_claim(name: str, suffix: str, params: dict, sizes: dict) -> Claim:
    """Window (i, j) = ((u + P_t − p)/s, (v + P_l − q)/s) holds input cell (u, v) at
    offset (p, q); its cells are (u − p + p', v − q + q')."""
    f = formula(name, **params)
    (kh, kw), stride = f.params["pool_size"], f.params["stride"]
    rows, cols = _axes((kh, kw), stride, 1, f.params["padding"])
    upstream = _g[n, rows.back(u, p), cols.back(v, q), c]
    cells = ((p2, 0, kh - 1), (q2, 0, kw - 1))
    cell = _x[n, u - p + p2, v - q + q2, c]
    if name == "max_pool2d":
        route = sp.Piecewise(
            (1, sp.Eq(kw * p + q, FirstArgMax(cell, *cells))), (0, True)
        )
        text = (
            "∂L/∂x routes each window's upstream gradient to its max cell; when "
            "several cells tie, to the first in row-major order, as TensorFlow does"
        )
    else:
        route = 1 / sp.Sum(present(cell), *cells)
        text = (
            "∂L/∂x spreads each window's upstream gradient evenly over the cells "
            "inside the input (padded cells get nothing)"
        )
    return Claim(
        f"{name}/dx{suffix}",
        f,
        "x",
        sp.Sum(upstream * route, (p, 0, kh - 1), (q, 0, kw - 1)),
        text,
        indices=(n, u, v, c),
        sizes=sizes,
        padded=("g",),  # windows past g's edges, or between strided cells
    )


@register_claims
def _claims() -> list[Claim]:
    """The book's CNN uses conv2d(stride=1, 'same') and 2×2 pooling; the variants
    make ``nnbook verify`` cover stride 2 with an odd 'same' total (6 rows, 3×3
    kernel: 0 rows on top, 1 below), dilation 2, explicit padding with unequal
    strides, and overlapping 'same' pooling windows."""
    small = {"N": 1, "H": 5, "W": 4, "C": 2, "KH": 3, "KW": 2, "O": 2}
    pool = {"N": 1, "H": 4, "W": 4, "C": 2}
    same_pool = {"pool_size": 3, "stride": 2, "padding": "same"}
    return [
        *_conv_claims("", {"stride": 1, "padding": "same"}, small),
        *_conv_claims(
            ".strided",
            {"stride": 2, "padding": "same"},
            {**small, "H": 6, "W": 5, "KW": 3},
        ),
        *_conv_claims(
            ".dilated",
            {"dilation": 2, "padding": "same"},
            {**small, "H": 5, "W": 5, "KH": 2, "KW": 3},
        ),
        _conv_claims(
            ".padded",
            {"stride": (2, 1), "padding": ((1, 0), (2, 1))},
            {**small, "H": 5, "W": 4},
        )[0],
        _pool_claim("max_pool2d", "", {"pool_size": 2, "stride": 2}, pool),
        _pool_claim("max_pool2d", ".same", same_pool, {**pool, "C": 1}),
        _pool_claim("avg_pool2d", "", {"pool_size": 2, "stride": 2}, pool),
        _pool_claim("avg_pool2d", ".same", same_pool, {**pool, "H": 6, "W": 5}),
        Claim(
            "flatten/dx",
            formula("flatten"),
            "x",
            _g[n, row_major_index((u, v, c), (H, W, C))],
            "∂L/∂x is the upstream gradient reshaped back to the feature maps' shape",
            indices=(n, u, v, c),
            sizes={"N": 1, "H": 2, "W": 3, "C": 2},
        ),
    ]
