"""The checks of an unrolled recurrent network and its BPTT claims.

* **symbolic**, on a small unrolled instance (T = 3 steps, two units; see
  ``UNROLLED_SIZES``), in two exact parts.  (1) Every cell claim the network's
  claim composes is proved a vector-Jacobian product of the cell: Σ_q u_q
  ∂s′_q/∂θ for a free upstream u, by :func:`.symbolic.prove`; every step of
  the unrolled instance is the cell's instance with its symbols renamed, so
  this holds at every step.  (2) With each step's Jacobians as opaque symbols
  (A_t = ∂s_t/∂θ directly, J_t = ∂s_t/∂s_{t−1}), the derivative computed
  *forward* by the chain rule through time, ds_t/dθ = A_t + J_t·ds_{t−1}/dθ,
  must expand to exactly what the claim's composition gives run *backward*
  (upstream gₜ + δ_{t+1}, weights summed over t).  Writing the network out
  three levels deep and expanding instead took minutes per partial derivative
  for an LSTM (and over 10 minutes for a GRU's ∂L/∂x, measured); this takes
  seconds.  A claim that forgets δ_{t+1} or the sum over t fails (2); a cell
  claim without the LSTM's carry or tanh′(c) fails (1).
* **keras-layer**: the network against ``keras.layers.SimpleRNN``/``LSTM``/
  ``GRU`` built in float64 with our weights, called on the same sequences from
  the same initial states (``return_sequences``, ``return_state``), and each
  claim against ``tf.GradientTape`` through that layer.
* **finite-differences**: central differences of the network's NumPy.
"""

from __future__ import annotations

import time

import numpy as np
import sympy as sp

from ..claim import UPSTREAM
from ..recurrence import SEQUENCE, BPTTClaim, Unrolled
from .cases import Case, _seed
from .checks import (
    FD_STEP,
    Check,
    Tolerance,
    _accumulate,
    _Errors,
    _row,
    check_symbolic,
)
from .symbolic import SymbolicResult
from .zero import symengine

__all__ = [
    "check_bptt_finite_differences",
    "check_bptt_keras",
    "check_bptt_symbolic",
    "check_cell_claim_keras",
    "check_cell_keras",
    "is_cell",
    "check_network_keras",
    "claim_jobs",
    "network_jobs",
    "prove_bptt",
]

#: float64 against the Keras layer.  Keras computes the same operations in
#: another order (LSTM (xW + hU) + b as ours, but TensorFlow's tanh and σ
#: differ from NumPy's by a few ulps, and matmul sums in another order), and
#: each step's difference reaches the next through the recurrence: measured
#: ≤ 4.5e-16 on the outputs and ≤ 2.7e-15 on the gradients (T ≤ 5, H ≤ 7,
#: weights ~N(0, 0.5²)); rtol 1e-11 leaves room for longer sequences
KERAS = Tolerance(1e-11, 1e-13)
#: central differences of a T-step network: truncation ~h² times the third
#: derivative, rounding ~ε/h; measured ≤ 2.2e-9 on the cases
FD = Tolerance(1e-5, 1e-8)


# -- the values of a case --------------------------------------------------------------
def _sizes(net: Unrolled, sizes: dict) -> dict:
    return net.cell.complete_sizes({k: v for k, v in sizes.items() if k != "T"})


def sample(net: Unrolled, sizes: dict, salt: str) -> dict[str, np.ndarray]:
    """Seeded inputs of one case: sequences and states ~N(0, 1), weights
    ~N(0, 0.5²) (Keras's initial scale: tanh and σ neither flat nor linear)."""
    rng = np.random.default_rng(_seed(net.name, repr(sorted(sizes.items())), salt))
    full = _sizes(net, sizes)
    cell = net.cell
    arrays = {SEQUENCE: rng.normal(size=(sizes["N"], sizes["T"], full["F"]))}
    for s, i in net.states:
        arrays[i] = rng.normal(size=tuple(full[d] for d in cell.input(s).shape))
    for w in net.weights:
        shape = tuple(full[d] for d in cell.input(w).shape)
        arrays[w] = 0.5 * rng.normal(size=shape)
    width = full[cell.output_shape[-1]]
    arrays[UPSTREAM] = rng.normal(size=(sizes["N"], sizes["T"], width))
    return arrays


# -- symbolic --------------------------------------------------------------------------
#: the composition is a polynomial in opaque symbols: SymEngine, where it is
#: (a dependency), expands it in C++ (LSTM: 1.1 s of SymPy's expand → 0.1 s)
_ALGEBRA = symengine if symengine is not None else sp


def _opaque(name: str):
    return symengine.Symbol(name) if symengine is not None else sp.Symbol(name)


_PROVED: dict[int, tuple] = {}


def _cell_lemmas(claim: BPTTClaim) -> tuple[bool, str]:
    """Step t's gradients are the cell's claims at step t: each is proved a
    vector-Jacobian product of the cell (Σ_q u_q ∂s′_q/∂θ for a free upstream
    u), on the cell's instance; every step is that instance with its symbols
    renamed, so this proves them at every step of the unrolled instance."""
    from .symbolic import prove

    net = claim.network
    used = [SEQUENCE] if claim.wrt == SEQUENCE else []
    used += [claim.wrt] if claim.wrt in net.weights else []
    used += [s for s, _ in net.states]  # what each step sends back
    for name in used:
        c = claim.by_input[name]
        # each cell claim is proved once per process, not once per BPTT claim
        if id(c) not in _PROVED or _PROVED[id(c)][0] is not c:
            _PROVED[id(c)] = (c, prove(c))
        result = _PROVED[id(c)][1]
        if not result.passed:
            return (
                False,
                f"the cell's claim {claim.by_input[name].name}: {result.detail}",
            )
    return True, ", ".join(claim.by_input[n].name for n in used)


def prove_bptt(claim: BPTTClaim, *, cells: bool = True) -> SymbolicResult:
    """``claim`` exactly on its unrolled instance, in two parts (see the
    module's docstring): the cell's claims are exact vector-Jacobian products
    of the cell, and their composition over T steps is the chain rule through
    time.  For the second, every step's Jacobians are opaque symbols
    (A_t = ∂s_t/∂θ directly, J_t = ∂s_t/∂s_{t−1}): the derivative, computed
    forward (ds_t/dθ = A_t + J_t·ds_{t−1}/dθ), must equal the claim's
    composition run backward with step t's claims replaced by the
    vector-Jacobian products they were just proved to be, exactly.
    ``cells=False`` proves the composition alone (a test whose cell claims
    are proved by the library-wide tests)."""
    ok, lemmas = _cell_lemmas(claim) if cells else (True, "proved elsewhere")
    if not ok:
        return SymbolicResult(False, lemmas)
    net = claim.network
    sizes = dict(claim.sizes)
    T, N = sizes["T"], sizes["N"]
    width = len(net.states) * _sizes(net, sizes)["H"]
    H = width // len(net.states)
    wrt = claim.wrt
    # the variable's elements that differ in how they enter: one element of a
    # weight (each enters every step), x at each step, each initial unit
    if wrt == SEQUENCE:
        variables = [("x", t) for t in range(T)]
    elif wrt in net.initial:
        block = [i for _, i in net.states].index(wrt)
        variables = [("initial", block * H + v) for v in range(H)]
    else:
        variables = [("weight", None)]
    g = {
        (a, t, q): _opaque(f"g[{a},{t},{q}]")
        for a in range(N)
        for t in range(T)
        for q in range(width)
    }
    J = {
        (a, t, q, p): _opaque(f"J{t}[{a},{q},{p}]")
        for a in range(N)
        for t in range(T)
        for q in range(width)
        for p in range(width)
    }
    A = {
        (a, t, q): _opaque(f"A{t}[{a},{q}]")
        for a in range(N)
        for t in range(T)
        for q in range(width)
    }
    for kind, at in variables:

        def direct(a, t, q):
            if kind == "weight":
                return A[(a, t, q)]
            if kind == "x":
                return A[(a, t, q)] if t == at else 0
            return 0

        # forward: the chain rule through time
        derivative = _ALGEBRA.Integer(0)
        ds = {}
        for t in range(T):
            new = {}
            for a in range(N):
                for q in range(width):
                    if t == 0:
                        chain = J[(a, 0, q, at)] if kind == "initial" else 0
                    else:
                        chain = _ALGEBRA.Add(
                            *(J[(a, t, q, p)] * ds[(a, p)] for p in range(width))
                        )
                    new[(a, q)] = direct(a, t, q) + chain
                    derivative += g[(a, t, q)] * new[(a, q)]
            ds = new
        # backward: the claim's composition, step t's claims as the
        # vector-Jacobian products they are
        claimed = _ALGEBRA.Integer(0)
        back = {(a, q): _ALGEBRA.Integer(0) for a in range(N) for q in range(width)}
        for t in reversed(range(T)):
            up = {
                (a, q): g[(a, t, q)] + (back[(a, q)] if claim.through_time else 0)
                for a in range(N)
                for q in range(width)
            }
            if (kind == "weight" and (claim.accumulate or t == T - 1)) or (
                kind == "x" and t == at
            ):
                claimed += _ALGEBRA.Add(
                    *(up[(a, q)] * A[(a, t, q)] for a in range(N) for q in range(width))
                )
            back = {
                (a, p): _ALGEBRA.Add(
                    *(up[(a, q)] * J[(a, t, q, p)] for q in range(width))
                )
                for a in range(N)
                for p in range(width)
            }
        if kind == "initial":
            claimed = _ALGEBRA.Add(*(back[(a, at)] for a in range(N)))
        difference = _ALGEBRA.expand(derivative - claimed)
        if difference != 0:
            where = {"weight": "", "x": f" at step {at}", "initial": f" at unit {at}"}
            return SymbolicResult(
                False,
                f"∂L/∂{wrt}{where[kind]}: composed over the steps, the claim differs "
                f"from the chain rule through time by {_short(difference)}",
            )
    dims = ", ".join(f"{k}={v}" for k, v in sorted(sizes.items()))
    return SymbolicResult(
        True,
        f"exact on the unrolled instance {dims}: the cell's claims ({lemmas}) "
        "are its vector-Jacobian products, and composed backward over the steps "
        "they equal the chain rule through time",
    )


def _short(e) -> str:
    text = str(e)
    return text if len(text) <= 160 else f"{text[:160]}… ({len(e.args)} terms)"


def check_bptt_symbolic(claim: BPTTClaim) -> Check:
    return check_symbolic(claim, prove_bptt)


# -- finite differences ----------------------------------------------------------------
def check_bptt_finite_differences(claim: BPTTClaim) -> Check:
    net = claim.network
    start, acc = time.perf_counter(), _Errors()
    for name, sizes in net.cases:
        arrays = sample(net, sizes, "fd")
        g = arrays.pop(UPSTREAM)

        def loss(value, arrays=arrays, g=g):
            return float(np.sum(net.numpy(**{**arrays, claim.wrt: value}) * g))

        x0 = arrays[claim.wrt]
        reference = np.zeros_like(x0)
        for idx in np.ndindex(*x0.shape):
            step = FD_STEP * max(1.0, abs(float(x0[idx])))
            up, down = x0.copy(), x0.copy()
            up[idx] += step
            down[idx] -= step
            reference[idx] = (loss(up) - loss(down)) / (2 * step)
        ours = claim.numpy(**arrays, g=g)
        _accumulate(acc, Case(name, sizes), ours, reference, FD)
    return _fixed(
        _row(claim.name, "claim", "finite-differences", "float64", acc, start), FD
    )


def _fixed(check: Check, tol: Tolerance) -> Check:
    """A row with this module's stated tolerance (``_row`` looks up the
    library's table by method)."""
    check.rtol, check.atol = tol.rtol, tol.atol
    return check


# -- Keras -----------------------------------------------------------------------------
def keras_run(net: Unrolled, arrays: dict, wrt: str | None = None) -> dict:
    """The Keras layer ``net`` is, on our inputs (:func:`.oracle.keras_rnn`)."""
    from .oracle import keras_rnn

    return keras_rnn(net.layer, arrays, [i for _, i in net.states], net.weights, wrt)


def _keras_upstream(net: Unrolled, g: np.ndarray) -> np.ndarray:
    """g with ∂L/∂c_t = 0 before the last step: Keras's LSTM returns no other
    c_t, so L can reach only c_T."""
    if len(net.states) == 1:
        return g
    g = g.copy()
    H = g.shape[-1] // len(net.states)
    g[:, :-1, H:] = 0.0
    return g


def check_network_keras(net: Unrolled) -> Check:
    start, acc = time.perf_counter(), _Errors()
    for name, sizes in net.cases:
        arrays = sample(net, sizes, "keras-layer")
        arrays.pop(UPSTREAM)
        ours = net.numpy(**arrays)
        ref = keras_run(net, arrays)
        H = ref["h"].shape[-1]
        theirs = [ref["h"], *ref["last"][1:]]
        mine = [ours[:, :, :H], *[ours[:, -1, H:]] * (len(net.states) - 1)]
        _accumulate(
            acc,
            Case(name, sizes),
            np.concatenate([m.reshape(-1) for m in mine]),
            np.concatenate([r.reshape(-1) for r in theirs]),
            KERAS,
        )
    note = (
        f"keras.layers.{net.layer}(units=H, return_sequences=True, "
        "return_state=True) from our initial states and weights"
    )
    return _fixed(
        _row(net.name, "formula", "keras-layer", "float64", acc, start, note), KERAS
    )


def check_bptt_keras(claim: BPTTClaim) -> Check:
    net = claim.network
    start, acc = time.perf_counter(), _Errors()
    for name, sizes in net.cases:
        arrays = sample(net, sizes, "keras-layer-gradient")
        arrays[UPSTREAM] = _keras_upstream(net, arrays[UPSTREAM])
        ref = keras_run(net, arrays, claim.wrt)
        _accumulate(acc, Case(name, sizes), claim.numpy(**arrays), ref["grad"], KERAS)
    note = f"GradientTape through keras.layers.{net.layer}"
    return _fixed(
        _row(claim.name, "claim", "keras-layer", "float64", acc, start, note), KERAS
    )


# -- in the plan -----------------------------------------------------------------------
def network_jobs(net: Unrolled, oracle: bool) -> list:
    return (
        [(f"{net.name} keras-layer", lambda: check_network_keras(net))]
        if oracle
        else []
    )


def claim_jobs(claim: BPTTClaim, oracle: bool) -> list:
    jobs = [(f"{claim.name} symbolic", lambda: check_bptt_symbolic(claim))]
    if oracle:
        jobs.append((f"{claim.name} keras-layer", lambda: check_bptt_keras(claim)))
    jobs.append(
        (
            f"{claim.name} finite differences",
            lambda: check_bptt_finite_differences(claim),
        )
    )
    return jobs


# -- a cell against its Keras layer, one step ------------------------------------------
#: a cell's checks against Keras: the layer over one step (T = 1)
ONE_STEP = (
    ("N=3, F=5, H=7", {"N": 3, "T": 1, "F": 5, "H": 7}),
    ("N=5, F=2, H=3", {"N": 5, "T": 1, "F": 2, "H": 3}),
)


def is_cell(f) -> bool:
    """A registered recurrent cell (with default parameters: all it has)?"""
    from ..library.recurrent import CELLS
    from ..registry import formula

    return getattr(f, "name", None) in CELLS and f is formula(f.name)


def _one_step(cell_name: str) -> Unrolled:
    from ..library.recurrent import NETWORKS, unrolled_network
    from ..registry import formula

    name = next(k for k, v in NETWORKS.items() if v == cell_name)
    return unrolled_network(name, formula(cell_name))


def _cell_inputs(net: Unrolled, arrays: dict) -> dict:
    """The network's inputs of one step as the cell's: x[:, 0], h0 → h, …"""
    out = {SEQUENCE: arrays[SEQUENCE][:, 0]}
    out.update({s: arrays[i] for s, i in net.states})
    out.update({w: arrays[w] for w in net.weights})
    if UPSTREAM in arrays:
        out[UPSTREAM] = arrays[UPSTREAM][:, 0]
    return out


def check_cell_keras(cell) -> Check:
    """A cell's formula against its Keras layer run for one step."""
    net = _one_step(cell.name)
    start, acc = time.perf_counter(), _Errors()
    for name, sizes in ONE_STEP:
        arrays = sample(net, sizes, "cell-keras")
        ref = keras_run(net, arrays)
        theirs = np.concatenate([ref["h"][:, 0], *ref["last"][1:]], axis=-1)
        ours = cell.numpy(
            **{k: v for k, v in _cell_inputs(net, arrays).items() if k != UPSTREAM}
        )
        _accumulate(acc, Case(name, sizes), ours, theirs, KERAS)
    note = f"keras.layers.{net.layer} over one step, from our state and weights"
    return _fixed(
        _row(cell.name, "formula", "keras-layer", "float64", acc, start, note), KERAS
    )


def check_cell_claim_keras(claim) -> Check:
    """A cell's claim against GradientTape through its Keras layer, one step."""
    net = _one_step(claim.formula.name)
    wrt = {SEQUENCE: SEQUENCE, **{s: i for s, i in net.states}}.get(
        claim.wrt, claim.wrt
    )
    grad = claim.gradient
    start, acc = time.perf_counter(), _Errors()
    for name, sizes in ONE_STEP:
        arrays = sample(net, sizes, "cell-keras-gradient")
        ref = keras_run(net, arrays, wrt)["grad"]
        if wrt == SEQUENCE:
            ref = ref[:, 0]
        inputs = _cell_inputs(net, arrays)
        ours = grad.numpy(**{n: inputs[n] for n in grad.input_names})
        _accumulate(acc, Case(name, sizes), ours, ref, KERAS)
    note = f"GradientTape through keras.layers.{net.layer} over one step"
    return _fixed(
        _row(claim.name, "claim", "keras-layer", "float64", acc, start, note), KERAS
    )
