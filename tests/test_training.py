"""Training on real data (scikit-learn's bundled iris and digits): the NumPy run
built from formulas and claims, and the same run in Keras, agree step for step."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import assert_close_to_tensorflow, close_to_tensorflow
from nnmath import formula
from nnmath.runs.training import (
    Network,
    epoch_orders,
    init_params,
    load,
    train,
)

#: float64 on both sides, the same operations in a different order: the
#: trajectories may differ by accumulated rounding only, as verify's
#: keras-trajectory rows state (measured here: 4.2e-16 relative on the losses)
TRAJECTORY = ("keras-trajectory", "float64")
#: (hidden units, epochs): at least 5 epochs; digits gets enough to pass 95 %
SETUPS = {"iris": (8, 5), "digits": (32, 10)}


@pytest.fixture(scope="module", params=list(SETUPS))
def setup(request):
    name = request.param
    data = load(name)
    hidden, epochs = SETUPS[name]
    p0 = init_params(data.x_train.shape[1], hidden, data.y_train.shape[1], seed=0)
    return name, data, p0, epochs


def test_unknown_dataset_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid: iris, digits"):
        load("mnist")


def test_split_is_disjoint_standardized_and_one_hot():
    data = load("digits")
    assert len(data.x_train) + len(data.x_test) == 1797
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0, atol=1e-12)
    assert set(np.unique(data.x_train.std(axis=0)).round(12)) <= {0.0, 1.0}
    np.testing.assert_array_equal(data.y_train.sum(axis=1), 1)
    assert data.class_names == tuple(str(d) for d in range(10))


def test_epoch_orders_are_seeded_permutations():
    a, b = epoch_orders(50, 3, seed=4), epoch_orders(50, 3, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(np.sort(x), np.arange(50))
    assert not np.array_equal(a[0], a[1])


def test_the_update_is_the_registered_sgd_formula():
    rule = formula("sgd", learning_rate=0.125)
    theta, g = np.array([1.0, -2.0]), np.array([0.5, 4.0])
    np.testing.assert_array_equal(rule.numpy(theta=theta, g=g), theta - 0.125 * g)


def test_numpy_training_lowers_the_loss_and_learns_digits(setup):
    name, data, p0, epochs = setup
    run = train(data, hidden=p0["W1"].shape[0], epochs=epochs, params=p0)
    assert run.losses[-1] < 0.5 * run.losses[0]
    assert np.all(np.diff(run.losses) < 0), "full-batch loss rose in an epoch"
    if name == "digits":
        assert run.test_accuracy >= 0.95, run.test_accuracy


class _SummedBatch(Network):
    """The bug the mean hides: δ₂ summed over the batch instead of averaged."""

    def backward(self, p, x, y, cache=None):
        return {k: v * len(x) for k, v in super().backward(p, x, y, cache).items()}


@pytest.mark.tf
def test_keras_fit_follows_the_same_loss_trajectory(setup):
    from nnmath.checker import oracle

    name, data, p0, epochs = setup
    hidden = p0["W1"].shape[0]
    ours = train(data, hidden=hidden, epochs=epochs, params=p0)
    keras = oracle.train_keras(
        data.x_train,
        data.y_train,
        p0,
        epoch_orders(len(data.x_train), epochs, seed=0),
        activation="tanh",
        head="softmax",
        learning_rate=0.125,
        batch_size=32,
        x_test=data.x_test,
    )
    assert len(keras["losses"]) == epochs + 1 >= 6
    assert_close_to_tensorflow(ours.losses, keras["losses"], *TRAJECTORY, what="losses")
    for k in ours.params:
        assert_close_to_tensorflow(
            ours.params[k], keras["params"][k], *TRAJECTORY, what=k
        )
    keras_accuracy = np.mean(keras["test_logits"].argmax(1) == data.y_test.argmax(1))
    assert ours.test_accuracy == keras_accuracy
    if name == "digits":
        assert keras_accuracy >= 0.95
        # the comparison can fail: a backward pass that sums the batch leaves Keras
        wrong = train(data, hidden=hidden, epochs=1, params=p0, net=_SummedBatch())
        assert not close_to_tensorflow(
            wrong.losses[1], keras["losses"][1], *TRAJECTORY
        ).ok


@pytest.mark.tf
def test_keras_agrees_for_relu_and_a_sigmoid_head():
    """Independent sigmoid outputs with binary cross-entropy, averaged over the
    batch and the classes as Keras does."""
    from nnmath.checker import oracle

    data = load("iris")
    p0 = init_params(4, 8, 3, seed=1)
    setup = {"activation": "relu", "head": "sigmoid"}
    ours = train(data, hidden=8, epochs=5, params=p0, seed=1, **setup)
    keras = oracle.train_keras(
        data.x_train,
        data.y_train,
        p0,
        epoch_orders(len(data.x_train), 5, seed=1),
        learning_rate=0.125,
        batch_size=32,
        **setup,
    )
    assert_close_to_tensorflow(ours.losses, keras["losses"], *TRAJECTORY, what="losses")
    assert ours.losses[-1] < ours.losses[0]
