"""Optimizers as update rules: which registered formula gives which state
variable, and what an update rule claims to be.

An :class:`Optimizer` names the registered formulas that update each of its state
variables (see :mod:`nnmath.library.optimizers`) and the Keras class and slots
that hold the same state, so that ``nnbook verify`` can run both side by side.
One step evaluates every formula on the state *before* the step; nothing here
computes an update by hand; :func:`trajectory` runs the steps.

An update rule says what it claims to be with :func:`keras_rule` (one variable
of a ``tf.keras.optimizers`` class with given hyperparameters) or
:class:`NoKeras` (no Keras counterpart, and why), in ``Formula(keras=...)``.
``nnbook verify`` checks the claim, whatever the rule is called.  The descent
runs the chapters show are in :mod:`nnmath.runs.trajectories`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .formula import Formula
from .registry import formula

__all__ = [
    "Optimizer",
    "OPTIMIZERS",
    "optimizer",
    "optimizer_of",
    "trajectory",
    "KerasRule",
    "NoKeras",
    "keras_rule",
    "updated_variable",
    "THETA",
    "STEPS",
]

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
    #: hyperparameters only the θ rule takes (AdamW's decay never reaches m or v)
    theta_only: tuple = ()

    def defaults(self) -> dict:
        """The hyperparameters and Keras's defaults for them (momentum, which Keras
        defaults to 0, gets the book's 0.9), as its parameter formula carries them."""
        return dict(formula(self.updates[THETA]).params)

    def formulas(self, **hyper) -> dict[str, Formula]:
        """State variable → its update formula, built with ``hyper`` (the registry
        rejects an unknown hyperparameter, naming the valid ones)."""
        slots = {k: v for k, v in hyper.items() if k not in self.theta_only}
        return {
            var: formula(name, **(hyper if var == THETA else slots))
            for var, name in self.updates.items()
        }

    def init(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """The state before the first step: the slots start at zero, as in Keras."""
        theta = np.asarray(theta, dtype=np.float64)
        return {
            THETA: theta,
            **{s: np.zeros_like(theta) for s in self.slots},
            STEPS: np.asarray(0.0),
        }

    def step(
        self, state: dict, g: np.ndarray, formulas: dict[str, Formula]
    ) -> dict[str, np.ndarray]:
        """One step: every update formula evaluated on the state before it."""
        values = {**state, "g": np.asarray(g, dtype=np.float64)}
        new = {
            var: f.numpy(**{n: values[n] for n in f.input_names})
            for var, f in formulas.items()
        }
        return {**new, STEPS: np.asarray(state[STEPS] + 1.0)}


OPTIMIZERS: dict[str, Optimizer] = {
    o.name: o
    for o in (
        Optimizer("sgd", "SGD", "SGD", {}, {THETA: "sgd"}),
        Optimizer(
            "momentum",
            "Momentum",
            "SGD",
            {},
            {"v": "momentum_velocity", THETA: "momentum"},
            {"v": "momentums"},
        ),
        Optimizer(
            "nesterov",
            "Nesterov",
            "SGD",
            {"nesterov": True},
            {"v": "momentum_velocity", THETA: "nesterov"},
            {"v": "momentums"},
        ),
        Optimizer(
            "rmsprop",
            "RMSprop",
            "RMSprop",
            {},
            {"s": "rmsprop_velocity", THETA: "rmsprop"},
            {"s": "_velocities"},
        ),
        Optimizer(
            "adam",
            "Adam",
            "Adam",
            {},
            {"m": "adam_m", "v": "adam_v", THETA: "adam"},
            {"m": "_momentums", "v": "_velocities"},
        ),
        # Adam's own moments: Keras's AdamW is Adam with a weight_decay
        Optimizer(
            "adamw",
            "AdamW",
            "AdamW",
            {},
            {"m": "adam_m", "v": "adam_v", THETA: "adamw"},
            {"m": "_momentums", "v": "_velocities"},
            theta_only=("weight_decay",),
        ),
    )
}


def optimizer(name: str) -> Optimizer:
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name]


# -- what an update rule claims to be ---------------------------------------------
#: Keras class → the book's optimizers of that class, and the arguments each accepts
#: (Keras's names; the book's update formulas take the same ones)
_KERAS_ARGS = {
    "sgd": ("learning_rate",),
    "momentum": ("learning_rate", "momentum"),
    "nesterov": ("learning_rate", "momentum", "nesterov"),
    "rmsprop": ("learning_rate", "rho", "epsilon"),
    "adam": ("learning_rate", "beta_1", "beta_2", "epsilon"),
    "adamw": ("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon"),
}


@dataclass(frozen=True)
class KerasRule:
    """An update rule's claim: after each step, its value is ``variable`` of
    ``tf.keras.optimizers.<optimizer>(**hyper)`` fed the same gradients.

    Make one with :func:`keras_rule`.  ``inputs`` maps the rule's input names to
    the optimizer's state names where they differ (``{"w": "theta"}``).
    """

    optimizer: str
    hyper: dict
    variable: str = THETA
    inputs: dict = field(default_factory=dict)

    @property
    def book(self) -> Optimizer:
        """The book's optimizer that keeps the same state as the Keras one."""
        return OPTIMIZERS[_book_name(self.optimizer, self.hyper)]

    @property
    def formula_params(self) -> dict:
        """The hyperparameters as the book's update formulas take them."""
        return {k: v for k, v in self.hyper.items() if k != "nesterov"}

    @property
    def call(self) -> str:
        """``tf.keras.optimizers.Adam(learning_rate=0.01)``."""
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyper.items())
        return f"tf.keras.optimizers.{self.optimizer}({args})"

    @property
    def text(self) -> str:
        """:attr:`call`, variable included."""
        return f"{self.call}, variable {self.variable}"


@dataclass(frozen=True)
class NoKeras:
    """An update rule's statement that no Keras optimizer computes it, and why.
    ``nnbook verify`` reports it, not checked against Keras, in its table."""

    reason: str


def _book_name(cls: str, hyper: dict) -> str:
    if cls == "SGD":
        if hyper.get("nesterov"):
            return "nesterov"
        return "momentum" if "momentum" in hyper else "sgd"
    return {"RMSprop": "rmsprop", "Adam": "adam", "AdamW": "adamw"}[cls]


def keras_rule(
    optimizer: str, /, *, variable: str = THETA, inputs: dict | None = None, **hyper
) -> KerasRule:
    """Declare that an update rule computes ``variable`` of
    ``tf.keras.optimizers.<optimizer>(**hyper)``, e.g.
    ``Formula(..., keras=keras_rule("Adam", learning_rate=0.01))``.

    The rule reads the optimizer's state by its names (``theta``, ``g``, the
    slots, ``t`` the steps taken) unless ``inputs`` maps its own names to them.
    Raises ValueError, naming what is valid, for an optimizer, argument or
    variable the book cannot run side by side with Keras.
    """
    classes = sorted({o.keras for o in OPTIMIZERS.values()})
    if optimizer not in classes:
        raise ValueError(
            f"no book optimizer for tf.keras.optimizers.{optimizer}; "
            f"valid: {', '.join(classes)}"
        )
    book = _book_name(optimizer, hyper)
    valid = _KERAS_ARGS[book]
    bad = [k for k in hyper if k not in valid]
    if bad:
        raise ValueError(
            f"{optimizer} as the book runs it ({book}) takes no "
            f"{', '.join(bad)}; valid: {', '.join(valid)}"
        )
    state = list(OPTIMIZERS[book].updates)
    if variable not in state:
        raise ValueError(
            f"{optimizer} ({book}) keeps no variable {variable!r}; "
            f"valid: {', '.join(state)}"
        )
    return KerasRule(optimizer, dict(hyper), variable, dict(inputs or {}))


def updated_variable(f: Formula) -> str | None:
    """The input an update rule gives the next value of, read off its output:
    ``θ'`` from ``theta``, ``m'`` from ``m``.  None if ``f`` is not one."""
    out = f.output.strip()
    if not out.endswith("'"):
        return None
    base = out[:-1].strip().lstrip("\\")
    return base if base in f.input_names else None


def optimizer_of(f: Formula) -> tuple[Optimizer, str] | None:
    """The book's optimizer whose Keras counterpart ``f`` claims to be, and the
    variable it gives: from its declaration (:func:`keras_rule`), never its name."""
    rule = f.keras
    if isinstance(rule, KerasRule):
        return rule.book, rule.variable
    return None


def trajectory(
    opt: Optimizer,
    theta0: np.ndarray,
    gradient: Callable | np.ndarray,
    steps: int | None = None,
    *,
    replace: dict[str, Formula] | None = None,
    **hyper,
) -> dict[str, np.ndarray]:
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
