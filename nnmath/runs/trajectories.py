"""Gradient-descent runs as sequences of formula evaluations: the runs the
book shows (linear regression by the batch, mini-batch and stochastic rules, the
optimizers racing on a quadratic bowl), computed here so that no scene computes
maths.  Every gradient is a proved claim's, every step a registered update rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import claim, formula
from ..update_rules import THETA, optimizer, trajectory

__all__ = [
    "CLASSIC_X",
    "CLASSIC_Y",
    "RULES",
    "DescentRun",
    "descend",
    "linreg_hessian",
    "linreg_loss",
    "quadratic_gradient",
    "quadratic_loss",
    "race",
    "sample_gradients",
    "stability_limit",
    "surface",
    "tutorial_error_matrix",
]


# -- gradient descent on linear regression -------------------------------------
#: the classic worked example: three points on the line y = 2x
CLASSIC_X = np.array([1.0, 2.0, 3.0])
CLASSIC_Y = np.array([2.0, 4.0, 6.0])
#: variant → the registered update rule
RULES = {
    "batch": "gd_batch",
    "mini-batch": "gd_minibatch",
    "stochastic": "gd_stochastic",
}


def sample_gradients(x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``G[n] = (∂ℓ_n/∂w, ∂ℓ_n/∂b)``: the proved gradient claims on sample n alone."""
    dw, db = (claim(f"linreg_mse/{v}").gradient for v in ("dw", "db"))
    w, b = theta
    rows = []
    for n in range(len(x)):
        one = {"x": x[n : n + 1], "y": y[n : n + 1], "w": w, "b": b}
        rows.append((dw.numpy(**one), db.numpy(**one)))
    return np.array(rows, dtype=np.float64)


def linreg_loss(x: np.ndarray, y: np.ndarray, theta: np.ndarray) -> float:
    return float(formula("linreg_mse").numpy(x=x, y=y, w=theta[0], b=theta[1]))


@dataclass(frozen=True)
class DescentRun:
    """A gradient-descent run: θ = (w, b) and the full-data loss before each step
    and after the last, the samples each step used and their gradients."""

    variant: str
    learning_rate: float
    theta: np.ndarray  # (steps + 1, 2)
    loss: np.ndarray  # (steps + 1,)
    batches: tuple  # per step, the sample indices used
    grads: tuple  # per step, G as the rule received it


def _batches(n: int, size: int, steps: int, rng: np.random.Generator) -> list:
    """Mini-batches in epochs: each epoch a fresh shuffle, cut into ``size``s (the
    last one shorter when ``size`` does not divide n); the full batch in order."""
    if size == n:
        return [np.arange(n)] * steps
    out: list = []
    while len(out) < steps:
        order = rng.permutation(n)
        out += [order[k : k + size] for k in range(0, n, size)]
    return out[:steps]


def descend(
    x: np.ndarray,
    y: np.ndarray,
    theta0,
    learning_rate: float,
    steps: int,
    variant: str = "batch",
    batch_size: int = 2,
    seed: int = 0,
) -> DescentRun:
    """``steps`` updates of linear regression by the variant's registered rule."""
    if variant not in RULES:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(RULES)}")
    rule = formula(RULES[variant], learning_rate=learning_rate)
    size = {"batch": len(x), "mini-batch": batch_size, "stochastic": 1}[variant]
    theta = np.asarray(theta0, dtype=np.float64)
    thetas, losses = [theta], [linreg_loss(x, y, theta)]
    batches = _batches(len(x), size, steps, np.random.default_rng(seed))
    grads = []
    with np.errstate(over="ignore", invalid="ignore"):  # a divergent run is a result
        for idx in batches:
            G = sample_gradients(x[idx], y[idx], theta)
            G = G[0] if variant == "stochastic" else G
            theta = rule.numpy(theta=theta, G=G)
            grads.append(G)
            thetas.append(theta)
            losses.append(linreg_loss(x, y, theta))
    return DescentRun(
        variant,
        learning_rate,
        np.stack(thetas),
        np.array(losses),
        tuple(tuple(int(i) for i in b) for b in batches),
        tuple(grads),
    )


def linreg_hessian(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The loss's curvature, read off the proved gradient: it is affine in θ, so
    its differences along (1, 0) and (0, 1) are exact columns of the Hessian."""

    def grad(theta):
        return sample_gradients(x, y, theta).mean(axis=0)

    g0 = grad(np.zeros(2))
    return np.stack([grad(e) - g0 for e in np.eye(2)], axis=1)


def stability_limit(x: np.ndarray, y: np.ndarray) -> float:
    """Batch gradient descent on a quadratic loss converges exactly when
    η < 2/λ_max of the Hessian; beyond it the steepest direction overshoots more
    each step than it corrects."""
    return float(2.0 / np.linalg.eigvalsh(linreg_hessian(x, y)).max())


def tutorial_error_matrix(
    x_column: np.ndarray, y: np.ndarray, w: float, b: float
) -> np.ndarray:
    """What ``w*X + b - y`` gives in NumPy for X of shape (N, 1) and y of shape (N,):
    the tutorial bug, kept to show it.  It broadcasts to an N×N matrix whose entry
    (i, j) pairs input i with target j."""
    return w * x_column + b - y


def surface(
    loss: Callable[[np.ndarray], float], xs: np.ndarray, ys: np.ndarray
) -> np.ndarray:
    """``loss((x, y))`` on a grid, ``Z[row j, column i]`` at ``(xs[i], ys[j])``."""
    return np.array([[loss(np.array([a, b])) for a in xs] for b in ys])


# -- optimizers on a 2-D loss ----------------------------------------------------
def quadratic_gradient(A: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """∇L for L = ½θᵀAθ, from the proved claim."""
    grad = claim("quadratic/dtheta").gradient
    return lambda theta: grad.numpy(theta=theta, A=A)


def quadratic_loss(A: np.ndarray) -> Callable[[np.ndarray], float]:
    f = formula("quadratic")
    return lambda theta: float(f.numpy(theta=theta, A=A))


def race(
    A: np.ndarray, theta0, steps: int, settings: dict[str, dict]
) -> dict[str, np.ndarray]:
    """Each optimizer's θ path on L = ½θᵀAθ: ``settings`` maps an optimizer name to
    its hyperparameters."""
    grad = quadratic_gradient(A)
    return {
        name: trajectory(optimizer(name), theta0, grad, steps, **hyper)[THETA]
        for name, hyper in settings.items()
    }
