"""A small convolutional network for scikit-learn's 8×8 digits, built from the book's
own formulas and trained with their claimed gradients.

The network is the one chapter 8 shows::

    x (8×8×1) → conv2d 3×3, 8 filters, 'same' → ReLU → max-pool 2×2
      → flatten (4·4·8 = 128) → dense (10 logits) → softmax cross-entropy

Nothing here is written twice: the forward pass evaluates registered formulas
(``Formula.numpy``) and the backward pass chains the registered claims'
gradients (``Claim.gradient.numpy``), the same objects ``nnbook verify`` proves
symbolically, against TensorFlow and by finite differences.  Training is plain
mini-batch descent with Keras's Adam, as the registered update formulas.  No Manim, no
TensorFlow: importable and testable anywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

import numpy as np

from ..registry import claim, formula
from ..update_rules import THETA, optimizer
from .data import bundled, stratified_split
from .training import epoch_orders, glorot_uniform

__all__ = [
    "CNN",
    "Split",
    "Trained",
    "digits_split",
    "train",
    "trained",
]

#: seeds the data split, the initial weights and the order of the mini-batches
SEED = 0
#: digit pixels are integers 0..16; the network sees them divided by this
PIXEL_MAX = 16.0


@dataclass(frozen=True)
class CNN:
    """The architecture: sizes only; the weights are passed around as a dict
    ``{"w": (3, 3, 1, F), "b": (F,), "W": (10, 16F), "c": (10,)}``."""

    filters: int = 8
    kernel: int = 3
    pool: int = 2
    classes: int = 10
    image: int = 8

    # -- the formulas and claims the network is made of -------------------
    @cached_property
    def conv(self):
        return formula("conv2d", stride=1, padding="same")

    @cached_property
    def max_pool(self):
        return formula("max_pool2d", pool_size=self.pool, stride=self.pool)

    @property
    def features(self) -> int:
        """Length of the flattened, pooled feature maps."""
        side = self.image // self.pool
        return side * side * self.filters

    def init(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Keras's defaults: Glorot-uniform kernels, zero biases."""
        k, f, classes, features = self.kernel, self.filters, self.classes, self.features
        return {
            "w": glorot_uniform(rng, (k, k, 1, f), fan_in=k * k, fan_out=k * k * f),
            "b": np.zeros(f),
            "W": glorot_uniform(
                rng, (classes, features), fan_in=features, fan_out=classes
            ),
            "c": np.zeros(classes),
        }

    # -- forward ------------------------------------------------------------
    def forward(self, params: dict[str, np.ndarray], x: np.ndarray) -> dict:
        """Every intermediate array of the forward pass on images ``x`` (N, 8, 8, 1)."""
        z1 = self.conv.numpy(x=x, w=params["w"], b=params["b"])
        a1 = _elementwise("relu", z1)
        p1 = self.max_pool.numpy(x=a1)
        f = formula("flatten").numpy(x=p1)
        z2 = formula("dense").numpy(x=f, W=params["W"], b=params["c"])
        probs = formula("softmax").numpy(z=z2)
        return {"x": x, "z1": z1, "a1": a1, "p1": p1, "f": f, "z2": z2, "p": probs}

    def loss(self, acts: dict, y: np.ndarray) -> float:
        """Mean categorical cross-entropy of the logits against one-hot ``y``."""
        return float(
            formula("categorical_crossentropy_logits").numpy(z=acts["z2"], y=y)
        )

    # -- backward -----------------------------------------------------------
    def backward(
        self, params: dict[str, np.ndarray], acts: dict, y: np.ndarray
    ) -> dict:
        """∂L/∂(each weight), by the chain rule over the claims' gradients, last
        layer first."""
        g = claim("categorical_crossentropy_logits/dz").gradient.numpy(
            z=acts["z2"], y=y
        )
        dense = {"x": acts["f"], "W": params["W"], "b": params["c"], "g": g}
        grads = {
            "W": claim("dense/dW").gradient.numpy(**dense),
            "c": claim("dense/db").gradient.numpy(**dense),
        }
        g = claim("dense/dx").gradient.numpy(**dense)
        g = claim("flatten/dx").gradient.numpy(x=acts["p1"], g=g)
        g = self._claim("max_pool2d/dx", self.max_pool).numpy(x=acts["a1"], g=g)
        g = _elementwise("relu'", acts["z1"], g)
        conv = {"x": acts["x"], "w": params["w"], "b": params["b"], "g": g}
        grads["w"] = self._claim("conv2d/dw", self.conv).numpy(**conv)
        grads["b"] = self._claim("conv2d/db", self.conv).numpy(**conv)
        return grads

    def _claim(self, name: str, built):
        """The gradient of claim ``name``, checked to be about the very formula
        (same parameters) this network evaluates forward."""
        c = claim(name)
        if c.formula.params != built.params:
            raise ValueError(
                f"claim {name} is about {c.formula.name}{c.formula.params}, "
                f"but the network uses {built.params}"
            )
        return c.gradient

    # -- use ------------------------------------------------------------------
    def predict(self, params: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(params, x)["z2"], axis=1)

    def accuracy(self, params: dict[str, np.ndarray], x: np.ndarray, labels) -> float:
        """The fraction of images whose largest logit is the true class."""
        return float(np.mean(self.predict(params, x) == np.asarray(labels)))


def _elementwise(name: str, z: np.ndarray, g: np.ndarray | None = None) -> np.ndarray:
    """An element-wise formula (``relu``) or its claim's gradient (``relu'``) on a
    tensor of any shape: the registered forms take (N, I), so flatten around them."""
    flat = z.reshape(len(z), -1)
    if g is None:
        out = formula(name).numpy(z=flat)
    else:
        out = claim(name).gradient.numpy(z=flat, g=g.reshape(flat.shape))
    return out.reshape(z.shape)


@dataclass(frozen=True)
class Split:
    """The digits, scaled to [0, 1], as NHWC images, split once, stratified."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    #: positions of the test images in ``load_digits()``
    test_index: np.ndarray


def digits_split(seed: int = SEED, test_size: float = 0.25) -> Split:
    """scikit-learn's bundled digits (nothing is downloaded), 75 % / 25 %."""
    digits = bundled("digits")
    x = (digits.images / PIXEL_MAX)[..., None]  # (1797, 8, 8, 1)
    tr, te = stratified_split(digits.target, test_size, seed)
    return Split(x[tr], digits.target[tr], x[te], digits.target[te], te)


@dataclass(frozen=True)
class Trained:
    """A trained network and how it got there."""

    cnn: CNN
    params: dict[str, np.ndarray] = field(repr=False)
    split: Split = field(repr=False)
    #: mean training loss of each epoch
    losses: tuple[float, ...]
    train_accuracy: float
    test_accuracy: float
    seconds: float
    epochs: int
    batch: int
    learning_rate: float


def train(
    cnn: CNN = CNN(),
    *,
    epochs: int = 6,
    batch: int = 32,
    learning_rate: float = 0.01,
    seed: int = SEED,
    split: Split | None = None,
) -> Trained:
    """Mini-batch training with Keras's Adam, every step from registered formulas.

    All weights form one vector θ, so one step is one evaluation of each of
    Adam's update formulas (``adam_m``, ``adam_v``, ``adam``) on the old state.
    """
    split = split or digits_split(seed)
    params = cnn.init(np.random.default_rng(seed))
    names = list(params)
    shapes = {k: params[k].shape for k in names}
    adam = optimizer("adam")
    rules = adam.formulas(learning_rate=learning_rate)
    state = adam.init(np.concatenate([params[k].ravel() for k in names]))
    onehot = np.eye(cnn.classes)[split.y_train]

    def unpack(theta: np.ndarray) -> dict[str, np.ndarray]:
        sizes = [int(np.prod(shapes[k])) for k in names]
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return {k: part.reshape(shapes[k]) for k, part in zip(names, parts)}

    start, losses = time.perf_counter(), []
    for order in epoch_orders(len(split.x_train), epochs, seed):
        epoch_loss = []
        for first in range(0, len(order), batch):
            idx = order[first : first + batch]
            params = unpack(state[THETA])
            acts = cnn.forward(params, split.x_train[idx])
            epoch_loss.append(cnn.loss(acts, onehot[idx]))
            grads = cnn.backward(params, acts, onehot[idx])
            g = np.concatenate([grads[k].ravel() for k in names])
            state = adam.step(state, g, rules)
        losses.append(float(np.mean(epoch_loss)))
    seconds = time.perf_counter() - start
    params = unpack(state[THETA])
    return Trained(
        cnn=cnn,
        params=params,
        split=split,
        losses=tuple(losses),
        train_accuracy=cnn.accuracy(params, split.x_train, split.y_train),
        test_accuracy=cnn.accuracy(params, split.x_test, split.y_test),
        seconds=seconds,
        epochs=epochs,
        batch=batch,
        learning_rate=learning_rate,
    )


@lru_cache(maxsize=1)
def trained() -> Trained:
    """The book's network, trained once per process (a few seconds) and kept in
    memory: no weight file is ever written."""
    return train()
