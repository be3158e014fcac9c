"""conv2d, max_pool2d and avg_pool2d against TensorFlow over a seeded sweep.

Parameterisations drawn at random (fixed seed): kernel and pool sizes 1–5,
strides 1–7 and dilations 1–3 on each axis independently, 'valid', 'same' and
explicit padding; three shapes each, input sizes 0–12 (a batch of 0, 0
channels and outputs of size 0 included).  Every configuration compares the
forward pass (float64 and float32) and every gradient claim (float64) with
TensorFlow, shapes and values; where TensorFlow rejects the sizes, nnbook must
raise a one-line ValueError too.  The TensorFlow side is written here, not
taken from ``Formula.tf``.  ``CONFIGURATIONS`` says how many there are.
"""

from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close_to_tensorflow
from nnmath import formula
from nnmath.library.conv import gradient_claims

pytestmark = pytest.mark.tf

SEED = 20
#: parameterisations per operation, each tried at SHAPES shapes
PARAMETERISATIONS = {"conv2d": 80, "max_pool2d": 50, "avg_pool2d": 50}
SHAPES = 3
CONFIGURATIONS = sum(PARAMETERISATIONS.values()) * SHAPES  # 540


def _pair(rng, lo, hi) -> tuple[int, int]:
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=2))


def _padding(rng, most: tuple[int, int]):
    """'valid', 'same' or explicit ((top, bottom), (left, right)), each pad ≤ most."""
    kind = rng.choice(["valid", "same", "explicit"])
    if kind != "explicit":
        return str(kind)
    return tuple(tuple(int(v) for v in rng.integers(0, m + 1, size=2)) for m in most)


def _parameterisation(rng, op: str) -> dict:
    stride = _pair(rng, 1, 7)
    if op == "conv2d":
        return {
            "stride": stride,
            "dilation": _pair(rng, 1, 3),
            "padding": _padding(rng, (3, 3)),
        }
    pool = _pair(rng, 1, 5)
    # TensorFlow's max_pool2d takes explicit pads smaller than the window
    return {
        "pool_size": pool,
        "stride": stride,
        "padding": _padding(rng, (pool[0] - 1, pool[1] - 1)),
    }


def _size(rng, lo: int, hi: int, p_zero: float) -> int:
    return 0 if rng.random() < p_zero else int(rng.integers(lo, hi + 1))


def _arrays(rng, op: str) -> dict:
    n, h, w = _size(rng, 1, 3, 0.05), _size(rng, 1, 12, 0.03), _size(rng, 1, 12, 0.03)
    # conv2d with C = 0 is rejected by TensorFlow: rarely, to check we reject it too
    c = _size(rng, 1, 4, 0.03 if op == "conv2d" else 0.05)
    arrays = {"x": rng.normal(size=(n, h, w, c))}
    if op == "conv2d":
        kh, kw = _pair(rng, 1, 5)
        o = _size(rng, 1, 4, 0.05)
        arrays["w"] = rng.normal(size=(kh, kw, c, o))
        arrays["b"] = rng.normal(size=o)
    return arrays


# -- TensorFlow, written out -------------------------------------------------------
def _tf_padding(padding):
    if isinstance(padding, str):
        return padding.upper()
    return [[0, 0], list(padding[0]), list(padding[1]), [0, 0]]


def _dilated(tf, w, dilation):
    """The kernel with d − 1 zero taps between its taps, built by TensorFlow: the
    CPU gradient of tf.nn.conv2d rejects dilations > 1, and a dilated kernel at
    dilation 1 is what dilation means."""
    for axis, d in enumerate(dilation):
        if d > 1:
            taps = tf.unstack(w, axis=axis)
            zero = tf.zeros_like(taps[0])
            spread = [t for tap in taps for t in [tap] + [zero] * (d - 1)]
            w = tf.stack(spread[: (len(taps) - 1) * d + 1], axis=axis)
    return w


def _tf_op(tf, op: str, params: dict, *, differentiable: bool):
    padding = _tf_padding(params["padding"])
    if op == "conv2d":
        dilation = params["dilation"]

        def conv(x, w, b):
            if differentiable and dilation != (1, 1):
                return (
                    tf.nn.conv2d(
                        x, _dilated(tf, w, dilation), params["stride"], padding
                    )
                    + b
                )
            return tf.nn.conv2d(x, w, params["stride"], padding, dilations=dilation) + b

        return conv
    window = {"ksize": params["pool_size"], "strides": params["stride"]}
    if op == "max_pool2d":
        return lambda x: tf.nn.max_pool2d(x, padding=padding, **window)
    if isinstance(padding, str):
        return lambda x: tf.nn.avg_pool2d(x, padding=padding, **window)

    # tf.nn.avg_pool2d takes no explicit pads: sums over the zero-padded input
    # divided by the count of real cells, both by TensorFlow's own pooling
    def avg(x):
        def pool(t):
            return tf.nn.avg_pool2d(tf.pad(t, padding), padding="VALID", **window)

        return pool(x) / pool(tf.ones_like(x))

    return avg


def _close(ours, ref, method, dtype, f, what):
    """verify's own rule and tolerance: float64 as verify states it, float32 as
    each formula states it (conv2d sums up to 5·5·4 products per output)."""
    assert ours.shape == ref.shape, (
        f"{what}: shape {ours.shape}, TensorFlow {ref.shape}"
    )
    assert_close_to_tensorflow(ours, ref, method, dtype, f, what)


def _check(tf, op: str, params: dict, arrays: dict, seen: dict) -> None:
    what = f"{op}{params} on " + ", ".join(f"{k} {v.shape}" for k, v in arrays.items())
    f = formula(op, **params)
    names = list(arrays)
    try:
        want = _tf_op(tf, op, params, differentiable=False)(
            *(tf.constant(arrays[k]) for k in names)
        ).numpy()
    except tf.errors.InvalidArgumentError:
        with pytest.raises(ValueError) as caught:
            f.numpy(**arrays)
        assert "\n" not in str(caught.value), what
        seen["rejected"] += 1
        return
    _close(f.numpy(**arrays), want, "tensorflow-forward", "float64", f, what)
    want32 = _tf_op(tf, op, params, differentiable=False)(
        *(tf.constant(arrays[k], tf.float32) for k in names)
    ).numpy()
    got32 = f.numpy(**{k: v.astype(np.float32) for k, v in arrays.items()})
    assert got32.dtype == np.float32, what
    _close(got32, want32, "tensorflow-forward", "float32", f, what + " float32")
    seen["empty output"] += want.size == 0
    seen["empty input"] += arrays["x"].size == 0

    g = np.random.default_rng(want.size).normal(size=want.shape)
    claims = gradient_claims(op, **params)
    if want.size == 0:
        # a sum over no outputs is 0.  TensorFlow 2.21 is no reference here: its
        # filter gradient crashed the process (a segmentation fault on (3, 11, 3, 1)
        # ∗ (3, 5, 1, 1), stride (4, 5), 'VALID') or left its result
        # uninitialised (9.7e257 on (1, 0, 0, 2) ∗ (2, 2, 2, 2), 'SAME')
        for c in claims:
            ours = c.gradient.numpy(
                **{k: {**arrays, "g": g}[k] for k in c.gradient.input_names}
            )
            assert ours.shape == arrays[c.wrt].shape, f"{c.name}: {what}"
            assert not np.any(ours), f"{c.name}: {what}"
        return
    variables = [tf.constant(arrays[k]) for k in names]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        y = _tf_op(tf, op, params, differentiable=True)(*variables)
        loss = tf.reduce_sum(y * tf.constant(g))
    grads = dict(zip(names, tape.gradient(loss, variables)))
    for c in claims:
        ours = c.gradient.numpy(
            **{k: {**arrays, "g": g}[k] for k in c.gradient.input_names}
        )
        ref = grads[c.wrt]
        ref = np.zeros(arrays[c.wrt].shape) if ref is None else ref.numpy()
        _close(
            ours, ref, "tensorflow-gradient", "float64", c.formula, f"{c.name}: {what}"
        )
        seen["gradients"] += 1


def test_sweep_matches_tensorflow():
    from nnmath.checker.oracle import tensorflow

    tf = tensorflow()
    rng = np.random.default_rng(SEED)
    seen = {"rejected": 0, "empty output": 0, "empty input": 0, "gradients": 0}
    covered: dict[str, set] = {
        "stride": set(),
        "dilation": set(),
        "kernel": set(),
        "padding": set(),
    }
    checked = 0
    for op, count in PARAMETERISATIONS.items():
        for _ in range(count):
            params = _parameterisation(rng, op)
            covered["stride"].update(params["stride"])
            covered["dilation"].update(params.get("dilation", (1,)))
            covered["padding"].add(
                params["padding"] if isinstance(params["padding"], str) else "explicit"
            )
            covered["kernel"].update(params.get("pool_size", ()))
            for _ in range(SHAPES):
                arrays = _arrays(rng, op)
                covered["kernel"].update(arrays["w"].shape[:2] if "w" in arrays else ())
                _check(tf, op, params, arrays, seen)
                checked += 1
    assert checked == CONFIGURATIONS
    # the sweep reaches what it claims to
    assert covered["stride"] == set(range(1, 8))
    assert covered["dilation"] == {1, 2, 3}
    assert covered["kernel"] == set(range(1, 6))
    assert covered["padding"] == {"valid", "same", "explicit"}
    assert min(seen.values()) >= 5, seen
