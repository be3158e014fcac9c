"""Training a two-layer perceptron on real data with nnmath's own formulas.

The forward pass evaluates the registered formulas (dense, the activation, the
loss on logits); the backward pass evaluates the *claims'* gradient formulas,
layer by layer, exactly as the chain rule of :mod:`nnmath.library.mlp` states
it: δ₂ from the loss claim, ∂W₂/∂b₂/∂a₁ from the dense claims, δ₁ from the
activation claim, then ∂W₁/∂b₁.  The update is the registered ``sgd`` formula.
Nothing here imports TensorFlow: :func:`nnmath.checker.oracle.train_keras` runs the same
training in Keras, from the same initial weights and in the same batch order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..library.mlp import HEADS, check_network
from ..registry import claim, formula
from .data import BUNDLED, bundled

__all__ = [
    "DATASETS",
    "Dataset",
    "Network",
    "Run",
    "accuracy",
    "epoch_orders",
    "glorot_uniform",
    "init_params",
    "load",
    "minibatches",
    "sgd_step",
    "train",
]

DATASETS = BUNDLED  # the datasets ``load`` knows
PARAMS = ("W1", "b1", "W2", "b2")


@dataclass(frozen=True)
class Dataset:
    """A seeded train/test split, standardized with the training set's statistics,
    targets one-hot."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]


def load(name: str, *, test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """``iris`` or ``digits``, split ``1 − test_fraction`` / ``test_fraction``."""
    bunch = bundled(name)
    x, labels = np.asarray(bunch.data, np.float64), np.asarray(bunch.target)
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    mean, std = x[train].mean(axis=0), x[train].std(axis=0)
    std = np.where(std > 0, std, 1.0)  # digits has pixels that are always 0
    onehot = np.eye(len(bunch.target_names))[labels]
    return Dataset(
        name,
        (x[train] - mean) / std,
        onehot[train],
        (x[test] - mean) / std,
        onehot[test],
        tuple(str(c) for c in bunch.target_names),
    )


def glorot_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], *, fan_in: int, fan_out: int
) -> np.ndarray:
    """Keras's default initialisation (``GlorotUniform``): uniform in
    ±sqrt(6 / (fan_in + fan_out))."""
    limit = np.sqrt(6 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape)


def init_params(
    n_in: int, n_hidden: int, n_out: int, seed: int
) -> dict[str, np.ndarray]:
    """Keras's defaults: Glorot-uniform weights (W[out, in]), zero biases."""
    rng = np.random.default_rng(seed)
    return {
        "W1": glorot_uniform(rng, (n_hidden, n_in), fan_in=n_in, fan_out=n_hidden),
        "b1": np.zeros(n_hidden),
        "W2": glorot_uniform(rng, (n_out, n_hidden), fan_in=n_hidden, fan_out=n_out),
        "b2": np.zeros(n_out),
    }


def epoch_orders(n: int, epochs: int, seed: int) -> list[np.ndarray]:
    """One seeded permutation of the training set per epoch: the batch order both
    the NumPy run and the Keras run follow."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(n) for _ in range(epochs)]


class Network:
    """dense → activation → dense → (softmax | σ) with cross-entropy, evaluated
    through the registered formulas and the claims' gradient formulas."""

    def __init__(self, activation: str = "tanh", head: str = "softmax"):
        check_network(activation, head)
        self.activation, self.head = activation, head
        self.dense, self.f = formula("dense"), formula(activation)
        self.loss_formula = formula(HEADS[head])
        # the gradients, as the claims state and the checker proves them
        self.delta2 = claim(f"{HEADS[head]}/dz").gradient
        self.dW, self.db, self.dx = (
            claim(f"dense/{w}").gradient for w in ("dW", "db", "dx")
        )
        self.fprime = claim(f"{activation}'").gradient

    def forward(self, p: dict, x: np.ndarray) -> dict[str, np.ndarray]:
        z1 = self.dense.numpy(x=x, W=p["W1"], b=p["b1"])
        a1 = self.f.numpy(z=z1)
        return {"z1": z1, "a1": a1, "z2": self.dense.numpy(x=a1, W=p["W2"], b=p["b2"])}

    def loss(self, p: dict, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss_formula.numpy(z=self.forward(p, x)["z2"], y=y))

    def backward(
        self, p: dict, x: np.ndarray, y: np.ndarray, cache: dict | None = None
    ) -> dict[str, np.ndarray]:
        """∂L/∂(W1, b1, W2, b2, z1, z2, x): the chain rule, one claim at a time."""
        c = cache or self.forward(p, x)
        d2 = self.delta2.numpy(z=c["z2"], y=y)  # δ₂ = (a₂ − y)/N
        top = {"x": c["a1"], "W": p["W2"], "b": p["b2"], "g": d2}
        d1 = self.fprime.numpy(
            z=c["z1"], g=self.dx.numpy(**top)
        )  # δ₁ = (δ₂W₂) ⊙ f′(z₁)
        bottom = {"x": x, "W": p["W1"], "b": p["b1"], "g": d1}
        return {
            "W2": self.dW.numpy(**top),
            "b2": self.db.numpy(**top),
            "z2": d2,
            "W1": self.dW.numpy(**bottom),
            "b1": self.db.numpy(**bottom),
            "z1": d1,
            "x": self.dx.numpy(**bottom),
        }

    def predict(self, p: dict, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(p, x)["z2"], axis=1)


def minibatches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into batches of ``batch_size``, the last one shorter when the
    size does not divide it: the batches Keras's ``fit`` takes with shuffle=False."""
    return [order[lo : lo + batch_size] for lo in range(0, len(order), batch_size)]


def sgd_step(params: dict, grads: dict, learning_rate: float) -> dict[str, np.ndarray]:
    """θ ← θ − ηg for every parameter, through the registered ``sgd`` formula."""
    rule = formula("sgd", learning_rate=learning_rate)
    return {
        k: rule.numpy(theta=v.ravel(), g=grads[k].ravel()).reshape(v.shape)
        for k, v in params.items()
    }


def accuracy(net: Network, params: dict, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(net.predict(params, x) == np.argmax(y, axis=1)))


@dataclass
class Run:
    """A finished training run: the training loss before the first step and after
    every epoch, the final parameters and the test accuracy."""

    losses: list[float]
    params: dict[str, np.ndarray]
    test_accuracy: float
    seconds_per_epoch: list[float] = field(default_factory=list)


def train(
    data: Dataset,
    *,
    hidden: int,
    activation: str = "tanh",
    head: str = "softmax",
    epochs: int = 5,
    batch_size: int = 32,
    learning_rate: float = 0.125,
    seed: int = 0,
    params: dict | None = None,
    net: Network | None = None,
) -> Run:
    """Mini-batch SGD in float64, batches taken in :func:`epoch_orders`' order; the
    last batch of an epoch is smaller when the batch size does not divide N.
    ``net`` replaces the network built from ``activation`` and ``head`` (tests
    pass a deliberately wrong one)."""
    import time

    net = net or Network(activation, head)
    p = params or init_params(
        data.x_train.shape[1], hidden, data.y_train.shape[1], seed
    )
    p = {k: np.array(p[k], dtype=np.float64) for k in PARAMS}
    x, y = data.x_train, data.y_train
    losses, seconds = [net.loss(p, x, y)], []
    for order in epoch_orders(len(x), epochs, seed):
        start = time.perf_counter()
        for idx in minibatches(order, batch_size):
            p = sgd_step(p, net.backward(p, x[idx], y[idx]), learning_rate)
        seconds.append(time.perf_counter() - start)
        losses.append(net.loss(p, x, y))
    return Run(losses, p, accuracy(net, p, data.x_test, data.y_test), seconds)
