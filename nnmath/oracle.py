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

from .claim import UPSTREAM, Claim
from .formula import Formula

__all__ = ["tensorflow", "forward", "gradient", "OracleUnavailable"]


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
            "TensorFlow is not installed; run ./run.sh setup (or pip install tensorflow-cpu)"
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
        if f.output_shape:
            out = tf.reduce_sum(out * tf.constant(arrays[UPSTREAM], dtype=dtype))
    grad = tape.gradient(out, x)
    if grad is None:
        return np.zeros(np.shape(arrays[claim.wrt]))
    return np.asarray(grad)
