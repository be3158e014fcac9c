"""TensorFlow, the independent oracle.  The only module that imports it.

Each formula carries its reference as TensorFlow source (``Formula.tf``); it is
evaluated here exactly as ``nnbook show`` prints it.  Gradients come from
``tf.GradientTape`` on ``L = Σ g·output`` (or on the loss itself when it is a
scalar), so they are TensorFlow's own, not ours.
"""

from __future__ import annotations

import os
from functools import lru_cache

import numpy as np

from ..claim import UPSTREAM, Claim
from ..formula import Formula

__all__ = ["tensorflow", "forward", "gradient", "keras_trajectory", "OracleUnavailable"]


class OracleUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def tensorflow():
    """Import TensorFlow quietly and deterministically, once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable CPU results
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise OracleUnavailable(
            "TensorFlow is not installed; run ./run.sh setup "
            "(or pip install tensorflow-cpu)"
        ) from exc
    tf.get_logger().setLevel("ERROR")
    tf.config.experimental.enable_op_determinism()
    return tf


def _tensors(tf, formula: Formula, arrays: dict, dtype: str) -> dict:
    return {n: tf.constant(np.asarray(arrays[n]), dtype=dtype) for n in formula.input_names}


def forward(formula: Formula, arrays: dict, dtype: str = "float64") -> np.ndarray:
    tf = tensorflow()
    env = _tensors(tf, formula, arrays, dtype)
    return np.asarray(eval(formula.tf, {"tf": tf}, env))  # noqa: S307 - our own source


def gradient(claim: Claim, arrays: dict, dtype: str = "float64") -> np.ndarray:
    tf = tensorflow()
    f = claim.formula
    env = _tensors(tf, f, arrays, dtype)
    x = env[claim.wrt]
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = eval(f.tf, {"tf": tf}, env)  # noqa: S307
        if f.output_shape and out.shape.num_elements() == 0:
            # L sums over no outputs: its gradient is exactly 0.  TensorFlow 2.21's
            # conv2d filter gradient crashes the process (a segmentation fault) or
            # leaves its result uninitialised on an output of size 0
            return np.zeros(np.shape(arrays[claim.wrt]))
        if f.output_shape:
            out = tf.reduce_sum(out * tf.constant(arrays[UPSTREAM], dtype=dtype))
    grad = tape.gradient(out, x)
    if grad is None:
        return np.zeros(np.shape(arrays[claim.wrt]))
    return np.asarray(grad)


def keras_trajectory(keras_class: str, args: dict, theta0: np.ndarray,
                     grads: np.ndarray, slots: dict) -> dict[str, np.ndarray]:
    """``tf.keras.optimizers.<keras_class>(**args)`` fed ``grads`` one step at a time.

    Returns the variable and each slot (``slots``: our name → the optimizer's
    attribute) after every step, stacked.  The optimizer is built while Keras's
    floatx is float64, so its learning-rate variable is not rounded to float32,
    and float hyperparameters are passed as NumPy float64: Keras's
    ``ops.cast(self.momentum, dtype)`` (SGD's μ, Adam's β in βᵗ) would otherwise
    convert a Python float through float32 first (0.9 → 0.899999976).
    """
    tf = tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        opt = getattr(tf.keras.optimizers, keras_class)(
            **{k: np.float64(v) if isinstance(v, float) else v for k, v in args.items()})
    finally:
        keras.config.set_floatx(floatx)
    var = tf.Variable(np.asarray(theta0, np.float64), dtype=tf.float64)
    opt.build([var])
    # a slot Keras does not keep with these arguments (SGD's momentums when
    # momentum is 0) is left out of the result
    kept = {s: attr for s, attr in slots.items() if getattr(opt, attr, None)}
    out: dict[str, list] = {"theta": [], **{s: [] for s in kept}}
    for g in grads:
        opt.apply_gradients([(tf.constant(g, dtype=tf.float64), var)])
        out["theta"].append(var.numpy())
        for s, attr in kept.items():
            out[s].append(getattr(opt, attr)[0].numpy())
    return {k: np.stack(v) for k, v in out.items()}


def train_keras(x: np.ndarray, y: np.ndarray, params: dict, orders: list, *,
                activation: str, head: str, learning_rate: float, batch_size: int,
                x_test: np.ndarray | None = None) -> dict:
    """Keras's own ``fit`` of the two-layer perceptron, from ``params`` (our
    convention, W[out, in]) and in the batch order ``orders`` (one permutation per
    epoch, ``shuffle=False``), everything in float64.

    Returns the training loss before the first step and after every epoch (by the
    Keras loss object), the final weights in our convention, the seconds each
    ``fit`` epoch took, and the logits on ``x_test``.
    """
    import time

    tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")  # layers, loss and the SGD learning rate
    try:
        model = keras.Sequential([
            keras.Input((x.shape[1],)),
            keras.layers.Dense(params["W1"].shape[0], activation=activation),
            keras.layers.Dense(params["W2"].shape[0])])
        model.layers[0].set_weights([params["W1"].T, params["b1"]])
        model.layers[1].set_weights([params["W2"].T, params["b2"]])
        loss = {"softmax": keras.losses.CategoricalCrossentropy,
                "sigmoid": keras.losses.BinaryCrossentropy}[head](from_logits=True)
        model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=loss)
        losses, seconds = [float(loss(y, model(x)))], []
        for order in orders:
            start = time.perf_counter()
            model.fit(x[order], y[order], batch_size=batch_size, epochs=1, shuffle=False,
                      verbose=0)
            seconds.append(time.perf_counter() - start)
            losses.append(float(loss(y, model(x))))
        (W1, b1), (W2, b2) = (layer.get_weights() for layer in model.layers)
        logits = None if x_test is None else np.asarray(model(x_test))
    finally:
        keras.config.set_floatx(floatx)
    return {"losses": losses, "params": {"W1": W1.T, "b1": b1, "W2": W2.T, "b2": b2},
            "seconds_per_epoch": seconds, "test_logits": logits}
