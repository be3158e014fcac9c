"""Helpers the tests share: import them from here (``from helpers import ...``;
pytest puts this folder on the import path), never from another test module.

TensorFlow comparisons go through :func:`assert_close_to_tensorflow`, which is
``nnbook verify``'s own rule and tolerance table (:func:`nnmath.checker.checks.
comparison` and :func:`~nnmath.checker.checks.tolerance`), so a test can be no
looser, and no tighter, than the check it stands for.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import sympy as sp

from nnmath import formula
from nnmath.checker.checks import Comparison, comparison, tolerance
from nnmath.primitives import MaxShift

#: the convolution and pooling parameterisations the lowering and TensorFlow
#: tests both run
VARIANTS = [
    ("conv2d", {}),
    ("conv2d", {"stride": 1, "padding": "same"}),
    ("conv2d", {"stride": 2, "padding": "same"}),
    ("conv2d", {"dilation": 2, "padding": ((1, 0), (2, 1))}),
    ("conv2d", {"stride": (2, 1), "bias": False}),
    # strides whose output sizes floats got wrong, with dilation and every padding
    ("conv2d", {"stride": 3}),
    ("conv2d", {"stride": (5, 7), "dilation": (1, 3), "padding": "same"}),
    ("conv2d", {"stride": (6, 3), "dilation": 2, "padding": ((2, 0), (1, 3))}),
    ("max_pool2d", {}),
    ("max_pool2d", {"pool_size": 3, "stride": 2, "padding": "same"}),
    ("max_pool2d", {"pool_size": 2, "stride": 3}),
    (
        "max_pool2d",
        {"pool_size": (2, 3), "stride": (3, 1), "padding": ((1, 0), (0, 2))},
    ),
    ("avg_pool2d", {}),
    ("avg_pool2d", {"pool_size": 3, "stride": 2, "padding": "same"}),
    ("avg_pool2d", {"pool_size": (5, 2), "stride": (7, 5)}),
    (
        "avg_pool2d",
        {"pool_size": (2, 3), "stride": (3, 1), "padding": ((1, 0), (0, 2))},
    ),
    ("flatten", {}),
]


def close_to_tensorflow(
    ours, reference, method: str, dtype: str, formula=None
) -> Comparison:
    """``ours`` against a TensorFlow ``reference`` by verify's rule: every element
    within the stated tolerance of ``(method, dtype)`` (a formula's own where it
    states one), NaN or inf on one side only failing, shapes equal."""
    return comparison(ours, reference, tolerance(method, dtype, formula))


def assert_close_to_tensorflow(
    ours, reference, method: str, dtype: str, formula=None, what: str = ""
) -> None:
    """:func:`close_to_tensorflow`, failing with the worst element and the
    tolerance it broke."""
    tol = tolerance(method, dtype, formula)
    c = comparison(ours, reference, tol)
    assert c.ok, (
        f"{what}: shapes {np.shape(ours)} and {np.shape(reference)}, max abs "
        f"error {c.max_abs:.3g}, {c.badness:.3g}x {method} {dtype}'s "
        f"tolerance (rtol {tol.rtol}, atol {tol.atol}) at {list(c.at)}"
    )


def shifted_calls(monkeypatch) -> list:
    """The shapes of the inputs the zero-copy shifted-row GEMM was called on,
    recorded from now on (``monkeypatch`` restores the kernel); the path is
    taken at any size, as a test's small arrays need (SHIFT_MIN_MACS)."""
    from nnmath import kernels

    monkeypatch.setattr(kernels, "SHIFT_MIN_MACS", 0)
    calls = []
    real = kernels._shifted_gemm
    monkeypatch.setattr(
        kernels,
        "_shifted_gemm",
        lambda *a, **k: calls.append(a[1].shape) or real(*a, **k),
    )
    return calls


def unshifted_softmax():
    """Softmax without its max shift: equal on paper, overflowing at logits of
    1000."""
    f = formula("softmax")
    expr = f.expr.replace(MaxShift, lambda *args: sp.Integer(0))
    return dataclasses.replace(f, expr=expr)


def video_facts(path: Path) -> tuple[int, int, float, np.ndarray]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        duration = float(container.duration) / av.time_base
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    return width, height, duration, frames[len(frames) // 2]


def formula_claims() -> list[str]:
    """The names of the claims about one registered formula, each proved by
    the general prover, Gradient Tape and finite differences; an unrolled
    network's BPTT claims (``rnn/dW``) are registered claims too, with checks
    and tests of their own (tests/test_recurrent*.py)."""
    from nnmath import Claim, claim, claim_names

    return [n for n in claim_names() if isinstance(claim(n), Claim)]


def run_python(script: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``script`` in a fresh interpreter, from the project's root: for what
    depends on the state of a whole process (what it has imported, a fork)."""
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(root)},
        cwd=root,
    )
