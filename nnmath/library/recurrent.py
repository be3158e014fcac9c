"""Recurrent cells, one time step each, exactly as Keras 3 computes them, and
clipping by norm.

What Keras does (keras/src/layers/rnn/simple_rnn.py, lstm.py, gru.py), and so
what these formulas say:

* Every layer keeps a kernel W (F, kH) and a recurrent kernel U (H, kH): the
  gates side by side along the last axis, k = 1, 4, 3.
* ``SimpleRNN``: h′ = tanh((xW + b) + hU), in that order.
* ``LSTM`` (implementation 2): z = (xW + hU) + b, then the gates in Keras's
  order i, f, c̃, o (i = σ(z_{0:H}), f = σ(z_{H:2H}), c̃ = tanh(z_{2H:3H}),
  o = σ(z_{3H:4H})), c′ = f·c + i·c̃ and h′ = o·tanh(c′).  ``unit_forget_bias``
  only sets the initial bias (1 for f); :func:`keras_initial_bias` follows it.
* ``GRU`` with ``reset_after=True``, its default: the bias is (2, 3H), row 0
  added to xW and row 1 to hU; z and r from both sums, h̃ = tanh(sˣ_h + r·sʰ_h)
  with the reset gate applied *after* the recurrent product, and
  h′ = z·h + (1 − z)·h̃: z weights the *old* state.
* ``clipnorm`` clips each variable's gradient on its own: g·c / max(‖g‖, c).

**Several outputs (the LSTM's h′ and c′).**  A formula has one output array;
a cell with two states puts them *side by side along its last axis*, as Keras
puts the gates side by side in its kernels: the LSTM cell's output is
s′ = [h′ | c′] of shape (N, 2H), each block a named part of the cell
(``Formula.outputs`` names the blocks, :meth:`Formula.split` gives them back by
name, and the equation prints one line per named part).  So the cell is written
once, and every check of the library applies to it unchanged.  Its claims are
vector-Jacobian products as everywhere: the upstream gradient is
g = [g_h | g_c], so ∂L/∂c reads both, and the carry ∂c′/∂c = f is explicit.
The blocks are placed with Kronecker deltas, Σ_u (δ_{k,u}·h′_u + δ_{k,H+u}·c′_u),
and so are the four gates' gradients in the claims: every read stays inside
its block (a Piecewise over k would read each gate beyond it).

The unrolled networks (``rnn``, ``lstm``, ``gru``) are composed from these
cells and their claims in :mod:`nnmath.recurrence`.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, defined, dims, indices
from ..params import Real
from ..primitives import sigmoid
from ..registry import formula, register, register_claims

__all__ = [
    "CELLS",
    "cell_claims",
    "cell_part",
    "gru_cell",
    "keras_initial_bias",
    "lstm_cell",
    "lstm_claims",
    "gru_claims",
]

n, j, u, v, k, p, r, m, q = indices("n j u v k p r m q")
N, F, H, G, S, R, Q = dims("N F H G S R Q")
x, h, c, W, U, b = (sp.IndexedBase(s) for s in ("x", "h", "c", "W", "U", "b"))
g = sp.IndexedBase("g")
# named parts, as printed
z = sp.IndexedBase("z")
gi, gf, go = (sp.IndexedBase(s) for s in ("i", "f", "o"))
cand = sp.IndexedBase(r"\tilde{c}")
c_new, h_new = sp.IndexedBase("c'"), sp.IndexedBase("h'")
s_x, s_h = sp.IndexedBase("s^{x}"), sp.IndexedBase("s^{h}")
upd, rst, h_cand = (
    sp.IndexedBase("z"),
    sp.IndexedBase("r"),
    sp.IndexedBase(r"\tilde{h}"),
)
dz = sp.IndexedBase(r"\delta^{z}")
gamma = sp.IndexedBase(r"\gamma")
d_i, d_f, d_c, d_o = (
    sp.IndexedBase(rf"\delta^{{{s}}}") for s in ("i", "f", r"\tilde{c}", "o")
)
dg_z, dg_r, dg_h = (
    sp.IndexedBase(rf"\delta^{{{s}}}") for s in ("z", "r", r"\tilde{h}")
)
dsx, dsh = sp.IndexedBase(r"\delta^{s^{x}}"), sp.IndexedBase(r"\delta^{s^{h}}")
g_h, g_c = sp.IndexedBase("g^{h}"), sp.IndexedBase("g^{c}")

#: the cells, with the Keras layer each is one step of
CELLS = {"rnn_cell": "SimpleRNN", "lstm_cell": "LSTM", "gru_cell": "GRU"}


def _sum(*terms: sp.Expr) -> sp.Expr:
    """Terms added in the order written, as Keras adds them."""
    out = terms[0]
    for term in terms[1:]:
        out = sp.Add(out, term, evaluate=False)
    return out


def _xw(col: sp.Expr) -> sp.Expr:
    return sp.Sum(x[n, j] * W[j, col], (j, 0, F - 1))


def _hu(col: sp.Expr) -> sp.Expr:
    return sp.Sum(h[n, v] * U[v, col], (v, 0, H - 1))


def side_by_side(reads: tuple, at: sp.Symbol = k) -> sp.Expr:
    """Blocks of width H side by side along ``at``: Σ_u δ_{at, qH+u}·read_q[u]
    (each read written over u)."""
    return sp.Sum(
        sp.Add(
            *(sp.KroneckerDelta(at, q * H + u) * read for q, read in enumerate(reads))
        ),
        (u, 0, H - 1),
    )


_X = Input("x", ("N", "F"), "inputs, one row per sample")
_H = Input("h", ("N", "H"), "hidden state")
_C = Input("c", ("N", "H"), "cell state")


def _kernels(width: str, gates: str) -> tuple[Input, Input]:
    return (
        Input("W", ("F", width), f"kernel (Keras's kernel){gates}"),
        Input("U", ("H", width), f"recurrent kernel (Keras's recurrent_kernel){gates}"),
    )


# -- the cells -------------------------------------------------------------------------
@register("rnn_cell")
def _rnn_cell() -> Formula:
    return Formula(
        name="rnn_cell",
        title="A simple recurrent cell, one time step",
        output="h'",
        indices=(n, u),
        expr=sp.tanh(_sum(_xw(u), b[u], _hu(u))),
        inputs=(_X, _H, *_kernels("H", ""), Input("b", ("H",), "bias")),
        tf="tf.tanh(tf.matmul(x, W) + b + tf.matmul(h, U))",
        output_shape=("N", "H"),
        notes="Keras's SimpleRNNCell adds the bias to xW before adding hU: "
        "(xW + b) + hU.",
    )


def lstm_parts(forget: bool = True) -> tuple:
    """The LSTM cell's named parts: z, the gates i, f, c̃, o, then c′ and h′."""
    carry = gf[n, u] * c[n, u] if forget else c[n, u]
    return (
        (z[n, k], _sum(_xw(k), _hu(k), b[k])),
        (gi[n, u], sigmoid(z[n, u])),
        (gf[n, u], sigmoid(z[n, H + u])),
        (cand[n, u], sp.tanh(z[n, 2 * H + u])),
        (go[n, u], sigmoid(z[n, 3 * H + u])),
        (c_new[n, u], _sum(carry, gi[n, u] * cand[n, u])),
        (h_new[n, u], go[n, u] * sp.tanh(c_new[n, u])),
    )


def _two_states(name: str, title: str, where: tuple, notes: str) -> Formula:
    shown = side_by_side((h_new[n, u], c_new[n, u]))
    return Formula(
        name=name,
        title=title,
        output="s'",
        indices=(n, k),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        outputs=("h'", "c'"),
        inputs=(
            _X,
            _H,
            _C,
            *_kernels("G", ": the gates i, f, c̃, o side by side"),
            Input("b", ("G",), "bias: the gates i, f, c̃, o side by side"),
        ),
        tf="(lambda i, f, g, o: (lambda c2: tf.concat([tf.sigmoid(o) * tf.tanh(c2), "
        "c2], axis=1))(tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)))(*tf.split("
        "tf.matmul(x, W) + tf.matmul(h, U) + b, 4, axis=1))",
        output_shape=("N", "S"),
        derived=((G, 4 * H), (S, 2 * H)),
        notes=notes,
        tf_tolerance={"float32": (1e-4, 1e-5)},
        tf_note="float32: ∂L/∂W sums N products of four gates' gradients "
        "(measured 2.2e-6 apart at N = 11, H = 3; atol 1e-5)",
    )


@register("lstm_cell")
def lstm_cell() -> Formula:
    return _two_states(
        "lstm_cell",
        "An LSTM cell, one time step: h′ and the cell state c′, side by side",
        lstm_parts(),
        "Keras's gate order is i, f, c̃, o along the kernels' last axis; "
        "z = (xW + hU) + b (LSTMCell, implementation 2). Two outputs side by side, "
        "[h′ | c′]: the cell state carries the gradient back through f alone.",
    )


def gru_parts(swap: bool = False, reset_after: bool = True) -> tuple:
    """The GRU cell's named parts.  ``swap`` (h′ = (1 − z)·h + z·h̃) and
    ``reset_after=False`` (the reset gate applied to h before the recurrent
    product) are the two printed errors the tests show caught."""
    if reset_after:
        candidate = _sum(s_x[n, 2 * H + u], rst[n, u] * s_h[n, 2 * H + u])
    else:
        candidate = _sum(
            s_x[n, 2 * H + u],
            _sum(
                # q, not v: r's own definition sums over v (hU)
                sp.Sum(rst[n, q] * h[n, q] * U[q, 2 * H + u], (q, 0, H - 1)),
                b[1, 2 * H + u],
            ),
        )
    keep, take = (1 - upd[n, u], upd[n, u]) if swap else (upd[n, u], 1 - upd[n, u])
    return (
        (s_x[n, k], _sum(_xw(k), b[0, k])),
        (s_h[n, k], _sum(_hu(k), b[1, k])),
        (upd[n, u], sigmoid(_sum(s_x[n, u], s_h[n, u]))),
        (rst[n, u], sigmoid(_sum(s_x[n, H + u], s_h[n, H + u]))),
        (h_cand[n, u], sp.tanh(candidate)),
        (h_new[n, u], _sum(keep * h[n, u], take * h_cand[n, u])),
    )


def gru_cell(
    swap: bool = False, reset_after: bool = True, name: str = "gru_cell"
) -> Formula:
    """The GRU cell as Keras computes it, or one of two printed errors."""
    where = gru_parts(swap, reset_after)
    shown = h_new[n, u]
    tf_keep = "(1 - zz) * h + zz * hh" if swap else "zz * h + (1 - zz) * hh"
    tf_hh = (
        "tf.tanh(sx[:, 2 * H:] + rr * sh[:, 2 * H:])"
        if reset_after
        else "tf.tanh(sx[:, 2 * H:] + tf.matmul(rr * h, U[:, 2 * H:]) + b[1, 2 * H:])"
    )
    tf = (
        "(lambda H: (lambda sx, sh: (lambda zz, rr: (lambda hh: "
        f"{tf_keep})({tf_hh}))("
        "tf.sigmoid(sx[:, :H] + sh[:, :H]), tf.sigmoid(sx[:, H:2 * H] + sh[:, H:2 * H])"
        "))(tf.matmul(x, W) + b[0], tf.matmul(h, U) + b[1]))(h.shape[1])"
    )
    return Formula(
        name=name,
        title="A GRU cell, one time step (Keras's reset_after=True)",
        output="h'",
        indices=(n, u),
        expr=defined(shown, where),
        shown=shown,
        where=where,
        inputs=(
            _X,
            _H,
            *_kernels("G", ": the gates z, r, h̃ side by side"),
            Input("b", ("R", "G"), "bias: row 0 added to xW, row 1 to hU"),
        ),
        tf=tf,
        output_shape=("N", "H"),
        # the bias's two rows: a fixed size, so a third row is named as wrong
        derived=((G, 3 * H), (R, sp.Integer(2))),
        notes="Keras's gate order is z, r, h̃; reset_after=True (its default): the "
        "reset gate multiplies hU + b₁ after the product, and z weights the old "
        "state: h′ = z·h + (1 − z)·h̃.",
    )


@register("gru_cell")
def _gru_cell() -> Formula:
    return gru_cell()


@lru_cache(maxsize=None)
def cell_part(cell: str, part: str) -> Formula:
    r"""One named part of ``cell`` as a formula of its own (N, H), from the very
    definitions the cell is written in: a gate of one step, e.g.
    ``cell_part("lstm_cell", "f")`` or ``cell_part("gru_cell", r"\tilde{h}")``.
    Not registered (nothing is claimed about a gate on its own): the chapters
    show a step's gates with it; the cell's output is these parts combined
    (c′ = f·c + i·c̃, h′ = z·h + (1 − z)·h̃), which the tests check."""
    parts = {"lstm_cell": lstm_parts, "gru_cell": gru_parts}
    if cell not in parts:
        raise ValueError(f"no gates in {cell!r}; valid: {', '.join(parts)}")
    where = parts[cell]()[: -2 if cell == "lstm_cell" else -1]  # not c′, h′
    names = [str(lhs.base) for lhs, _ in where]
    gates = [name for name, (lhs, _) in zip(names, where) if lhs.indices[1] == u]
    if part not in gates:
        raise ValueError(f"{cell} has no gate {part!r}; valid: {', '.join(gates)}")
    at = names.index(part)
    lstm = cell == "lstm_cell"
    bias = Input("b", ("G",) if lstm else ("R", "G"), "bias")
    return Formula(
        name=cell + "_" + re.sub(r"\W", "", part),
        title=f"The gate {part} of one step of {cell}",
        output=part,
        indices=(n, u),
        expr=defined(where[at][1], where[:at]),
        shown=where[at][1],
        where=where[:at],
        inputs=(_X, _H, *_kernels("G", ""), bias),
        tf="",
        output_shape=("N", "H"),
        derived=((G, (4 if lstm else 3) * H),)
        + (() if lstm else ((R, sp.Integer(2)),)),
    )


def keras_initial_bias(units: int) -> np.ndarray:
    """The LSTM bias Keras starts from with ``unit_forget_bias=True``: 1 for the
    forget gate, 0 elsewhere (lstm.py, LSTMCell.build)."""
    return np.concatenate([np.zeros(units), np.ones(units), np.zeros(2 * units)])


# -- the cells' claims -----------------------------------------------------------------
def _claim(f: Formula, wrt: str, shown, where, text, idx, sizes, suffix="") -> Claim:
    return Claim(
        f"{f.name}/d{wrt}{suffix}",
        f,
        wrt,
        defined(shown, where),
        text,
        indices=idx,
        sizes=dict(sizes),
        shown=shown,
        where=where,
    )


#: the cells' instance: N, F, H told apart, H = 2 units as a textbook draws them
CELL_SIZES = {"N": 3, "F": 5, "H": 2}


def _through_gates(f, where, grad, width, what, suffix=""):
    """∂L/∂x, ∂L/∂h, ∂L/∂W, ∂L/∂U, ∂L/∂b through the pre-activations, whose
    gradient is the named part ``grad[n, k]`` over k < ``width``."""
    col = k
    over = (col, 0, width - 1)
    shown = {
        "x": sp.Sum(grad[n, col] * W[j, col], over),
        "h": sp.Sum(grad[n, col] * U[m, col], over),
        "W": sp.Sum(x[n, j] * grad[n, col], (n, 0, N - 1)),
        "U": sp.Sum(h[n, m] * grad[n, col], (n, 0, N - 1)),
        "b": sp.Sum(grad[n, col], (n, 0, N - 1)),
    }
    # m, not v: the named parts sum over v (hU), and a free v would be captured
    idx = {"x": (n, j), "h": (n, m), "W": (j, col), "U": (m, col), "b": (col,)}
    text = {
        "x": f"∂L/∂x = δWᵀ, {what}",
        "h": f"∂L/∂h = δUᵀ, {what}",
        "W": f"∂L/∂W = xᵀδ, {what}",
        "U": f"∂L/∂U = hᵀδ, {what}",
        "b": f"∂L/∂b = Σₙ δ, {what}",
    }
    return {
        wrt: _claim(f, wrt, shown[wrt], where, text[wrt], idx[wrt], CELL_SIZES, suffix)
        for wrt in shown
    }


def rnn_claims() -> dict[str, Claim]:
    f = formula("rnn_cell")
    where = (
        (h_new[n, u], sp.tanh(_sum(_xw(u), b[u], _hu(u)))),
        (dz[n, k], g[n, k] * (1 - h_new[n, k] ** 2)),
    )
    return _through_gates(f, where, dz, H, "δᶻ = g·(1 − h′²)")


def lstm_gradient_parts(carry: bool = True, tanh_prime: bool = True) -> tuple:
    """The LSTM claims' named parts: γ, the gradient reaching c′ (directly, g^c,
    and through h′ = o·tanh(c′)), and the four gates' gradients side by side.
    ``carry=False`` drops g^c, the gradient the next step sends back along the
    cell state; ``tanh_prime=False`` drops tanh′(c′): two printed errors."""
    through_h = g_h[n, u] * go[n, u]
    if tanh_prime:
        through_h = through_h * (1 - sp.tanh(c_new[n, u]) ** 2)
    reaching = _sum(g_c[n, u], through_h) if carry else through_h
    gates = (
        (d_i[n, u], gamma[n, u] * cand[n, u] * gi[n, u] * (1 - gi[n, u])),
        (d_f[n, u], gamma[n, u] * c[n, u] * gf[n, u] * (1 - gf[n, u])),
        (d_c[n, u], gamma[n, u] * gi[n, u] * (1 - cand[n, u] ** 2)),
        (d_o[n, u], g_h[n, u] * sp.tanh(c_new[n, u]) * go[n, u] * (1 - go[n, u])),
    )
    return (
        *lstm_parts()[:-1],
        (g_h[n, u], g[n, u]),
        (g_c[n, u], g[n, H + u]),
        (gamma[n, u], reaching),
        *gates,
        (dz[n, k], side_by_side(tuple(lhs for lhs, _ in gates))),
    )


def lstm_claims(suffix: str = "", **errors) -> dict[str, Claim]:
    f = formula("lstm_cell")
    where = lstm_gradient_parts(**errors)
    made = _through_gates(
        f, where, dz, G, "δᶻ = [δⁱ | δᶠ | δᶜ̃ | δᵒ] side by side", suffix
    )
    made["c"] = _claim(
        f,
        "c",
        gamma[n, u] * gf[n, u],
        where,
        "∂L/∂c = γ·f: the carry along the cell state, through the forget gate",
        (n, u),
        CELL_SIZES,
        suffix,
    )
    return made


def gru_gradient_parts(swap: bool = False) -> tuple:
    """The GRU claims' named parts: the gradients of the gates' pre-activations
    δᶻ, δʳ, δʰ̃, placed side by side as δ^{sˣ} (of xW + b₀) and δ^{sʰ} (of
    hU + b₁; they differ in the h̃ block, where r multiplies hU + b₁)."""
    to_cand = upd[n, u] if swap else 1 - upd[n, u]
    sign = -1 if swap else 1
    gates = (
        (
            dg_z[n, u],
            sign * g[n, u] * (h[n, u] - h_cand[n, u]) * upd[n, u] * (1 - upd[n, u]),
        ),
        (dg_h[n, u], g[n, u] * to_cand * (1 - h_cand[n, u] ** 2)),
        (dg_r[n, u], dg_h[n, u] * s_h[n, 2 * H + u] * rst[n, u] * (1 - rst[n, u])),
    )
    return (
        *gru_parts(swap)[:-1],
        *gates,
        (dsx[n, k], side_by_side((dg_z[n, u], dg_r[n, u], dg_h[n, u]))),
        (dsh[n, k], side_by_side((dg_z[n, u], dg_r[n, u], dg_h[n, u] * rst[n, u]))),
    )


def gru_claims(f: Formula | None = None, swap: bool = False, suffix: str = ""):
    f = f or formula("gru_cell")
    where = gru_gradient_parts(swap)
    keep = (1 - upd[n, m]) if swap else upd[n, m]
    over = (k, 0, G - 1)
    shown = {
        "x": sp.Sum(dsx[n, k] * W[j, k], over),
        "h": _sum(g[n, m] * keep, sp.Sum(dsh[n, k] * U[m, k], over)),
        "W": sp.Sum(x[n, j] * dsx[n, k], (n, 0, N - 1)),
        "U": sp.Sum(h[n, m] * dsh[n, k], (n, 0, N - 1)),
        # row r of the bias: row 0 is added to xW, row 1 to hU
        "b": sp.Sum(
            sp.KroneckerDelta(r, 0) * dsx[n, k] + sp.KroneckerDelta(r, 1) * dsh[n, k],
            (n, 0, N - 1),
        ),
    }
    idx = {"x": (n, j), "h": (n, m), "W": (j, k), "U": (m, k), "b": (r, k)}
    text = {
        "x": "∂L/∂x = δ^{sˣ}Wᵀ",
        "h": "∂L/∂h = g·z + δ^{sʰ}Uᵀ: directly through z·h, and through every gate",
        "W": "∂L/∂W = xᵀδ^{sˣ}",
        "U": "∂L/∂U = hᵀδ^{sʰ}",
        "b": "∂L/∂b: row 0 Σₙ δ^{sˣ}, row 1 Σₙ δ^{sʰ}",
    }
    return {
        wrt: _claim(f, wrt, shown[wrt], where, text[wrt], idx[wrt], CELL_SIZES, suffix)
        for wrt in shown
    }


def cell_claims(cell: str) -> dict[str, Claim]:
    """The registered claims about ``cell``, by the input they are about."""
    from ..registry import claims

    return {c.wrt: c for c in claims(cell)}


# -- clipping by norm ------------------------------------------------------------------
clip_v, clip_c = sp.IndexedBase("v"), sp.Symbol("c", positive=True)


def _norm() -> sp.Expr:
    return sp.sqrt(sp.Sum(clip_v[r] ** 2, (r, 0, Q - 1)))


@register("clip_by_norm", params={"clipnorm": Real(0, low_open=True)})
def _clip_by_norm(clipnorm: float = 1.0) -> Formula:
    return Formula(
        name="clip_by_norm",
        title="A gradient clipped by its norm (Keras's clipnorm)",
        output=r"\tilde{v}",
        indices=(p,),
        expr=sp.Mul(clip_v[p], clip_c, evaluate=False) / sp.Max(_norm(), clip_c),
        inputs=(Input("v", ("Q",), "one variable's gradient, flattened"),),
        tf=f"tf.clip_by_norm(v, {float(clipnorm)!r})",
        output_shape=("Q",),
        params={"clipnorm": clipnorm},
        constants={"c": float(clipnorm)},
        notes="Each variable's gradient on its own (global_clipnorm would clip all "
        "together); Keras computes (v·c)/max(‖v‖, c): a gradient inside the ball "
        "is unchanged, one outside it is scaled to norm c.",
    )


def _clip_claim() -> Claim:
    """∂L/∂v of clip_by_norm: inside the ball g; outside c/‖v‖·(g − v(v·g)/‖v‖²)."""
    norm = sp.Symbol(r"\lVert v \rVert", positive=True)
    along = sp.Sum(clip_v[r] * g[r], (r, 0, Q - 1))
    shown = sp.Piecewise(
        (clip_c / norm * (g[p] - clip_v[p] * along / norm**2), norm > clip_c),
        (g[p], True),
    )
    where = ((norm, _norm()),)
    return Claim(
        "clip_by_norm/dv",
        formula("clip_by_norm"),
        "v",
        defined(shown, where),
        "∂L/∂v: inside the ball the identity; outside it c/‖v‖·(g − v(v·g)/‖v‖²)",
        indices=(p,),
        sizes={"Q": 3},
        shown=shown,
        where=where,
    )


@register_claims
def _claims() -> list[Claim]:
    return [
        *rnn_claims().values(),
        *lstm_claims().values(),
        *gru_claims().values(),
        _clip_claim(),
    ]


# -- the unrolled networks -------------------------------------------------------------
#: the unrolled claims' instance: T = 3 steps (the smallest with a step that both
#: reads a state and gives one to a later step), two units, and N, F apart from
#: them and from each other
UNROLLED_SIZES = {"N": 5, "T": 3, "F": 7, "H": 2}
#: the numeric cases: every dimension its own size, T = 1 (one cell) included
UNROLLED_CASES = (
    ("N=3, T=5, F=2, H=7", {"N": 3, "T": 5, "F": 2, "H": 7}),
    ("one step: N=5, T=1, F=3, H=2", {"N": 5, "T": 1, "F": 3, "H": 2}),
)
_STATES = {
    "rnn_cell": (("h", "h0"),),
    "lstm_cell": (("h", "h0"), ("c", "c0")),
    "gru_cell": (("h", "h0"),),
}
#: network name → its cell
NETWORKS = {"rnn": "rnn_cell", "lstm": "lstm_cell", "gru": "gru_cell"}


def unrolled_network(name: str, cell: Formula | None = None):
    """The network ``name`` (rnn, lstm, gru): its cell over T steps."""
    from ..recurrence import Unrolled

    if name not in NETWORKS:
        raise ValueError(
            f"unknown recurrent network {name!r}; valid: {', '.join(NETWORKS)}"
        )
    cell = cell or formula(NETWORKS[name])
    layer = CELLS[NETWORKS[name]]
    return Unrolled(
        name,
        f"{layer} over T steps, from an initial state",
        cell,
        _STATES[NETWORKS[name]],
        layer,
        notes=f"{cell.name} at every step t = 0 … T − 1, each step's state read by "
        "the next; the loop runs over time only, never over the batch or the units",
        cases=UNROLLED_CASES,
    )


def bptt_claims(network, cell_claims: dict[str, Claim], suffix: str = "", **errors):
    """∂L/∂(each input) of ``network``, composed from ``cell_claims``."""
    from ..recurrence import SEQUENCE, BPTTClaim

    text = {
        SEQUENCE: "∂L/∂x_t: the cell's claim at step t, with the upstream gₜ + δ_{t+1}",
        **{
            i: f"∂L/∂{i} = δ_0: what the first step sends back to its {s}"
            for s, i in network.states
        },
        **{
            w: f"∂L/∂{w}: the cell's claim at every step, with the upstream "
            "gₜ + δ_{t+1}, summed over the steps"
            for w in network.weights
        },
    }
    return [
        BPTTClaim(
            f"{network.name}/d{wrt}{suffix}",
            network,
            wrt,
            tuple(cell_claims.values()),
            text[wrt],
            sizes=dict(UNROLLED_SIZES),
            **errors,
        )
        for wrt in network.input_names
    ]


def networks() -> list:
    """The unrolled networks, in book order."""
    return [unrolled_network(name) for name in NETWORKS]


def network_claims() -> list:
    """Every unrolled network's BPTT claims."""
    return [
        c for net in networks() for c in bptt_claims(net, cell_claims(net.cell.name))
    ]


# registered after the cells' claims, which they are composed from: a chapter
# names ``rnn/dW`` as it names ``rnn_cell/dW``
register_claims(network_claims)
