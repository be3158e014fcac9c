"""The digits perceptron with batch normalization or dropout, trained with
nnmath's formulas (forward) and claims (backward).

* :class:`BatchNormNetwork`: x → dense(W1, b1) → batch_norm(γ, β) → f →
  dense(W2, b2) → softmax cross-entropy.  In training each batch is normalised
  by its own statistics and moves the moving mean and variance (the registered
  update formulas); evaluation uses ``batch_norm_inference`` with the moving
  statistics, as Keras's ``model(x)`` does.
* :class:`DropoutNetwork`: x → dense(W1, b1) → f → dropout(mask) → dense(W2, b2)
  → softmax cross-entropy; the masks are drawn here (keep where u ≥ rate, as
  TensorFlow does), and evaluation is dropout at inference, the identity.

The backward passes chain the claims' gradient formulas, as
:class:`nnmath.training.Network` does; the update is the registered ``sgd``.
Nothing here imports TensorFlow: :func:`nnmath.checker.oracle.train_keras` trains the
same networks in Keras.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import numpy as np

from ..library.mlp import HEADS, check_network
from ..registry import claim, formula
from .training import Dataset, epoch_orders, init_params, minibatches, sgd_step

__all__ = [
    "BatchNormNetwork",
    "DropoutNetwork",
    "RegularizedRun",
    "decay_race",
    "draw_masks",
    "init_batch_norm",
    "shifted_quadratic",
    "train_batch_norm",
    "train_dropout",
]

#: Keras's starting moving statistics: mean 0, variance 1
STATE = ("moving_mean", "moving_variance")


class _Head:
    """The layers both networks share: dense layers, the hidden activation and the
    loss on logits, with the claims' gradients of each."""

    def __init__(self, activation: str, head: str):
        check_network(activation, head)
        self.activation, self.head = activation, head
        self.dense, self.f = formula("dense"), formula(activation)
        self.loss_formula = formula(HEADS[head])
        self.delta2 = claim(f"{HEADS[head]}/dz").gradient
        self.dW, self.db, self.dx = (
            claim(f"dense/{w}").gradient for w in ("dW", "db", "dx")
        )
        self.fprime = claim(f"{activation}'").gradient

    def top(self, p: dict, a1: np.ndarray, z2: np.ndarray, y: np.ndarray) -> dict:
        """δ₂, the second layer's gradients and ∂L/∂a₁."""
        d2 = self.delta2.numpy(z=z2, y=y)
        top = {"x": a1, "W": p["W2"], "b": p["b2"], "g": d2}
        return {
            "W2": self.dW.numpy(**top),
            "b2": self.db.numpy(**top),
            "a1": self.dx.numpy(**top),
        }

    def bottom(self, p: dict, x: np.ndarray, dz1: np.ndarray) -> dict:
        bottom = {"x": x, "W": p["W1"], "b": p["b1"], "g": dz1}
        return {"W1": self.dW.numpy(**bottom), "b1": self.db.numpy(**bottom)}


class BatchNormNetwork(_Head):
    """dense → batch norm → f → dense → (softmax | σ), Keras's defaults for batch
    norm (ε = 1e-3, momentum 0.99)."""

    def __init__(self, activation: str = "tanh", head: str = "softmax"):
        super().__init__(activation, head)
        self.bn, self.bn_inference = (
            formula("batch_norm"),
            formula("batch_norm_inference"),
        )
        self.moving = {s: formula(f"batch_norm_{s}") for s in STATE}
        self.bn_grads = {
            w: claim(f"batch_norm/d{w}").gradient for w in ("x", "gamma", "beta")
        }

    def forward(self, p: dict, x: np.ndarray) -> dict[str, np.ndarray]:
        """Training mode: the batch's own statistics."""
        z1 = self.dense.numpy(x=x, W=p["W1"], b=p["b1"])
        u = self.bn.numpy(x=z1, gamma=p["gamma"], beta=p["beta"])
        a1 = self.f.numpy(z=u)
        z2 = self.dense.numpy(x=a1, W=p["W2"], b=p["b2"])
        return {"z1": z1, "u": u, "a1": a1, "z2": z2}

    def moved(self, state: dict, z1: np.ndarray) -> dict[str, np.ndarray]:
        """The moving statistics after a training call on pre-activations z1."""
        return {s: f.numpy(**{s: state[s], "x": z1}) for s, f in self.moving.items()}

    def logits(self, p: dict, state: dict, x: np.ndarray) -> np.ndarray:
        """Inference: normalised by the moving statistics."""
        z1 = self.dense.numpy(x=x, W=p["W1"], b=p["b1"])
        u = self.bn_inference.numpy(x=z1, gamma=p["gamma"], beta=p["beta"], **state)
        return self.dense.numpy(x=self.f.numpy(z=u), W=p["W2"], b=p["b2"])

    def loss(self, p: dict, state: dict, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss_formula.numpy(z=self.logits(p, state, x), y=y))

    def backward(
        self, p: dict, x: np.ndarray, y: np.ndarray, cache: dict | None = None
    ) -> dict[str, np.ndarray]:
        """∂L/∂(W2, b2, γ, β, W1, b1): δ₂, the dense claims, f′, then batch norm's
        three-path ∂L/∂x and its ∂L/∂γ, ∂L/∂β."""
        c = cache or self.forward(p, x)
        grads = self.top(p, c["a1"], c["z2"], y)
        du = self.fprime.numpy(z=c["u"], g=grads.pop("a1"))
        at = {"x": c["z1"], "gamma": p["gamma"], "beta": p["beta"], "g": du}
        bn = {
            w: g.numpy(**{n: at[n] for n in g.input_names})
            for w, g in self.bn_grads.items()
        }
        return {
            **grads,
            "gamma": bn["gamma"],
            "beta": bn["beta"],
            **self.bottom(p, x, bn["x"]),
        }

    def predict(self, p: dict, state: dict, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.logits(p, state, x), axis=1)


def init_batch_norm(
    n_in: int, n_hidden: int, n_out: int, seed: int
) -> dict[str, np.ndarray]:
    """Keras's defaults: Glorot weights, zero biases, γ = 1, β = 0, moving mean 0
    and moving variance 1 (the last two are state, not trained)."""
    return {
        **init_params(n_in, n_hidden, n_out, seed),
        "gamma": np.ones(n_hidden),
        "beta": np.zeros(n_hidden),
        "moving_mean": np.zeros(n_hidden),
        "moving_variance": np.ones(n_hidden),
    }


class DropoutNetwork(_Head):
    """dense → f → dropout → dense → (softmax | σ)."""

    def __init__(self, rate: float, activation: str = "tanh", head: str = "softmax"):
        super().__init__(activation, head)
        self.rate = rate
        self.drop = formula("dropout", rate=rate)
        self.identity = formula("dropout", rate=rate, training=False)
        self.ddrop = _at_rate(claim("dropout/dx"), rate)

    def forward(
        self, p: dict, x: np.ndarray, mask: np.ndarray | None
    ) -> dict[str, np.ndarray]:
        """Training with ``mask``; inference (the identity) when it is None."""
        z1 = self.dense.numpy(x=x, W=p["W1"], b=p["b1"])
        a1 = self.f.numpy(z=z1)
        d1 = (
            self.identity.numpy(x=a1)
            if mask is None
            else self.drop.numpy(x=a1, mask=mask)
        )
        return {
            "z1": z1,
            "a1": a1,
            "d1": d1,
            "z2": self.dense.numpy(x=d1, W=p["W2"], b=p["b2"]),
        }

    def loss(self, p: dict, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss_formula.numpy(z=self.forward(p, x, None)["z2"], y=y))

    def backward(
        self,
        p: dict,
        x: np.ndarray,
        y: np.ndarray,
        mask: np.ndarray,
        cache: dict | None = None,
    ) -> dict[str, np.ndarray]:
        c = cache or self.forward(p, x, mask)
        grads = self.top(p, c["d1"], c["z2"], y)
        da1 = self.ddrop.numpy(x=c["a1"], mask=mask, g=grads.pop("a1"))
        dz1 = self.fprime.numpy(z=c["z1"], g=da1)
        return {**grads, **self.bottom(p, x, dz1)}

    def predict(self, p: dict, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(p, x, None)["z2"], axis=1)


def _at_rate(c, rate: float):
    """The dropout claim's gradient formula with p bound to ``rate``: the claim
    is proved with p a symbol, so it holds at every rate."""
    g = c.gradient
    return dataclasses.replace(g, constants={**g.constants, "p": float(rate)})


def draw_masks(rng: np.random.Generator, shape: tuple, rate: float) -> np.ndarray:
    """A dropout mask: keep where a uniform draw is at least ``rate``, TensorFlow's
    rule (``random >= rate``), so each unit is kept with probability 1 − rate."""
    return (rng.uniform(size=shape) >= rate).astype(np.float64)


@dataclass
class RegularizedRun:
    """A finished run: the training loss (inference mode, as Keras evaluates
    ``model(x)``) before the first step and after every epoch, the final
    parameters (and moving statistics) and the test accuracy."""

    losses: list[float]
    params: dict[str, np.ndarray]
    test_accuracy: float
    seconds_per_epoch: list[float] = field(default_factory=list)


def train_batch_norm(
    data: Dataset,
    *,
    hidden: int,
    activation: str = "tanh",
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 0.125,
    seed: int = 0,
    params: dict | None = None,
    history: list | None = None,
) -> RegularizedRun:
    """Mini-batch SGD of :class:`BatchNormNetwork` in float64, batches in
    :func:`~nnmath.training.epoch_orders`' order.

    With a ``history`` list, each step appends the batch's own statistics of
    the pre-activations (``batch_mean``, ``batch_variance``) and the moving
    statistics after the step (``moving_mean``, ``moving_variance``)."""
    net = BatchNormNetwork(activation)
    # the update formulas at momentum 0 give the batch statistic itself
    batch_stats = {s: formula(f"batch_norm_{s}", momentum=0.0) for s in STATE}
    p = params or init_batch_norm(
        data.x_train.shape[1], hidden, data.y_train.shape[1], seed
    )
    p = {k: np.array(v, dtype=np.float64) for k, v in p.items()}
    state = {s: p.pop(s) for s in STATE}
    x, y = data.x_train, data.y_train
    losses, seconds = [net.loss(p, state, x, y)], []
    for order in epoch_orders(len(x), epochs, seed):
        start = time.perf_counter()
        for idx in minibatches(order, batch_size):
            cache = net.forward(p, x[idx])
            state = net.moved(state, cache["z1"])
            if history is not None:
                history.append(
                    {
                        **{
                            s.replace("moving", "batch"): f.numpy(
                                **{s: state[s], "x": cache["z1"]}
                            )
                            for s, f in batch_stats.items()
                        },
                        **{s: state[s].copy() for s in STATE},
                    }
                )
            p = sgd_step(
                p,
                {
                    k: v
                    for k, v in net.backward(p, x[idx], y[idx], cache).items()
                    if k in p
                },
                learning_rate,
            )
        seconds.append(time.perf_counter() - start)
        losses.append(net.loss(p, state, x, y))
    hits = net.predict(p, state, data.x_test) == np.argmax(data.y_test, axis=1)
    return RegularizedRun(losses, {**p, **state}, float(np.mean(hits)), seconds)


def train_dropout(
    data: Dataset,
    *,
    hidden: int,
    rate: float,
    activation: str = "tanh",
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 0.125,
    seed: int = 0,
    params: dict | None = None,
) -> RegularizedRun:
    """Mini-batch SGD of :class:`DropoutNetwork` in float64, a fresh seeded mask
    for every batch; the losses and the accuracy are at inference (no dropout)."""
    net = DropoutNetwork(rate, activation)
    p = params or init_params(
        data.x_train.shape[1], hidden, data.y_train.shape[1], seed
    )
    p = {k: np.array(v, dtype=np.float64) for k, v in p.items()}
    rng = np.random.default_rng([seed, 1])
    x, y = data.x_train, data.y_train
    losses, seconds = [net.loss(p, x, y)], []
    for order in epoch_orders(len(x), epochs, seed):
        start = time.perf_counter()
        for idx in minibatches(order, batch_size):
            mask = draw_masks(rng, (len(idx), hidden), rate)
            p = sgd_step(p, net.backward(p, x[idx], y[idx], mask), learning_rate)
        seconds.append(time.perf_counter() - start)
        losses.append(net.loss(p, x, y))
    hits = net.predict(p, data.x_test) == np.argmax(data.y_test, axis=1)
    return RegularizedRun(losses, p, float(np.mean(hits)), seconds)


# -- L2 through Adam against AdamW ---------------------------------------------
def shifted_quadratic(A: np.ndarray, center) -> tuple:
    """L(θ) = ½(θ − c)ᵀA(θ − c) and its gradient A(θ − c): the registered
    quadratic and its proved gradient, read at θ − c (the chain rule through a
    shift is the identity), so that the minimum is away from 0, where a decay
    towards 0 has something to pull against."""
    from .trajectories import quadratic_gradient, quadratic_loss

    c = np.asarray(center, dtype=np.float64)
    loss, grad = quadratic_loss(A), quadratic_gradient(A)
    return (lambda theta: loss(theta - c)), (lambda theta: grad(theta - c))


def decay_race(
    A: np.ndarray,
    center,
    theta0,
    steps: int,
    *,
    learning_rate: float,
    weight_decay: float,
) -> dict[str, dict[str, np.ndarray]]:
    """Adam with an L2 penalty against AdamW on the shifted quadratic, every
    state variable after each step (:func:`~nnmath.update_rules.trajectory`).

    ``"l2"``: Keras's ``L2(weight_decay/2)`` added to the loss, so its gradient
    (the ``l2_penalty/dw`` claim) is ``weight_decay·θ``, and Adam is fed
    ∇L + weight_decay·θ: with plain SGD that is exactly weight decay.
    ``"adamw"``: Adam on ∇L alone, θ shrunk by η·weight_decay·θ before each
    step (the registered ``adamw``)."""
    from ..update_rules import optimizer, trajectory

    _, grad = shifted_quadratic(A, center)
    l2 = weight_decay / 2
    penalty = claim("l2_penalty/dw").gradient
    # the claim is proved with λ a symbol, so it holds at every λ
    penalty = dataclasses.replace(
        penalty, constants={**penalty.constants, "lamda": float(l2)}
    )

    def penalised(theta: np.ndarray) -> np.ndarray:
        return grad(theta) + penalty.numpy(w=theta[None, :])[0]

    return {
        "l2": trajectory(
            optimizer("adam"), theta0, penalised, steps, learning_rate=learning_rate
        ),
        "adamw": trajectory(
            optimizer("adamw"),
            theta0,
            grad,
            steps,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
        ),
    }
