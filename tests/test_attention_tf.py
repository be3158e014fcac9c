"""Attention against TensorFlow and Keras (issue 16): every formula and claim
passes verify's TensorFlow and Keras rows (MultiHeadAttention's fused and
explicit paths, with and without a causal mask, keras.ops.dot_product_attention);
Keras's float32 1/√key_dim, shown; the transformer block against the same
composition of Keras layers, gradient for gradient; and the character
transformer trained on the Zen of Python, loss for loss with Keras's fit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from helpers import assert_close_to_tensorflow
from nnmath import claims, formula
from nnmath.checker.checks import (
    check_forward,
    check_gradient,
    check_keras_layer,
    check_keras_layer_gradient,
)
from nnmath.library import attention as att
from nnmath.runs.transformer import Transformer, corpus, train

pytestmark = pytest.mark.tf

FORMULAS = (
    ("attention", {}),
    ("attention", {"causal": True}),
    ("attention", {"masked": True}),
    ("multi_head_attention", {}),
    ("multi_head_attention", {"causal": True}),
    ("positional_encoding", {}),
    ("embedding", {}),
)
NAMES = {name for name, _ in FORMULAS}


@pytest.fixture(scope="module")
def keras():
    from nnmath.checker import oracle

    oracle.tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras
    keras.config.set_floatx(floatx)


def test_every_formula_and_claim_passes_the_tensorflow_and_keras_rows():
    # tests/test_tensorflow.py compares every registered formula (default
    # parameters) and claim with TensorFlow; here the other parameters' forward
    # rows, the float32 rows the claims' notes describe, and every keras-layer row
    rows = []
    for name, params in FORMULAS:
        f = formula(name, **params)
        if params:
            rows += [check_forward(f, "float64"), check_forward(f, "float32")]
        if f.keras is not None:
            rows.append(check_keras_layer(f))
    for c in claims():
        if c.formula.name in NAMES:
            if c.formula.name == "multi_head_attention":
                rows += [check_gradient(c, "float64"), check_gradient(c, "float32")]
            if c.formula.keras is not None:
                rows.append(check_keras_layer_gradient(c))
    assert [r.line for r in rows if not r.passed] == []
    layer = {r.subject for r in rows if r.method == "keras-layer"}
    assert {
        "attention",
        "attention(causal=True)",
        "attention/dq.causal",
        "multi_head_attention",
        "multi_head_attention(causal=True)",
        "multi_head_attention/dW_q",
        "multi_head_attention/dy",
        "embedding/dE",
    } <= layer
    by = {(r.subject, r.method, r.dtype): r for r in rows}
    causal = by["multi_head_attention(causal=True)", "keras-layer", "float64"]
    assert "return_attention_scores" in causal.line and "not at ±" in causal.line
    # float32 leaves out ±100..1000 for multi-head attention, and says why
    dwq = by["multi_head_attention/dW_q", "tensorflow-gradient", "float32"]
    assert att.MHA_FLOAT32 in dwq.line and "±100" not in str(dwq.cases)
    assert "±100" in str(by[dwq.subject, "tensorflow-gradient", "float64"].cases)


def _mha(keras, heads, key_dim, arrays, **call):
    layer = keras.layers.MultiHeadAttention(heads, key_dim)
    layer(arrays["x"], arrays["y"])  # built
    for ours, theirs in att._MHA_WEIGHTS.items():
        owner, attr = theirs.split(".")
        getattr(getattr(layer, owner), attr).assign(arrays[ours])
    return layer(arrays["x"], arrays["y"], **call)


def _arrays(f, sizes, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return {
        i.name: scale * rng.normal(size=[sizes[d] for d in i.shape]) for i in f.inputs
    }


def test_kerass_scale_is_one_over_root_key_dim_rounded_through_float32(keras):
    # key_dim 3: 1/√3 = 0.5773502691896258 in float64, 0.5773502588272095 in
    # float32, 1.8e-8 apart relative; key_dim 4: 0.5 in both
    f = formula("multi_head_attention", heads=2, key_dim=3)
    sizes = {"N": 2, "T": 4, "S": 5, "D": 7, "H": 2, "d_k": 3}
    arrays = _arrays(f, sizes, scale=2.0)
    ref = np.asarray(_mha(keras, 2, 3, arrays))
    ours = f.numpy(**arrays)
    # relative to the largest output: a few elements near 0 are far apart
    # relative to themselves, as any two roundings are
    apart = np.max(np.abs(ours - ref)) / np.max(np.abs(ref))
    assert 1e-10 < apart < 4 * att.scale_rounding(3)
    # the same formula with Keras's float32 scale is Keras's to float64 rounding
    zs = att.Z[att.n, att.h, att.t, att.s]
    rounded = float(np.float32(1 / np.sqrt(3)))
    dot = sp.Sum(
        att.Qp[att.n, att.t, att.h, att.a] * att.Kp[att.n, att.s, att.h, att.a],
        (att.a, 0, att.d_k - 1),
    )
    keras_scaled = _replace_part(f, zs, dot * rounded)
    np.testing.assert_allclose(keras_scaled.numpy(**arrays), ref, rtol=1e-13)
    f4 = formula("multi_head_attention", heads=2, key_dim=4)
    arrays = _arrays(f4, sizes | {"d_k": 4}, seed=1, scale=2.0)
    np.testing.assert_allclose(
        f4.numpy(**arrays), np.asarray(_mha(keras, 2, 4, arrays)), rtol=1e-13
    )


def _replace_part(f, name, definition):
    import dataclasses

    from nnmath.formula import defined

    where = tuple((nm, definition if nm == name else df) for nm, df in f.where)
    return dataclasses.replace(f, expr=defined(f.shown, where), where=where)


def test_kerass_explicit_path_loses_a_query_whose_logits_are_below_minus_1e9(keras):
    # EXPLICIT_MASK's reason, measured: the explicit path's softmax replaces a
    # masked logit by −1e9 and zeroes the masked weights after it
    # (keras/src/layers/activations/softmax.py).  With W_k = −W_q, no biases
    # and self-attention, logit(t, s) = −Q_t·Q_s/2: the first query sees only
    # its own key, at −|Q_0|²/2 ≈ −1e11, so the masked keys take all its weight,
    # which is then zeroed
    f = formula("multi_head_attention", causal=True)
    sizes = {"N": 1, "T": 3, "S": 3, "D": 5, "H": 3, "d_k": 4}
    arrays = _arrays(f, sizes, seed=3, scale=300.0)
    arrays["y"], arrays["W_k"] = arrays["x"], -arrays["W_q"]
    for b in ("b_q", "b_k"):
        arrays[b] = np.zeros_like(arrays[b])
    explicit, scores = _mha(
        keras, 3, 4, arrays, use_causal_mask=True, return_attention_scores=True
    )
    weights = np.asarray(scores)[0, :, 0]  # every head, the first query
    np.testing.assert_array_equal(weights.sum(-1), 0.0)  # not 1
    fused = np.asarray(_mha(keras, 3, 4, arrays, use_causal_mask=True))
    ours = f.numpy(**arrays)
    # ours and the fused path: the first query's output is its own value, projected
    assert_close_to_tensorflow(ours, fused, "keras-layer", "float64")
    assert np.abs(np.asarray(explicit)[0, 0] - ours[0, 0]).max() > 1.0
    # at ordinary magnitudes each query's weights sum to 1, masked keys 0
    normal = _arrays(f, sizes, seed=3)
    _, scores = _mha(
        keras, 3, 4, normal, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(np.asarray(scores).sum(-1), 1.0, rtol=1e-14)
    assert np.asarray(scores)[..., np.triu(np.ones((3, 3), bool), 1)].max() == 0


# -- the transformer block and the run on text -------------------------------------
@pytest.fixture(scope="module")
def zen_run():
    return train(corpus(), epochs=3)


def test_the_post_ln_block_is_kerass_composition_gradient_for_gradient(zen_run):
    from nnmath.checker import oracle

    net: Transformer = zen_run.model
    x, y = corpus().windows
    x, y = x[:5], y[:5]  # a batch of 5 windows of 16 characters
    p = zen_run.initial
    ref = oracle.transformer_keras_gradients(
        x, y, p, heads=net.heads, key_dim=net.key_dim, positional=net.pe.tf
    )
    logits = net.forward(p, x)["logits"].reshape(ref["logits"].shape)
    assert_close_to_tensorflow(logits, ref["logits"], "keras-layer", "float64")
    grads = net.backward(p, x, y)
    assert set(grads) == set(ref["grads"]) == set(p)
    for name, g in grads.items():
        assert_close_to_tensorflow(
            g, ref["grads"][name], "keras-layer", "float64", what=name
        )


def test_the_zen_trajectory_is_kerass_fit_over_three_epochs(zen_run):
    from nnmath.checker import oracle

    net: Transformer = zen_run.model
    x, y = corpus().windows
    keras_run = oracle.train_transformer_keras(
        x,
        y,
        zen_run.initial,
        zen_run.orders,
        heads=net.heads,
        key_dim=net.key_dim,
        positional=net.pe.tf,
        learning_rate=0.5,
        batch_size=8,
    )
    assert len(zen_run.losses) == len(keras_run["losses"]) == 4
    assert_close_to_tensorflow(
        zen_run.losses, keras_run["losses"], "keras-trajectory", "float64", what="loss"
    )
    assert zen_run.losses[-1] < 0.85 * zen_run.losses[0]  # it learned something


def test_one_keras_call_per_case_serves_a_layers_claims(keras, monkeypatch):
    """Multi-head attention's ten claims are compared with one GradientTape
    call per case and code path; a wrong claim asked right after them (∂L/∂W_q
    stated as ∂L/∂W_k's gradient) still fails."""
    from nnmath.checker import oracle
    from nnmath.checker.cases import cases_for
    from nnmath.checker.checks import _variants

    calls = []
    real = oracle._keras_layer
    monkeypatch.setattr(oracle, "_LAYERS", {})
    monkeypatch.setattr(
        oracle, "_keras_layer", lambda *a, **k: calls.append(a) or real(*a, **k)
    )
    about = claims("multi_head_attention")
    assert len(about) == 10
    for c in about:
        assert check_keras_layer_gradient(c).passed, c.name
    f = about[0].formula
    assert len(calls) == len(_variants(f.keras, cases_for(f)))
    by = {c.wrt: c for c in about}
    k = by["W_k"]
    wrong = dataclasses.replace(by["W_q"], rhs=k.rhs, shown=k.shown, where=k.where)
    assert not check_keras_layer_gradient(wrong).passed
    assert len(calls) == len(_variants(f.keras, cases_for(f)))
