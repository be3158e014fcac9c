"""The tutorials' own bugs, kept to show them.

Three mistakes the tutorials this book answers print, each kept twice: as the
NumPy the tutorials write (a plain function here, whose source the chapters
print and whose numbers they show), and as the formula or claim that code
states, for ``nnbook verify`` to reject.  Tests prove the two compute the same
numbers, so the checker judges exactly what the printed code does.

* :func:`cross_entropy`: the loss without Keras's clip (chapter 3);
* :func:`linear_regression`: the (3, 1)-against-(3,) broadcast (chapter 4);
* :func:`train_step`: the sigmoid's derivative taken at the activation instead
  of the pre-activation (chapter 5);
* :func:`rnn_backward`: a recurrent layer's weight gradients taken at the last
  step only, not accumulated over time (chapter 10).

Nothing here is registered: a mistake is never looked up by name as the book's.
Everything else in nnmath computes from formulas; these functions compute by
hand on purpose, because that is the bug.
"""

from __future__ import annotations

import dataclasses
import inspect
import textwrap

import numpy as np
import sympy as sp

from ..claim import Claim
from ..formula import Formula

__all__ = [
    "cross_entropy",
    "cross_entropy_formula",
    "d_hidden_claim",
    "dw_claim",
    "gradients",
    "last_step_claim",
    "linear_regression",
    "rnn_backward",
    "sigmoid",
    "sigmoid_derivative",
    "source",
    "train_step",
]


def source(*functions) -> str:
    """The functions' code as a reader sees it (what the chapters print)."""
    return "\n\n".join(textwrap.dedent(inspect.getsource(f)).strip() for f in functions)


# -- chapter 3: the cross-entropy without the clip ---------------------------------
def cross_entropy(p, y):
    return -np.sum(y * np.log(p)) / len(p)


def cross_entropy_formula() -> Formula:
    """What :func:`cross_entropy` claims to be: the categorical cross-entropy
    Keras trains with, written without Keras's clip (or its renormalization)."""
    from ..registry import formula

    keras = formula("categorical_crossentropy")
    n, k = sp.symbols("n k", integer=True, nonnegative=True)
    N, K = keras.dim_symbols["N"], keras.dim_symbols["K"]
    p, y = sp.IndexedBase("p"), sp.IndexedBase("y")
    return Formula(
        name="cross_entropy",
        title="The tutorials' cross-entropy: −Σ y log p / N",
        output="L",
        indices=(),
        inputs=keras.inputs,
        tf=keras.tf,
        output_shape=(),
        expr=-sp.Sum(y[n, k] * sp.log(p[n, k]), (n, 0, N - 1), (k, 0, K - 1)) / N,
    )


# -- chapter 4: X shaped (3, 1) against y shaped (3,) ----------------------------------
def gradients(X, y, w, b):
    error = w * X + b - y
    dw = 2 * np.mean(error * X)
    db = 2 * np.mean(error)
    return dw, db


def linear_regression(X, y, lr, epochs):
    w, b = 0.0, 0.0
    for _ in range(epochs):
        dw, db = gradients(X, y, w, b)
        w -= lr * dw
        b -= lr * db
    return w, b


def dw_claim() -> Claim:
    """What :func:`gradients` computes for ∂L/∂w when X is a (N, 1) column: every
    input paired with every target, (2/N²) Σᵢ Σⱼ (w xᵢ + b − yⱼ) xᵢ, claimed as
    the gradient of the mean squared error."""
    from ..registry import claim

    right = claim("linreg_mse/dw")
    f = right.formula
    n, j = sp.symbols("n j", integer=True, nonnegative=True)
    N = f.dim_symbols["N"]
    x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
    w, b = sp.Symbol("w"), sp.Symbol("b")
    rhs = 2 * sp.Sum((w * x[n] + b - y[j]) * x[n], (n, 0, N - 1), (j, 0, N - 1)) / N**2
    return Claim(
        "dw",
        f,
        "w",
        rhs,
        "dw as the broadcasting tutorial computes it",
        sizes=right.sizes,
    )


# -- chapter 5: σ'(a) for σ'(z) ---------------------------------------------------
def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(x):
    return sigmoid(x) * (1 - sigmoid(x))


def train_step(X, y, W1, b1, W2, b2):
    hidden = sigmoid(X @ W1 + b1)
    scores = np.exp(hidden @ W2 + b2)
    output = scores / scores.sum(axis=1, keepdims=True)
    d_output = (output - y) / len(X)
    d_hidden = d_output @ W2.T * sigmoid_derivative(hidden)
    dW1, db1 = X.T @ d_hidden, d_hidden.sum(axis=0)
    dW2, db2 = hidden.T @ d_output, d_output.sum(axis=0)
    return dW1, db1, dW2, db2


def d_hidden_claim() -> Claim:
    """δ₁ as :func:`train_step` computes it, claimed as ∂L/∂z₁ of the sigmoid
    network: back through W₂, then σ′ taken at the activation a₁ = σ(z₁)."""
    from ..library import mlp
    from ..library.activations import z
    from ..registry import claim

    right = claim("mlp.sigmoid/dz1")
    top = mlp._Net("sigmoid", "softmax", z1_is_input=True)
    n, i = right.indices
    K = right.formula.dim_symbols["K"]
    back = sp.Sum(mlp.D2[n, mlp.c] * mlp.W2[mlp.c, i], (mlp.c, 0, K - 1))
    short = back * claim("sigmoid'").rhs.subs(z, mlp.A1[n, i])
    return mlp.NetworkClaim(
        "d_hidden",
        right.formula,
        right.wrt,
        top.expand(short),
        "δ₁ with σ′ taken at a₁ = σ(z₁)",
        indices=right.indices,
        sizes=right.sizes,
        short=short,
    )


# -- chapter 10: the weights' gradient from the last step only -----------------------
def rnn_backward(x, states, dh):
    # states[0] = h0, states[t + 1] = h_t
    # dh = dL/dh at the last step
    dz = dh * (1 - states[-1] ** 2)
    dW = x[:, -1].T @ dz
    dU = states[-2].T @ dz
    db = dz.sum(axis=0)
    return dW, dU, db


def last_step_claim(wrt: str = "U"):
    """What :func:`rnn_backward` computes for ∂L/∂``wrt`` (W, U or b), claimed
    as the SimpleRNN's gradient through time: the cell's claim at the last step
    alone (:class:`~nnmath.recurrence.BPTTClaim` with ``accumulate=False``),
    where the weights' gradient is the sum over every step."""
    from ..registry import claim

    right = claim(f"rnn/d{wrt}")
    return dataclasses.replace(right, name=f"{right.name}.last_step", accumulate=False)
