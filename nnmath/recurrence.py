"""Recurrent networks composed from one cell, and backpropagation through time
composed from the cell's claims.

A cell is an ordinary :class:`~nnmath.formula.Formula` for one time step
(``rnn_cell``: h′ = tanh(xW + b + hU)); a cell with two states puts its outputs
side by side ([h′ | c′], see :mod:`nnmath.library.recurrent`).  An
:class:`Unrolled` network says only how the cell runs over a sequence: which
input is read at each step (x → x_t), which inputs are states (h, read as the
previous step's output h_{t−1}, starting from an initial state h0), and the
Keras layer it is.  Nothing of the cell is written again:

* forward, the cell's own lowered NumPy runs once per step, vectorized over the
  batch and the units; only the loop over time is Python, time being sequential;
* backward, each step runs the cell's *claims* (their lowered gradients), with
  the upstream gradient of the step's outputs gₜ + δ_{t+1}: what reaches them
  from the loss at step t and what step t + 1 sends back to its state input.
  δ_t is the cell's claim about its state input; the weights' gradients are
  the cell's claims summed over the steps; ∂L/∂x_t is the cell's claim at
  step t; ∂L/∂h0 is δ_0.  A :class:`BPTTClaim` is one of these gradients.

The network's output is the cell's output at every step, (N, T, width), so
L = Σ_t Σ gₜ·sₜ; Keras's ``return_sequences`` and ``return_state`` give the
same values (its LSTM returns the cell states c_t only at the last step).

Each BPTT claim is proved three ways (:mod:`nnmath.checker.recurrent`):
symbolically on a small unrolled instance (T = 3, two units), against
``tf.GradientTape`` through the Keras layer, and by finite differences.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .claim import UPSTREAM, Claim
from .formula import Formula, ShapeError

__all__ = ["BPTTClaim", "Unrolled", "SEQUENCE", "backpropagate"]

#: the name of the sequence input of every unrolled network
SEQUENCE = "x"


@dataclass(frozen=True, eq=False)
class Unrolled:
    """``cell`` run over T steps of ``x`` (N, T, F) from initial states.

    ``states`` lists (the cell's state input, the network's initial-state
    input), in the order of the cell's outputs: (("h", "h0"),) or
    (("h", "h0"), ("c", "c0")).  ``layer`` is the ``keras.layers`` class the
    network is (SimpleRNN, LSTM, GRU).
    """

    name: str
    title: str
    cell: Formula
    states: tuple[tuple[str, str], ...]
    layer: str
    notes: str = ""
    #: (case name, sizes) the numeric checks run on
    cases: tuple = ()

    # -- names ---------------------------------------------------------------
    @property
    def weights(self) -> tuple[str, ...]:
        taken = {SEQUENCE, *(s for s, _ in self.states)}
        return tuple(n for n in self.cell.input_names if n not in taken)

    @property
    def input_names(self) -> tuple[str, ...]:
        return (SEQUENCE, *(i for _, i in self.states), *self.weights)

    @property
    def initial(self) -> dict[str, str]:
        """Initial-state input → the cell's state input it starts."""
        return {i: s for s, i in self.states}

    @property
    def params(self) -> dict:  # what the checker reads off a formula
        return {}

    @property
    def expr(self):
        """One step's expression, the cell's (content fingerprints recurse
        into an object that has one)."""
        return self.cell.expr

    @property
    def latex(self) -> str:
        """The cell's equations at step t, with the states read one step back."""
        first = ", ".join(rf"{s}_{{-1}} = {i}" for s, i in self.states)
        return (
            rf"\text{{for }} t = 0, \dots, T - 1:\ {self.cell.indexed_latex}"
            rf"\quad\text{{with }} x = x_t,\ "
            + ", ".join(rf"{s} = {s}_{{t-1}}" for s, _ in self.states)
            + rf";\quad {first}"
        )

    @property
    def source(self) -> str:
        """The NumPy that runs: the cell's generated function, looped over time."""
        states = ", ".join(s for s, _ in self.states)
        initial = ", ".join(i for _, i in self.states)
        kw = ", ".join(f"{w}={w}" for w in self.weights)
        put = ", ".join(f"{s}={s}" for s, _ in self.states)
        split = (
            f"    {states} = np.split(s, {len(self.states)}, axis=-1)\n"
            if len(self.states) > 1
            else f"    {states} = s\n"
        )
        loop = (
            f"def {self.name}({', '.join(self.input_names)}):\n"
            f"    # the loop runs over time only; each step is {self.cell.name},\n"
            "    # vectorized over the batch and the units\n"
            f"    {states} = {initial}\n"
            "    out = []\n"
            "    for t in range(x.shape[1]):\n"
            f"        s = formula({self.cell.name!r}).numpy(x=x[:, t], {put}, {kw})\n"
            + split.replace("    ", "        ", 1)
            + "        out.append(s)\n"
            "    return np.stack(out, axis=1)\n"
        )
        return f"{loop}\n# {self.cell.name}'s generated code:\n{self.cell.source}"

    # -- values --------------------------------------------------------------
    def checked(self, arrays: dict) -> dict[str, np.ndarray]:
        """The inputs as arrays; ValueError naming what is valid for a wrong
        rank, no steps, an initial state or gate sizes that do not fit."""
        missing = [n for n in self.input_names if n not in arrays]
        extra = [n for n in arrays if n not in self.input_names and n != UPSTREAM]
        if missing or extra:
            raise ValueError(
                f"{self.name} takes inputs {', '.join(self.input_names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unexpected {', '.join(extra)}" if extra else "")
            )
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        x = arrays[SEQUENCE]
        if x.ndim != 3:
            raise ShapeError(
                f"{self.name}: x has shape {x.shape} ({x.ndim} axes); valid: "
                "sequences of shape (N, T, F): samples, steps, features"
            )
        if x.shape[1] == 0:
            raise ShapeError(
                f"{self.name}: x has T=0 steps; valid: T ≥ 1 (a sequence of no "
                "steps has no state to return)"
            )
        N, H = x.shape[0], np.shape(arrays[self.weights[1]])[0]  # U is (H, kH)
        for s, i in self.states:
            if np.shape(arrays[i]) != (N, H):
                raise ShapeError(
                    f"{self.name}: {i} (the initial {s}) has shape "
                    f"{np.shape(arrays[i])}; valid: (N, H) = ({N}, {H}), one state "
                    "of H units per sequence (N from x, H from U)"
                )
        step = {SEQUENCE: x[:, 0], **self._cell_states(arrays)}
        step.update({w: arrays[w] for w in self.weights})
        try:
            self.cell.bind_dims(step)
        except ShapeError as exc:  # the kernels and the bias do not fit
            raise ShapeError(f"{self.name}: {exc}") from None
        return arrays

    def _cell_states(self, arrays: dict) -> dict[str, np.ndarray]:
        return {s: arrays[i] for s, i in self.states}

    def numpy(self, **arrays: np.ndarray) -> np.ndarray:
        """The cell's output at every step, (N, T, width)."""
        return self.run(arrays)[0]

    def run(
        self, arrays: dict, cell: Callable[..., np.ndarray] | None = None
    ) -> tuple[np.ndarray, list[dict]]:
        """(the outputs at every step, the cell's inputs at every step).
        ``cell``: what computes one step, the cell's ``numpy`` unless a caller
        passes the cell prepared for its shapes (a training loop)."""
        arrays = self.checked(arrays)
        cell = cell or self.cell.numpy
        weights = {w: arrays[w] for w in self.weights}
        state = self._cell_states(arrays)
        out, steps = [], []
        for t in range(arrays[SEQUENCE].shape[1]):
            inputs = {SEQUENCE: arrays[SEQUENCE][:, t], **state, **weights}
            s = cell(**inputs)
            steps.append(inputs)
            out.append(s)
            parts = np.split(s, len(self.states), axis=-1)
            state = {name: part for (name, _), part in zip(self.states, parts)}
        return np.stack(out, axis=1), steps

    def __repr__(self) -> str:
        return f"Unrolled({self.name!r})"


@dataclass(frozen=True, eq=False)
class BPTTClaim:
    """∂L/∂``wrt`` of an unrolled network, L = Σ_t Σ gₜ·sₜ, composed from the
    cell's claims (``cell_claims``, one per cell input).

    The two printed errors are switches: ``accumulate=False`` takes a weight's
    gradient from the last step alone (not summed over time);
    ``through_time=False`` sends nothing back from step t + 1 to step t.
    """

    name: str
    network: Unrolled
    wrt: str
    cell_claims: tuple[Claim, ...]
    text: str
    #: the symbolic instance's sizes
    sizes: dict = field(default_factory=dict)
    accumulate: bool = True
    through_time: bool = True

    @property
    def formula(self) -> Unrolled:  # what the checker reads off a claim
        return self.network

    @property
    def by_input(self) -> dict[str, Claim]:
        return {c.wrt: c for c in self.cell_claims}

    @property
    def latex(self) -> str:
        net = self.network
        up = r"g_t + \delta_{t+1}" if self.through_time else "g_t"
        if self.wrt in net.initial:
            state = net.initial[self.wrt]
            return rf"\frac{{\partial L}}{{\partial {state}_0}} = \delta^{{{state}}}_0"
        if self.wrt == SEQUENCE:
            return (
                r"\frac{\partial L}{\partial x_t} = "
                rf"\left.\frac{{\partial L}}{{\partial x}}\right|_{{t,\ {up}}}"
            )
        total = r"\sum_{t=0}^{T-1}" if self.accumulate else r"\left.\right._{t=T-1}"
        return (
            rf"\frac{{\partial L}}{{\partial {self.wrt}}} = {total}"
            rf"\left.\frac{{\partial L}}{{\partial {self.wrt}}}\right|_{{t,\ {up}}}"
        )

    def numpy(self, **arrays: np.ndarray) -> np.ndarray:
        return self.backward(arrays)[self.wrt]

    def backward(self, arrays: dict) -> dict[str, np.ndarray]:
        """Every input's gradient, the cell's claims run backward over time."""
        net = self.network
        g = np.asarray(arrays[UPSTREAM])
        out, steps = net.run({k: v for k, v in arrays.items() if k != UPSTREAM})
        if g.shape != out.shape:
            raise ShapeError(
                f"{net.name}: the upstream gradient g has shape {g.shape}; valid: "
                f"the output's shape {out.shape}"
            )
        grads, _ = backpropagate(
            net,
            {w: _gradient(c) for w, c in self.by_input.items()},
            steps,
            g,
            accumulate=self.accumulate,
            through_time=self.through_time,
        )
        return grads

    def __repr__(self) -> str:
        return f"BPTTClaim({self.name!r})"


def _gradient(c: Claim) -> Callable[..., np.ndarray]:
    return taking(c.gradient.input_names, c.gradient.numpy, c.formula.input_names)


def taking(
    names: tuple[str, ...], call: Callable[..., np.ndarray], cell: tuple[str, ...]
) -> Callable[..., np.ndarray]:
    """``call``, given only the ``names`` it takes of a step's inputs (the
    ``cell``'s and g); ``call`` itself when it takes them all."""
    if set(names) == {*cell, UPSTREAM}:
        return call
    return lambda **step: call(**{n: step[n] for n in names})


def _each(gradients: dict, step: dict, wrt: str) -> np.ndarray:
    return gradients[wrt](**step)


def backpropagate(
    net: Unrolled,
    gradients: dict[str, Callable[..., np.ndarray]]
    | Callable[..., dict[str, np.ndarray]],
    steps: list[dict],
    g: np.ndarray,
    *,
    accumulate: bool = True,
    through_time: bool = True,
    inputs: bool = True,
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Backpropagation through time: the cell's claims run backward over the
    ``steps`` (the cell's inputs at every step, from :meth:`Unrolled.run`) with
    the upstream gradient ``g`` (N, T, width) of the outputs.  ``gradients``
    maps each cell input to what computes the claim's gradient (its lowered
    ``numpy``, or that prepared for the steps' shapes), called with the step's
    inputs and ``g``; or one function that computes them all at once from the
    same (a training loop's: :func:`nnmath.prepared.prepare_together` computes
    the gates the claims share once per step), returning them by input.
    ``inputs=False`` leaves out ∂L/∂x_t and the initial states (a training
    step needs only the weights').

    Returns (every input's gradient, the upstream of every step's output,
    gₜ + δ_{t+1} = ∂L/∂sₜ: what §3 of chapter 10 measures)."""
    T = len(steps)
    grads = {w: None for w in net.weights}
    dx = np.zeros((g.shape[0], T, *np.shape(steps[0][SEQUENCE])[1:]))
    back = np.zeros_like(g[:, 0])  # δ_T: nothing comes after the last step
    ups: list[np.ndarray] = [back] * T
    for t in reversed(range(T)):
        up = g[:, t] + back if through_time else g[:, t]
        ups[t] = up
        step = {**steps[t], UPSTREAM: up}
        if callable(gradients):
            grad = gradients(**step).__getitem__
        else:
            grad = functools.partial(_each, gradients, step)
        for w in net.weights:
            if accumulate or t == T - 1:
                d = grad(w)
                grads[w] = d if grads[w] is None else grads[w] + d
        if inputs:
            dx[:, t] = grad(SEQUENCE)
        if t > 0 or inputs:
            back = np.concatenate([grad(s) for s, _ in net.states], axis=-1)
    if inputs:
        grads[SEQUENCE] = dx
        parts = np.split(back, len(net.states), axis=-1)
        for (s, i), part in zip(net.states, parts):
            grads[i] = part
    return grads, ups
