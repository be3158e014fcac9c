"""Convolution, pooling and flattening, exactly as TensorFlow computes them.

Images are NHWC (batch, height, width, channels) and kernels HWIO (height,
width, in-channels, out-channels).  Every formula reads its input at an affine
index such as ``x[n, s·i + d·p − P_t, …]``; a read outside the input is a
padded cell, which adds nothing to a sum and never wins a max (see
:mod:`nnmath.lowering`).  Output sizes and TensorFlow's 'same' padding are
derived sizes of the formula, computed from the input sizes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, dims, indices
from ..params import Flag, Optional, Padding, Pair
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

_x, _w, _b, _g = (sp.IndexedBase(s) for s in ("x", "w", "b", "g"))


# -- parameters ----------------------------------------------------------------
#: each parameter's type and range (the registry checks values against these
#: before a builder runs); pooling's explicit pads must also be smaller than
#: the window, which _pool checks
PAIR, PADDING = Pair(), Padding()
_CONV = {"stride": PAIR, "padding": PADDING, "dilation": PAIR, "bias": Flag()}
_POOL = {
    "pool_size": PAIR,
    "stride": Optional(PAIR),
    "padding": PADDING,
}


def _pair(name: str, value) -> tuple[int, int]:
    """An int or a pair of ints ≥ 1, as a pair (hashable, one spelling per value)."""
    return PAIR.check(value)


def _padding(value) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """'valid', 'same' or ((top, bottom), (left, right)); TensorFlow's spelling
    [[0, 0], [top, bottom], [left, right], [0, 0]] is the same padding."""
    return PADDING.check(value)


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

    @property
    def pads(self) -> tuple[int, int]:
        """Explicit rows of padding (before, after); (0, 0) under 'valid'."""
        return self.padding if isinstance(self.padding, tuple) else (0, 0)

    def sizes(self) -> tuple[tuple, sp.Expr]:
        """(derived sizes, the padding before the first cell) as TensorFlow sets them.

        'same' pads so that out = ⌈size/stride⌉; an odd total puts the extra
        row at the bottom (the extra column at the right): before = ⌊total/2⌋.
        Otherwise out counts the windows that fit, ⌊(size + pads − span)/stride⌋
        + 1, and 0 when none does (TensorFlow's empty output; where it raises
        instead, see :class:`_WindowFits`).
        """
        if self.padding != "same":
            lo, hi = self.pads
            fit = sp.floor((self.size + lo + hi - self.span) / self.stride) + 1
            # unevaluated: SymPy would drop the max wherever fit ≥ 0 for every
            # size ≥ 1, as its dimension symbols say, but a size may be 0
            return ((self.out, sp.Max(0, fit, evaluate=False)),), sp.Integer(lo)
        before = sp.Symbol(self.pad_name, integer=True, nonnegative=True)
        total = sp.Max((self.out - 1) * self.stride + self.span - self.size, 0)
        return (
            (self.out, sp.ceiling(self.size / self.stride)),
            (before, sp.floor(total / 2)),
        ), before

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


def _conv_tf(rows: _Axis, cols: _Axis, padding) -> str:
    """The TensorFlow reference.  TensorFlow's CPU gradient of conv2d rejects
    dilation > 1; tf.nn.convolution (which dilates by space-to-batch) has one,
    but takes neither explicit pads (so the input is zero-padded first, which
    is what explicit padding means) nor a stride with a dilation: there only
    the forward tf.nn.conv2d exists on the CPU."""
    strides = f"strides=[{rows.stride}, {cols.stride}]"
    dilations = f"dilations=[{rows.dilation}, {cols.dilation}]"
    if max(rows.dilation, cols.dilation) == 1 or max(rows.stride, cols.stride) > 1:
        padding_ = _tf_padding(padding)
        return f"tf.nn.conv2d(x, w, {strides}, padding={padding_}, {dilations})"
    if isinstance(padding, str):
        padding_ = repr(padding.upper())
        return f"tf.nn.convolution(x, w, {strides}, padding={padding_}, {dilations})"
    return (
        f"tf.nn.convolution(tf.pad(x, {_tf_padding(padding)}), w, {strides}, "
        f"padding='VALID', {dilations})"
    )


def _tf_padding(padding) -> str:
    if isinstance(padding, str):
        return repr(padding.upper())
    (t, b), (lft, r) = padding
    return f"[[0, 0], [{t}, {b}], [{lft}, {r}], [0, 0]]"


@dataclass(frozen=True)
class _WindowFits:
    """Formula.check_sizes: the sizes TensorFlow rejects.

    TensorFlow computes an output size as (size + pads − span + stride) / stride
    in C's integer division, which truncates towards 0, and raises when that is
    negative.  So a window that overhangs the padded input gives an empty output
    while the overhang is under 2·stride rows, and an error from there on; the
    derived size max(0, ⌊(size + pads − span)/stride⌋ + 1) is TensorFlow's
    wherever TensorFlow accepts the sizes.  conv2d also rejects a kernel without
    taps or input channels.

    A dataclass, not a closure, so that a formula's fingerprint is the same in
    every process."""

    op: str
    rows: _Axis
    cols: _Axis
    kernel_names: tuple[str, str] | None = None  # None: the pool size is the kernel
    padding: object = "valid"  # as the formula's parameter, for messages

    def __call__(self, sizes: dict) -> None:
        kernel = (*self.kernel_names, "C") if self.kernel_names else ()
        if sizes["Ho"] and sizes["Wo"] and all(sizes[d] for d in kernel):
            return  # at least one window, a kernel with taps: TensorFlow accepts
        if self.kernel_names:
            empty = [d for d in (*self.kernel_names, "C") if sizes[d] == 0]
            if empty:
                raise ValueError(
                    f"{self.op}: the kernel w has "
                    f"{', '.join(f'{d}=0' for d in empty)}; "
                    "TensorFlow rejects a kernel without taps or input channels; "
                    "valid: KH, KW and C of at least 1"
                )
        kh, kw = (
            (sizes[a] for a in self.kernel_names)
            if self.kernel_names
            else (self.rows.kernel, self.cols.kernel)
        )
        span = (self.rows.dilation * (kh - 1) + 1, self.cols.dilation * (kw - 1) + 1)
        axes = zip((self.rows, self.cols), span, (sizes["H"], sizes["W"]))
        if all(
            a.padding == "same" or extent < size + sum(a.pads) + 2 * a.stride
            for a, extent, size in axes
        ):
            return
        raise ValueError(
            f"{self.op}: the {span[0]}×{span[1]} window (dilation included) is larger "
            f"than the {sizes['H']}×{sizes['W']} input under padding {self.padding!r} "
            f"by 2·stride (stride {self.rows.stride}×{self.cols.stride}) or more, "
            "where "
            "TensorFlow's output size is negative; valid: a window that overhangs the "
            "padded input by less than 2·stride (a smaller overhang gives an empty "
            "output), or padding='same'"
        )


def _cases(*sizes: dict) -> tuple:
    return tuple((", ".join(f"{d}={s}" for d, s in sz.items()), sz) for sz in sizes)


def tells_apart(sizes: dict) -> bool:
    """No two dimensions of the same size, and none the product or the square of
    others: a test at these sizes can tell every dimension from every other."""
    values = list(sizes.values())
    if len(set(values)) < len(values):
        return False
    present = set(values)
    return not any(
        a * b in present and a * b not in (a, b)
        for k, a in enumerate(values)
        for b in values[k:]
    )


def _with_distinct_sizes(f: Formula, *fixed: dict) -> Formula:
    """``f`` with one test case per ``fixed`` (N, C, kernel sizes), H and W
    chosen for it: the smallest that give at least 2 output rows and columns with
    every dimension, Ho and Wo included, told apart, while H + W ≤ 24; where Ho
    and Wo cannot be within that (Ho = H under stride-1 'same', or large strides
    and dilations), the input dimensions alone."""

    def first(with_outputs: bool, most: int) -> dict | None:
        for total in range(4, most + 1):
            for h in range(2, total - 1):
                sizes = {**dims_, "H": h, "W": total - h}
                try:
                    full = f.complete_sizes(sizes)
                except ValueError:
                    continue
                outputs = {"Ho": full["Ho"], "Wo": full["Wo"]} if with_outputs else {}
                told = tells_apart({**sizes, **outputs})
                if min(full["Ho"], full["Wo"]) >= 2 and told:
                    return {"N": sizes.pop("N"), "H": h, "W": total - h, **sizes}
        return None

    cases = []
    for dims_ in fixed:
        found = first(True, 24) or first(False, 1000)
        if found is None:  # pragma: no cover - the library's parameters all fit
            raise ValueError(f"{f.name}: no test sizes tell {dims_} apart")
        cases.append(found)
    return dataclasses.replace(f, cases=_cases(*cases) + _empty_cases(f, cases))


def _empty_cases(f: Formula, cases: list[dict]) -> tuple:
    """Empty tensors, as TensorFlow takes them: a batch of 0, no (output)
    channels, and an output of size 0 (a window overhanging the input by less
    than 2·stride, or an input of height or width 0), each a case's dimensions
    still told apart."""
    sizes = cases[0]
    channels = "O" if "O" in sizes else "C"
    empty = [
        ("a batch of 0", {**sizes, "N": 0}),
        (
            "no output channels" if channels == "O" else "no channels",
            {**sizes, channels: 0},
        ),
    ]
    # an overhang first (conv2d may take another kernel size for it), else an
    # empty input
    tries = (  # lazily: the first that fits ends the search
        {**base, axis: size, **({kernel: k} if kernel in base else {})}
        for empty_input in (False, True)
        for base in cases
        for axis, kernel in (("H", "KH"), ("W", "KW"))
        for k in (range(1, 13) if kernel in base else [None])
        for size in ([0] if empty_input else range(1, 40))
    )
    for candidate in tries:
        if not tells_apart(candidate):
            continue
        try:
            full = f.complete_sizes(candidate)
        except ValueError:  # TensorFlow rejects it: not an empty output
            continue
        if full["Ho"] * full["Wo"] == 0:
            what = ", ".join(
                f"{d}={candidate[d]}"
                for d in ("H", "W", "KH", "KW")
                if d in candidate and candidate[d] != sizes.get(d)
            )
            empty.append((f"an output of size 0 ({what})", candidate))
            break
    return tuple(empty)


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


@register("conv2d", params=_CONV)
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
    tf = _conv_tf(rows, cols, _padding(padding))
    if bias:
        y, tf = y + _b[o], tf + " + b"
        inputs += (Input("b", ("O",), "one bias per output channel"),)
    stride_, dil = (rows.stride, cols.stride), (rows.dilation, cols.dilation)
    f = Formula(
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
        check_sizes=_WindowFits("conv2d", rows, cols, ("KH", "KW"), _padding(padding)),
        padded=("x",),  # the zero border of 'same' and explicit padding
        tf_tolerance={"float32": (1e-4, 1e-5)},
        tf_note="float32 sums up to KH·KW·C products per output",
        notes=_CONV_NOTES,
    )
    # batches of 2, 1 and 3; 3×5, 5×3 and 2×5 kernels
    return _with_distinct_sizes(
        f,
        {"N": 2, "C": 1, "KH": 3, "KW": 5, "O": 7},
        {"N": 1, "C": 2, "KH": 5, "KW": 3, "O": 7},
        {"N": 3, "C": 1, "KH": 2, "KW": 5, "O": 7},
    )


def _pool(name: str, pool_size, stride, padding) -> tuple[_Axis, _Axis, dict]:
    size = _pair("pool_size", pool_size)
    padding = _padding(padding)
    if not isinstance(padding, str):
        # TensorFlow's max_pool2d: a pad as large as the window would make a
        # window of padding alone, with nothing to take the max (or mean) of
        (t, b), (lft, r) = padding
        sides = (("top", t, 0), ("bottom", b, 0), ("left", lft, 1), ("right", r, 1))
        for side, pad, axis in sides:
            if pad >= size[axis]:
                raise ValueError(
                    f"{name}: {side} padding {pad} is not smaller than the pool's "
                    f"{size[axis]} {('rows', 'columns')[axis]}, as TensorFlow "
                    "requires; "
                    f"valid: top and bottom below {size[0]}, left and right below "
                    f"{size[1]}"
                )
    rows, cols = _axes(size, size if stride is None else stride, 1, padding)
    params = {
        "pool_size": size,
        "stride": (rows.stride, cols.stride),
        "padding": padding,
    }
    return rows, cols, params


def _pool_tf(op: str, params: dict) -> str:
    """The TensorFlow reference.  tf.nn.avg_pool2d takes no explicit padding:
    its mean over the cells inside the input is then the window sums of the
    zero-padded input over the window sums of zero-padded ones (all 'VALID')."""
    window = f"ksize={list(params['pool_size'])}, strides={list(params['stride'])}"
    padding = params["padding"]
    if isinstance(padding, str):
        return f"{op}(x, {window}, padding={padding.upper()!r})"
    if op == "tf.nn.max_pool2d":
        return f"{op}(x, {window}, padding={_tf_padding(padding)})"
    pads = _tf_padding(padding)
    return (
        f"{op}(tf.pad(x, {pads}), {window}, padding='VALID') / "
        f"{op}(tf.pad(tf.ones_like(x), {pads}), {window}, padding='VALID')"
    )


def _pool_formula(name, title, expr, rows, cols, params, tf, notes) -> Formula:
    f = Formula(
        name=name,
        title=title,
        output="y",
        indices=(n, i, j, c),
        expr=expr,
        inputs=(Input("x", ("N", "H", "W", "C"), "feature maps, NHWC", "distinct"),),
        tf=_pool_tf(tf, params),
        output_shape=("N", "Ho", "Wo", "C"),
        derived=_derived(rows, cols),
        params=params,
        check_sizes=_WindowFits(name, rows, cols, padding=params["padding"]),
        padded=("x",),  # 'same' and explicit windows reach past the edge
        notes=notes,
    )
    return _with_distinct_sizes(f, {"N": 2, "C": 3}, {"N": 1, "C": 2}, {"N": 3, "C": 1})


def _window_read(rows: _Axis, cols: _Axis, a: sp.Symbol, b: sp.Symbol):
    return _x[n, rows.read(i, a), cols.read(j, b), c]


@register("max_pool2d", params=_POOL)
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
        "as in TensorFlow. stride defaults to pool_size. Explicit padding is taken as "
        "tf.nn.max_pool2d takes it, each pad smaller than the window.",
    )


@register("avg_pool2d", params=_POOL)
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
        "window divides by the number of real cells it covers, as TensorFlow does. "
        "Explicit pads (each smaller than the window, as for max_pool2d) are left out "
        "of the mean the same way; tf.nn.avg_pool2d takes none, so the reference "
        "divides TensorFlow's window sums of the zero-padded input by those of ones.",
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
            {"N": 2, "H": 3, "W": 5, "C": 7}, {"N": 1, "H": 2, "W": 5, "C": 3}
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


def gradient_claims(name: str, **params) -> list[Claim]:
    """The gradient claims of conv2d, max_pool2d or avg_pool2d at any
    parameterisation (e.g. ``gradient_claims("conv2d", stride=3)``), unregistered:
    for checking the book's rules where ``nnbook verify`` does not go."""
    if name == "conv2d":
        return _conv_claims("", params, {})
    if name in ("max_pool2d", "avg_pool2d"):
        return [_pool_claim(name, "", params, {})]
    raise ValueError(
        f"no gradient claims for {name!r}; valid: conv2d, max_pool2d, avg_pool2d"
    )


@register_claims
def _claims() -> list[Claim]:
    """The book's CNN uses conv2d(stride=1, 'same') and 2×2 pooling.  The variants
    make ``nnbook verify`` cover stride 2 with an odd 'same' total (6 rows, 3×3
    kernel: 0 rows on top, 1 below), dilation 2, stride 3 with explicit padding
    (a stride whose output sizes floats got wrong), overlapping 'same' pooling
    windows, and pooling with explicit padding and a stride of 3 over 2-row
    windows (rows that no window reads).

    Every instance gives each tensor's axes different sizes, none the product or
    the square of another on that tensor (x, w and the upstream gradient g),
    which is what tells a wrong index, bound or reshape apart; across tensors a
    size may repeat (e.g. KH = H = 3): telling all seven conv2d dimensions apart
    at once needs sizes like N=1, H=8, W=11, C=5, KH=3, KW=2, O=7, whose three
    proofs took 316 s against 4.3 s.  A max-pooling proof costs about 0.1 s per
    cell of x (8–13 s each here), so its channels, independent of each other,
    are what grows to keep g's axes apart from x's."""
    same_pool = {"pool_size": 3, "stride": 2, "padding": "same"}
    padded_pool = {"pool_size": (2, 3), "stride": (3, 1), "padding": ((1, 0), (0, 2))}
    return [
        *_conv_claims(
            "",
            {"stride": 1, "padding": "same"},
            {"N": 2, "H": 7, "W": 3, "C": 1, "KH": 3, "KW": 2, "O": 5},
        ),
        *_conv_claims(
            ".strided",
            {"stride": 2, "padding": "same"},
            {"N": 1, "H": 6, "W": 7, "C": 2, "KH": 3, "KW": 1, "O": 5},
        ),
        *_conv_claims(
            ".dilated",
            {"dilation": 2, "padding": "same"},
            {"N": 2, "H": 3, "W": 7, "C": 1, "KH": 2, "KW": 3, "O": 5},
        ),
        *_conv_claims(
            ".padded",
            {"stride": (3, 1), "padding": ((1, 0), (2, 1))},
            {"N": 1, "H": 6, "W": 5, "C": 2, "KH": 3, "KW": 1, "O": 5},
        )[:2],
        _pool_claim(
            "max_pool2d",
            "",
            {"pool_size": 2, "stride": 2},
            {"N": 1, "H": 6, "W": 4, "C": 5},
        ),
        _pool_claim("max_pool2d", ".same", same_pool, {"N": 1, "H": 3, "W": 5, "C": 7}),
        _pool_claim(
            "max_pool2d", ".padded", padded_pool, {"N": 1, "H": 5, "W": 3, "C": 7}
        ),
        _pool_claim(
            "avg_pool2d",
            "",
            {"pool_size": 2, "stride": 2},
            {"N": 1, "H": 6, "W": 10, "C": 2},
        ),
        _pool_claim("avg_pool2d", ".same", same_pool, {"N": 1, "H": 5, "W": 9, "C": 2}),
        _pool_claim(
            "avg_pool2d", ".padded", padded_pool, {"N": 1, "H": 7, "W": 5, "C": 2}
        ),
        Claim(
            "flatten/dx",
            formula("flatten"),
            "x",
            _g[n, row_major_index((u, v, c), (H, W, C))],
            "∂L/∂x is the upstream gradient reshaped back to the feature maps' shape",
            indices=(n, u, v, c),
            sizes={"N": 1, "H": 2, "W": 3, "C": 5},
        ),
    ]
