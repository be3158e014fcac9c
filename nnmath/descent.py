"""Optimizers as sequences of formula evaluations, and the runs the book shows.

An :class:`Optimizer` names the registered formulas that update each of its state
variables (see :mod:`nnmath.library.optimizers`) and the Keras class and slots
that hold the same state, so that ``nnbook verify`` can run both side by side.
One step evaluates every formula on the state *before* the step; nothing here
computes an update by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .formula import Formula
from .registry import formula

__all__ = ["Optimizer", "OPTIMIZERS", "optimizer", "optimizer_of", "trajectory"]

#: the state variable every optimizer updates: the parameters
THETA = "theta"
#: the state entry counting the steps taken (Keras's ``iterations``)
STEPS = "t"


@dataclass(frozen=True)
class Optimizer:
    """An update rule: which formula gives which state variable, and where Keras
    keeps the same variable."""

    name: str
    title: str
    #: class in ``tf.keras.optimizers`` and the fixed arguments that select the rule
    keras: str
    keras_args: dict
    #: state variable → registered formula giving its value after the step
    updates: dict
    #: slot → attribute of the Keras optimizer holding it (one entry per variable)
    slots: dict = field(default_factory=dict)

    def defaults(self) -> dict:
        """The hyperparameters and Keras's defaults for them (momentum, which Keras
        defaults to 0, gets the book's 0.9), as its parameter formula carries them."""
        return dict(formula(self.updates[THETA]).params)

    def formulas(self, **hyper) -> dict[str, Formula]:
        """State variable → its update formula, built with ``hyper`` (the registry
        rejects an unknown hyperparameter, naming the valid ones)."""
        return {var: formula(name, **hyper) for var, name in self.updates.items()}

    def init(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The state before the first step: the slots start at zero, as in Keras."""
        theta = np.asarray(theta, dtype=np.float64)
        return {THETA: theta, **{s: np.zeros_like(theta) for s in self.slots},
                STEPS: np.asarray(0.0)}

    def step(self, state: dict, g: np.ndarray, formulas: dict[str, Formula]
             ) -> dict[str, np.ndarray]:
        """One step: every update formula evaluated on the state before it."""
        values = {**state, "g": np.asarray(g, dtype=np.float64)}
        new = {var: f.numpy(**{n: values[n] for n in f.input_names})
               for var, f in formulas.items()}
        return {**new, STEPS: np.asarray(state[STEPS] + 1.0)}


OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in (
    Optimizer("sgd", "SGD", "SGD", {}, {THETA: "sgd"}),
    Optimizer("momentum", "Momentum", "SGD", {},
              {"v": "momentum_velocity", THETA: "momentum"}, {"v": "momentums"}),
    Optimizer("nesterov", "Nesterov", "SGD", {"nesterov": True},
              {"v": "momentum_velocity", THETA: "nesterov"}, {"v": "momentums"}),
    Optimizer("rmsprop", "RMSprop", "RMSprop", {},
              {"s": "rmsprop_velocity", THETA: "rmsprop"}, {"s": "_velocities"}),
    Optimizer("adam", "Adam", "Adam", {},
              {"m": "adam_m", "v": "adam_v", THETA: "adam"},
              {"m": "_momentums", "v": "_velocities"}),
)}


def optimizer(name: str) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


def optimizer_of(f: Formula) -> tuple[Optimizer, str] | None:
    """The optimizer whose update rules include ``f``, and the variable ``f`` gives.

    Formulas shared by two optimizers (the momentum velocity) belong to the first.
    """
    for opt in OPTIMIZERS.values():
        for var, name in opt.updates.items():
            if name == f.name:
                return opt, var
    return None


def trajectory(opt: Optimizer, theta0: np.ndarray, gradient: Callable | np.ndarray,
               steps: int | None = None, *, replace: dict[str, Formula] | None = None,
               **hyper) -> dict[str, np.ndarray]:
    """Every state variable before the first step and after each step, stacked
    (first axis: step).

    ``gradient`` is either a fixed sequence of gradients (one row per step) or a
    function of θ, for a real descent on a loss.  ``replace`` swaps in other
    formulas for some variables: the checker uses it to run a formula under test.
    """
    formulas = {**opt.formulas(**hyper), **(replace or {})}
    fixed = not callable(gradient)
    steps = len(gradient) if fixed else steps
    if steps is None:
        raise ValueError("steps is required when the gradient is a function of θ")
    state = opt.init(theta0)
    path = {k: [v] for k, v in state.items()}
    for k in range(steps):
        g = gradient[k] if fixed else gradient(state[THETA])
        state = opt.step(state, g, formulas)
        for key, value in state.items():
            path[key].append(value)
    return {k: np.stack(v) for k, v in path.items()}
