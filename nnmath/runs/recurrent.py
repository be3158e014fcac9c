"""Recurrent classifiers trained on real sequences with nnmath's own formulas:
scikit-learn's digits read row by row, 8 steps of 8 pixels, into 10 classes.

The model is an unrolled network (``rnn``, ``lstm`` or ``gru`` of
:mod:`nnmath.library.recurrent`) from a zero initial state, a ``dense`` readout
on its last hidden state and ``categorical_crossentropy_logits``::

    s_t = cell(x_t, s_{t−1}),  z = dense(h_{T−1}),  L = CE(softmax(z), y)

Forward, the cell's generated NumPy runs once per step; backward, the loss's
and the dense layer's claims give ∂L/∂h_{T−1}, and backpropagation through
time (:func:`nnmath.recurrence.backpropagate`) runs the cell's claims over the
steps.  Every formula and every claim gradient is prepared once per batch shape
(:meth:`~nnmath.formula.Formula.prepare`): the cell runs T times a batch.
The update is the registered ``sgd``, optionally after ``clip_by_norm`` on each
variable's gradient, as Keras's ``SGD(clipnorm=…)`` does.  Nothing here imports
TensorFlow: :func:`nnmath.checker.oracle.train_rnn_keras` trains the same model
with Keras's ``fit`` from the same weights and in the same batch order.

:func:`gradient_norms` measures ‖∂L/∂h_t‖ at every step (the vanishing
gradient), and :func:`exploding` the weights' gradient norms as the recurrent
kernel is scaled up, with and without clipping.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import numpy as np

from ..claim import UPSTREAM
from ..library.recurrent import (
    NETWORKS,
    cell_claims,
    keras_initial_bias,
    unrolled_network,
)
from ..prepared import prepare_together
from ..recurrence import SEQUENCE, backpropagate, taking
from ..registry import claim, formula
from .data import bundled
from .training import epoch_orders, flatten, glorot_uniform, minibatches, unflatten

__all__ = [
    "Classifier",
    "Run",
    "Sequences",
    "digit_rows",
    "exploding",
    "trained",
    "gradient_norms",
    "init_params",
    "train",
]

#: the gates each network's kernels hold side by side
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
#: SGD's step per network, chosen on the training loss (no momentum: the
#: SimpleRNN's loss still jumps at 0.1, and is slower at 0.05; the GRU's,
#: clipped to norm 1, jumps at 1.0: 0.78 after 9 epochs, from 0.12)
LEARNING_RATE = {"rnn": 0.1, "lstm": 1.0, "gru": 0.5}
LOSS = "categorical_crossentropy_logits"
READOUT = ("W_out", "b_out")


@dataclass(frozen=True)
class Sequences:
    """Images as sequences of rows, (N, T, F), pixels scaled to [0, 1]; targets
    one-hot; a seeded train/test split."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def subset(self, train: int, test: int | None = None) -> Sequences:
        """The first ``train`` training and ``test`` test sequences (tests)."""
        test = len(self.x_test) if test is None else test
        return Sequences(
            self.x_train[:train],
            self.y_train[:train],
            self.x_test[:test],
            self.y_test[:test],
        )


def digit_rows(*, test_fraction: float = 0.25, seed: int = 0) -> Sequences:
    """scikit-learn's 8×8 digits (1,797 of them, shipped with it), each read top
    to bottom, one row of 8 pixels per step; pixels /16 (their maximum), so
    every input is in [0, 1], and a seeded split."""
    bunch = bundled("digits")
    x = np.asarray(bunch.images, np.float64) / 16.0
    onehot = np.eye(len(bunch.target_names))[np.asarray(bunch.target)]
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = order[:n_test], order[n_test:]
    return Sequences(x[train], onehot[train], x[test], onehot[test])


def orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """A (rows, cols) matrix with orthonormal rows or columns, as Keras's
    ``Orthogonal`` initializer draws its recurrent kernels (QR of a Gaussian,
    signs fixed by R's diagonal)."""
    a = rng.normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    return q if rows >= cols else q.T


def init_params(
    network: str, features: int, units: int, classes: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """Keras's defaults: a Glorot-uniform kernel (F, kH), an orthogonal
    recurrent kernel (H, kH), a zero bias (the LSTM's forget gate's at 1,
    ``unit_forget_bias``; the GRU's of two rows), a Glorot-uniform readout
    W_out[out, in] and zero b_out."""
    if network not in GATES:
        raise ValueError(
            f"unknown recurrent classifier {network!r}; valid: {', '.join(GATES)}"
        )
    rng = np.random.default_rng(seed)
    k = GATES[network]
    return {
        "W": glorot_uniform(
            rng, (features, k * units), fan_in=features, fan_out=k * units
        ),
        "U": orthogonal(rng, units, k * units),
        "b": _initial_bias(network, units),
        "W_out": glorot_uniform(rng, (classes, units), fan_in=units, fan_out=classes),
        "b_out": np.zeros(classes),
    }


def _initial_bias(network: str, units: int) -> np.ndarray:
    """Keras's initial bias: zeros, the LSTM's forget gate's at 1
    (``unit_forget_bias``), the GRU's two rows (2, 3H) (``reset_after``)."""
    if network == "lstm":
        return keras_initial_bias(units)
    if network == "gru":
        return np.zeros((2, GATES["gru"] * units))
    return np.zeros(units)


@dataclass(frozen=True)
class Calls:
    """What a pass calls: the cell, each cell input's claim gradient, the
    readout, its claims and the loss's claim; formulas' ``numpy`` or prepared."""

    cell: Callable[..., np.ndarray]
    cell_grads: dict[str, Callable[..., np.ndarray]] | Callable[..., dict]
    dense: Callable[..., np.ndarray]
    dense_grads: dict[str, Callable[..., np.ndarray]]
    dz: Callable[..., np.ndarray]


class Classifier:
    """An unrolled ``rnn``, ``lstm`` or ``gru`` from a zero state, a dense
    readout on the last hidden state, softmax cross-entropy; forward by the
    formulas, backward by the claims."""

    def __init__(self, network: str = "rnn", claims: dict | None = None):
        """``claims``: the cell's claims backward runs, by the input each is
        about (the registered ones by default; a printed error's, to measure
        what its gradient gets wrong on real data)."""
        if network not in GATES:
            raise ValueError(
                f"unknown recurrent classifier {network!r}; valid: {', '.join(GATES)}"
            )
        self.name = network
        self.net = unrolled_network(network)
        self.claims = claims or cell_claims(NETWORKS[network])
        self.dense, self.loss_formula = formula("dense"), formula(LOSS)
        self.dense_claims = {w: claim(f"dense/d{w}").gradient for w in ("W", "b", "x")}
        self.dz = claim(f"{LOSS}/dz").gradient
        cell = self.net.cell.input_names
        self.calls = Calls(
            self.net.cell.numpy,
            {
                w: taking(c.gradient.input_names, c.gradient.numpy, cell)
                for w, c in self.claims.items()
            },
            self.dense.numpy,
            {w: g.numpy for w, g in self.dense_claims.items()},
            self.dz.numpy,
        )

    @property
    def width(self) -> int:
        """States side by side in the cell's output: 1 (h) or 2 ([h | c])."""
        return len(self.net.states)

    def prepare(self, p: dict, batch: int) -> Classifier:
        """This classifier with every call prepared for ``batch`` sequences and
        the shapes of ``p``: the same numbers, each call a few shape comparisons
        in front of its NumPy (:mod:`nnmath.prepared`)."""
        F, H = p["W"].shape[0], p["U"].shape[0]
        C = p["W_out"].shape[0]
        step = {SEQUENCE: (batch, F), **{s: (batch, H) for s, _ in self.net.states}}
        step.update({w: np.shape(p[w]) for w in self.net.weights})
        shapes = {**step, UPSTREAM: (batch, self.width * H)}
        # the claims' gradients at a step all start from the same gates: one
        # function computes them together, each gate once
        wrt = list(self.claims)
        together = prepare_together(
            f"{self.net.cell.name}_gradients",
            [self.claims[w].gradient for w in wrt],
            shapes,
        )
        names = list(
            dict.fromkeys(n for w in wrt for n in self.claims[w].gradient.input_names)
        )

        def grads(**at: np.ndarray) -> dict[str, np.ndarray]:
            return dict(zip(wrt, together(**{n: at[n] for n in names})))

        dense = {"x": (batch, H), "W": (C, H), "b": (C,)}
        new = copy.copy(self)
        new.calls = Calls(
            self.net.cell.prepare(**step),
            grads,
            self.dense.prepare(**dense),
            {w: g.prepare(**dense, g=(batch, C)) for w, g in self.dense_claims.items()},
            self.dz.prepare(z=(batch, C), y=(batch, C)),
        )
        return new

    def _initial(self, p: dict, n: int) -> dict[str, np.ndarray]:
        H = p["U"].shape[0]
        return {i: np.zeros((n, H)) for _, i in self.net.states}

    def forward(self, p: dict, x: np.ndarray) -> dict:
        """The outputs at every step, the cell's inputs at every step, the last
        hidden state and the logits."""
        arrays = {SEQUENCE: x, **self._initial(p, len(x))}
        arrays.update({w: p[w] for w in self.net.weights})
        out, steps = self.net.run(arrays, cell=self.calls.cell)
        H = p["U"].shape[0]
        last = out[:, -1, :H]
        logits = self.calls.dense(x=last, W=p["W_out"], b=p["b_out"])
        return {"out": out, "steps": steps, "last": last, "logits": logits}

    def loss(self, p: dict, x: np.ndarray, y: np.ndarray) -> float:
        return float(self.loss_formula.numpy(z=self.forward(p, x)["logits"], y=y))

    def backward(
        self, p: dict, x: np.ndarray, y: np.ndarray, *, inputs: bool = False
    ) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
        """(∂L/∂ every parameter, ∂L/∂s_t at every step): the loss's claim, the
        readout's claims, then the cell's claims back through time."""
        c, call = self.forward(p, x), self.calls
        d = {"x": c["last"], "W": p["W_out"], "b": p["b_out"]}
        dz = call.dz(z=c["logits"], y=y)
        grads = {
            "W_out": call.dense_grads["W"](**d, g=dz),
            "b_out": call.dense_grads["b"](**d, g=dz),
        }
        g = np.zeros_like(c["out"])  # the loss reads the last h only
        H = p["U"].shape[0]
        g[:, -1, :H] = call.dense_grads["x"](**d, g=dz)
        through, ups = backpropagate(
            self.net, call.cell_grads, c["steps"], g, inputs=inputs
        )
        grads.update(through)
        return grads, ups

    def predict(self, p: dict, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(p, x)["logits"], axis=1)

    def accuracy(self, p: dict, x: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(p, x) == np.argmax(y, axis=1)))


@dataclass
class Run:
    """A finished run: the training loss before the first step and after every
    epoch, the initial and final parameters, the test accuracy, each epoch's
    batch order and the seconds its steps took (losses left out, as in fit)."""

    network: str
    losses: list[float]
    initial: dict[str, np.ndarray]
    params: dict[str, np.ndarray]
    test_accuracy: float
    orders: list[np.ndarray] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    learning_rate: float = 0.0


def clipped(grads: dict, clip: Callable[..., np.ndarray] | None) -> dict:
    """Each variable's gradient clipped on its own, as Keras's ``clipnorm``."""
    if clip is None:
        return grads
    return {k: clip(v=g.ravel()).reshape(g.shape) for k, g in grads.items()}


def train(
    data: Sequences,
    network: str = "rnn",
    *,
    units: int = 32,
    epochs: int = 3,
    batch_size: int = 32,
    learning_rate: float | None = None,
    clipnorm: float | None = None,
    seed: int = 0,
    params: dict | None = None,
) -> Run:
    """Mini-batch SGD in float64 (optionally with ``clip_by_norm`` on each
    variable's gradient), batches in :func:`epoch_orders`' order;
    ``learning_rate`` by default the network's :data:`LEARNING_RATE`."""
    model = Classifier(network)
    if learning_rate is None:
        learning_rate = LEARNING_RATE[network]
    x, y = data.x_train, data.y_train
    p = params or init_params(network, x.shape[2], units, y.shape[1], seed)
    names = ("W", "U", "b", *READOUT)
    p = {k: np.array(p[k], dtype=np.float64) for k in names}
    initial = {k: v.copy() for k, v in p.items()}
    orders = epoch_orders(len(x), epochs, seed)
    sizes = {len(b) for b in minibatches(np.arange(len(x)), batch_size)}
    models = {n: model.prepare(p, n) for n in sizes}
    theta = flatten(p, p)
    sgd = formula("sgd", learning_rate=learning_rate).prepare(
        theta=theta.shape, g=theta.shape
    )
    clip = None if clipnorm is None else formula("clip_by_norm", clipnorm=clipnorm)
    losses, seconds = [model.loss(p, x, y)], []
    for order in orders:
        start = time.perf_counter()
        for idx in minibatches(order, batch_size):
            grads, _ = models[len(idx)].backward(p, x[idx], y[idx])
            theta = sgd(
                theta=theta, g=flatten(clipped(grads, clip.numpy if clip else None), p)
            )
            p = unflatten(theta, p)
        seconds.append(time.perf_counter() - start)
        losses.append(model.loss(p, x, y))
    accuracy = model.accuracy(p, data.x_test, data.y_test)
    return Run(network, losses, initial, p, accuracy, orders, seconds, learning_rate)


def gradient_norms(
    network: str, p: dict, x: np.ndarray, y: np.ndarray
) -> dict[str, np.ndarray]:
    """‖∂L/∂h_t‖ for t = 0 … T − 1 (the Frobenius norm over the batch, L the
    batch's mean cross-entropy): how much of the loss's gradient reaches each
    step, by backpropagation through time.  For the LSTM also the gradient
    that reaches c_t along the cell state from the steps after it (c_t's block
    of the upstream gₜ + δ_{t+1}; 0 at the last step, since the loss reads h
    only; its path through h_t is counted in ∂L/∂h_t)."""
    model = Classifier(network)
    _, ups = model.backward(p, x, y)
    out, H = {}, p["U"].shape[0]
    for block, (state, _) in enumerate(model.net.states):
        out[state] = np.array(
            [np.linalg.norm(up[:, block * H : (block + 1) * H]) for up in ups]
        )
    return out


def exploding(
    p: dict,
    x: np.ndarray,
    y: np.ndarray,
    scales: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0),
    *,
    clipnorm: float = 1.0,
) -> dict[str, np.ndarray]:
    """A SimpleRNN's recurrent kernel U scaled by each of ``scales``: the norm
    of ∂L/∂U, of ∂L/∂h_t at the first step t = 0, and of ∂L/∂U after
    ``clip_by_norm`` (what ``SGD(clipnorm=…)`` steps by)."""
    model = Classifier("rnn")
    clip = formula("clip_by_norm", clipnorm=clipnorm)
    dU, first, clipped_dU = [], [], []
    for s in scales:
        q = {**p, "U": s * p["U"]}
        grads, ups = model.backward(q, x, y)
        dU.append(np.linalg.norm(grads["U"]))
        first.append(np.linalg.norm(ups[0]))
        clipped_dU.append(np.linalg.norm(clip.numpy(v=grads["U"].ravel())))
    return {
        "scales": np.asarray(scales, np.float64),
        "dU": np.array(dU),
        "first": np.array(first),
        "clipped_dU": np.array(clipped_dU),
    }


#: the book's runs (chapter 11): 16 units, 10 epochs of SGD at the network's
#: learning rate, each variable's gradient clipped to norm 1 (the LSTM's loss
#: jumps without it); measured 1.0 s (SimpleRNN), 3.2 s (LSTM), 5.5 s (GRU)
BOOK_UNITS, BOOK_EPOCHS, BOOK_CLIPNORM = 16, 10, 1.0


@lru_cache(maxsize=None)
def trained(network: str) -> Run:
    """The book's classifier ``network`` (rnn, lstm, gru) on the digits,
    trained once per process and kept in memory: no weight file is ever
    written."""
    return train(
        digit_rows(),
        network,
        units=BOOK_UNITS,
        epochs=BOOK_EPOCHS,
        clipnorm=BOOK_CLIPNORM,
    )
