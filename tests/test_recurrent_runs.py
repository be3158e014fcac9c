"""Recurrent classifiers on digits read row by row: training by BPTT, the
gradient norms over time, explosion and clipping.  The tests marked ``tf``
train the same models with Keras's ``fit``."""

from __future__ import annotations

import numpy as np
import pytest

from nnmath.runs.recurrent import (
    Classifier,
    clipped,
    digit_rows,
    exploding,
    gradient_norms,
    init_params,
    train,
)
from nnmath.runs.training import epoch_orders

DATA = digit_rows()
LAYER = {"rnn": "SimpleRNN", "lstm": "LSTM", "gru": "GRU"}


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _forward_by_hand(network: str, p: dict, x: np.ndarray) -> np.ndarray:
    """The classifier's logits written out in NumPy, apart from the formulas."""
    H = p["U"].shape[0]
    h = c = np.zeros((len(x), H))
    for t in range(x.shape[1]):
        if network == "gru":  # Keras's reset_after: r multiplies hU + b₁
            sx, sh = x[:, t] @ p["W"] + p["b"][0], h @ p["U"] + p["b"][1]
            z = _sigmoid(sx[:, :H] + sh[:, :H])
            r = _sigmoid(sx[:, H : 2 * H] + sh[:, H : 2 * H])
            h = z * h + (1 - z) * np.tanh(sx[:, 2 * H :] + r * sh[:, 2 * H :])
            continue
        z = x[:, t] @ p["W"] + h @ p["U"] + p["b"]
        if network == "rnn":
            h = np.tanh(z)
        else:
            i, f, g, o = np.split(z, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            h = _sigmoid(o) * np.tanh(c)
    return h @ p["W_out"].T + p["b_out"]


def test_digits_are_read_row_by_row():
    d = DATA
    assert d.x_train.shape == (1348, 8, 8) and d.x_test.shape == (449, 8, 8)
    assert d.y_train.shape == (1348, 10) and d.y_test.shape == (449, 10)
    assert d.x_train.min() == 0 and d.x_train.max() == 1
    np.testing.assert_array_equal(d.y_train.sum(axis=1), 1)
    from sklearn.datasets import load_digits

    images = load_digits().images / 16
    # each training sequence is one image, its rows in order
    row = images.reshape(len(images), -1)
    first = d.x_train[0].ravel()
    assert any(np.array_equal(first, r) for r in row)


@pytest.mark.parametrize("network", ["rnn", "lstm", "gru"])
def test_shapes_and_the_forward_pass(network):
    p = init_params(network, 8, 5, 10, seed=1)
    k = {"rnn": 1, "lstm": 4, "gru": 3}[network]
    assert p["W"].shape == (8, 5 * k) and p["U"].shape == (5, 5 * k)
    bias = (2, 5 * k) if network == "gru" else (5 * k,)
    assert p["b"].shape == bias and p["W_out"].shape == (10, 5)
    model = Classifier(network)
    c = model.forward(p, DATA.x_train[:7])
    assert c["out"].shape == (7, 8, 5 * model.width)
    assert c["logits"].shape == (7, 10) and len(c["steps"]) == 8
    np.testing.assert_allclose(
        c["logits"], _forward_by_hand(network, p, DATA.x_train[:7]), atol=1e-14
    )


def test_the_lstm_starts_as_keras_does():
    p = init_params("lstm", 8, 3, 10)
    np.testing.assert_array_equal(p["b"], [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    # the recurrent kernel has orthonormal rows, as Keras's Orthogonal draws it
    np.testing.assert_allclose(p["U"] @ p["U"].T, np.eye(3), atol=1e-14)


@pytest.mark.parametrize("network", ["rnn", "lstm", "gru"])
def test_bptt_gradient_equals_finite_differences_on_a_tiny_model(network):
    """Every parameter's gradient (the loss's, the readout's and the cell's
    claims back through time) against central differences of the loss."""
    model = Classifier(network)
    p = init_params(network, 8, 3, 10, seed=2)
    p = {
        k: v + 0.3 * np.random.default_rng(3).normal(size=v.shape) for k, v in p.items()
    }
    x, y = DATA.x_train[:4], DATA.y_train[:4]
    grads, _ = model.backward(p, x, y)
    eps = 1e-6
    for name, value in p.items():
        fd = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            up = {**p, name: value.copy()}
            down = {**p, name: value.copy()}
            up[name][i] += eps
            down[name][i] -= eps
            fd[i] = (model.loss(up, x, y) - model.loss(down, x, y)) / (2 * eps)
        # central differences: error O(eps²) plus rounding ~1e-16/eps
        np.testing.assert_allclose(grads[name], fd, atol=1e-8, err_msg=name)


def test_a_training_step_is_sgd_on_the_bptt_gradient():
    d = DATA.subset(32, 10)
    p = init_params("rnn", 8, 4, 10, seed=4)
    run = train(d, "rnn", units=4, epochs=1, batch_size=32, learning_rate=0.5, params=p)
    grads, _ = Classifier("rnn").backward(p, d.x_train, d.y_train)
    for k in p:
        np.testing.assert_allclose(run.params[k], p[k] - 0.5 * grads[k], atol=1e-15)


@pytest.mark.parametrize("network", ["rnn", "lstm", "gru"])
def test_prepared_calls_compute_what_the_formulas_compute(network):
    model = Classifier(network)
    p = init_params(network, 8, 6, 10)
    x, y = DATA.x_train[:9], DATA.y_train[:9]
    ours, ups = model.prepare(p, 9).backward(p, x, y)
    plain, plain_ups = model.backward(p, x, y)
    for k in plain:
        if network == "lstm" and k == "b":
            # Σ_n δ^z along the other axis of the same array (lower_together):
            # the same additions in another order, a few ulps apart
            ulps = np.abs(ours[k] - plain[k]) / np.spacing(np.abs(plain[k]).max())
            assert ulps.max() <= 20, ulps.max()
            continue
        np.testing.assert_array_equal(ours[k], plain[k])
    np.testing.assert_array_equal(np.stack(ups), np.stack(plain_ups))


@pytest.mark.parametrize(
    "network, train_size, floor",
    # measured: 0.70 (rnn, 0.05 s) and 0.40 (lstm, 1.3 s); chance is 0.10
    [("rnn", 512, 0.5), ("lstm", 256, 0.25)],
)
def test_training_learns_the_digits_above_chance(network, train_size, floor):
    run = train(DATA.subset(train_size), network, epochs=3)
    assert run.losses[-1] < run.losses[0]
    assert run.test_accuracy > floor, run.test_accuracy


def test_simple_rnn_gradient_vanishes_back_in_time_at_an_orthogonal_start():
    """With U orthogonal, ∂L/∂h_{t−1} = (∂L/∂h_t ⊙ tanh′)Uᵀ is no longer than
    ∂L/∂h_t (|tanh′| < 1, and Uᵀ keeps lengths): the norm must fall step by step
    back in time."""
    p = init_params("rnn", 8, 32, 10)
    norms = gradient_norms("rnn", p, DATA.x_train[:64], DATA.y_train[:64])["h"]
    assert norms.shape == (8,)
    assert np.all(np.diff(norms) > 0), norms
    assert norms[0] < 0.5 * norms[-1]  # measured 0.27×


def test_lstm_carries_a_gradient_along_the_cell_state():
    p = init_params("lstm", 8, 32, 10)
    norms = gradient_norms("lstm", p, DATA.x_train[:64], DATA.y_train[:64])
    assert set(norms) == {"h", "c"}
    assert norms["c"][-1] == 0  # the loss reads h_{T−1} only
    assert np.all(norms["c"][:-1] > 0)


def test_a_scaled_recurrent_kernel_explodes_and_clipping_bounds_it():
    p = init_params("rnn", 8, 32, 10)
    e = exploding(p, DATA.x_train[:64], DATA.y_train[:64], (1.0, 2.0, 4.0, 8.0))
    # the first step's gradient grows with the scale, by orders of magnitude
    assert np.all(np.diff(e["first"]) > 0) and e["first"][-1] > 100 * e["first"][0]
    assert np.all(np.diff(e["dU"]) > 0) and e["dU"][-1] > 1
    np.testing.assert_allclose(e["clipped_dU"], np.minimum(e["dU"], 1.0), rtol=1e-14)


def test_clipping_clips_each_variable_on_its_own():
    from nnmath import formula

    rng = np.random.default_rng(5)
    grads = {"U": 3 * rng.normal(size=(4, 4)), "b": 0.01 * rng.normal(size=4)}
    out = clipped(grads, formula("clip_by_norm", clipnorm=0.5).numpy)
    np.testing.assert_allclose(
        out["U"], grads["U"] * 0.5 / np.linalg.norm(grads["U"]), rtol=1e-15
    )
    np.testing.assert_array_equal(out["b"], grads["b"])  # inside the ball


def test_bad_network_names_say_what_is_valid():
    with pytest.raises(ValueError, match="valid: rnn, lstm, gru"):
        Classifier("transformer")
    with pytest.raises(ValueError, match="valid: rnn, lstm, gru"):
        init_params("transformer", 8, 4, 10)


# -- against Keras ---------------------------------------------------------------
def _keras(run, data, *, clipnorm=None):
    from nnmath.checker import oracle

    return oracle.train_rnn_keras(
        data.x_train,
        data.y_train,
        run.initial,
        run.orders,
        layer=LAYER[run.network],
        learning_rate=run.learning_rate,
        batch_size=32,
        clipnorm=clipnorm,
        x_test=data.x_test,
    )


@pytest.mark.tf
@pytest.mark.parametrize("network, size", [("rnn", 512), ("lstm", 256), ("gru", 256)])
def test_loss_trajectory_matches_keras_fit(network, size):
    """Three epochs of SGD from the same weights in the same batch order.
    Measured: ≤ 1.3e-14 (SimpleRNN, all 1,348 sequences), 7.1e-14 (LSTM,
    512) and 4.4e-16 (GRU, Keras's reset_after, 256); TF's tanh and sigmoid
    differ from NumPy's by a few ulps, compounded over 8 steps and every SGD
    step, hence 1e-12."""
    data = DATA.subset(size)
    run = train(data, network, epochs=3)
    keras = _keras(run, data)
    assert len(run.losses) == 4
    np.testing.assert_allclose(run.losses, keras["losses"], rtol=0, atol=1e-12)
    for k in run.params:
        np.testing.assert_allclose(run.params[k], keras["params"][k], atol=1e-12)
    assert run.test_accuracy == np.mean(
        keras["test_logits"].argmax(1) == data.y_test.argmax(1)
    )


@pytest.mark.tf
def test_clipped_training_matches_keras_clipnorm():
    """A SimpleRNN whose U is scaled ×2 (its ∂L/∂U starts above the clip norm),
    trained with clip_by_norm on each gradient, against SGD(clipnorm=1.0).
    Measured ≤ 3.8e-15 over 3 epochs.  Not ×4: there the training itself is
    chaotic and amplifies the ulps between TF's tanh and NumPy's, clipped or
    not (unclipped ×4 drifts 2.6e-6 from Keras after one epoch, 0.14 after
    three; clipped 6.8e-9, then 0.08)."""
    data = DATA.subset(256, 10)
    p = init_params("rnn", 8, 32, 10)
    p["U"] = 2 * p["U"]
    assert exploding(p, data.x_train[:32], data.y_train[:32], (1.0,))["dU"][0] > 1
    run = train(data, "rnn", epochs=3, clipnorm=1.0, params=p)
    keras = _keras(run, data, clipnorm=1.0)
    np.testing.assert_allclose(run.losses, keras["losses"], rtol=0, atol=1e-12)
    # and the clipping matters: unclipped, the trajectory is another one
    # (measured 0.18 apart)
    free = train(data, "rnn", epochs=3, params=p)
    assert np.max(np.abs(np.subtract(free.losses, keras["losses"]))) > 1e-2
    assert run.orders[0].tolist() == epoch_orders(256, 3, 0)[0].tolist()


# -- what makes a cell step cheap: blocks as a concatenation, slices as slices ----
def _blocks_formula(offsets: tuple[int, ...], width: int):
    """out[n, k] = Σ_u Σ_q δ_{k, qH+u}·a_q[n, u], k over ``width``·H."""
    import sympy as sp

    from nnmath.formula import Formula, Input, dims, indices

    n, k, u = indices("n k u")
    N, H, S = dims("N H S")
    parts = [sp.IndexedBase(f"a{q}") for q in range(len(offsets))]
    expr = sp.Sum(
        sp.Add(
            *(sp.KroneckerDelta(k, q * H + u) * p[n, u] for q, p in zip(offsets, parts))
        ),
        (u, 0, H - 1),
    )
    return Formula(
        name="blocks",
        title="blocks side by side",
        output="s",
        indices=(n, k),
        expr=expr,
        inputs=tuple(
            Input(f"a{q}", ("N", "H"), "a block") for q in range(len(offsets))
        ),
        output_shape=("N", "S"),
        derived=((S, width * H),),
        tf="None",  # never run: no Keras counterpart
    )


@pytest.mark.parametrize(
    "offsets, width, joined",
    [((0, 1, 2), 3, True), ((1, 0), 2, True), ((0, 2), 3, False)],
    ids=["tiling", "tiling, out of order", "a gap: not a concatenation"],
)
def test_blocks_side_by_side_lower_to_a_concatenation_only_when_they_tile(
    offsets, width, joined
):
    from nnmath.checker.checks import check_lowering

    f = _blocks_formula(offsets, width)
    assert ("np.concatenate" in f.source) == joined, f.source
    check = check_lowering(f)  # against lambdify's loops
    assert check.passed, check.detail
    rng = np.random.default_rng(6)
    a = {f"a{q}": rng.normal(size=(2, 3)) for q in range(len(offsets))}
    expected = np.zeros((2, 3 * width))
    for q, off in enumerate(offsets):
        expected[:, 3 * off : 3 * off + 3] = a[f"a{q}"]
    np.testing.assert_array_equal(f.numpy(**a), expected)


def test_lstm_cell_and_its_claims_build_no_block_masks():
    from nnmath import claim, formula

    assert "np.concatenate" in formula("lstm_cell").source
    for w in ("W", "U", "b", "h", "c", "x"):
        assert "np.equal" not in claim(f"lstm_cell/d{w}").gradient.source, w


def test_a_slice_window_is_a_read_only_slice_and_a_matrix_contract_a_product():
    from nnmath.kernels import contract, window

    rng = np.random.default_rng(7)
    W = rng.normal(size=(5, 12))
    view = window(W, (1, (1,), (4,), 8), strict="W[j, 8 + u]")
    np.testing.assert_array_equal(view, W[:, 8:12])
    assert not view.flags.writeable
    strided = window(W, (1, (2,), (3,), 1))  # every other column: still a view
    np.testing.assert_array_equal(strided, W[:, 1:7:2])
    from nnmath.formula import OutOfBounds

    with pytest.raises(OutOfBounds):  # past the end: still refused, not sliced
        window(W, (1, (1,), (4,), 9), strict="W[j, 9 + u]")
    x = rng.normal(size=(3, 5))
    for spec, a, b in (
        ("ju,nj->nu", view.T.T, x),
        ("nj,ju->nu", x, view),
        ("ju,nj->un", view, x),
        ("nj,ju->un", x, view),
    ):
        np.testing.assert_allclose(
            contract(spec, a, b), np.einsum(spec, a, b), rtol=1e-14
        )
