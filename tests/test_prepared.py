"""A formula prepared for one shape per input (Formula.prepare, issue 19): the
shapes are checked when it is prepared, a call compares shapes and checks values,
and anything else is Formula.numpy's, with the same errors and the same numbers.

Speed is measured in bench/overhead.py; these tests assert what preparing must
not change."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import sympy as sp

from nnmath import ShapeError, claim, formula
from nnmath.formula import Formula, Input, OutOfBounds, indices
from nnmath.runs.training import (
    Network,
    epoch_orders,
    init_params,
    load,
    minibatches,
    sgd_step,
    train,
)

RNG = np.random.default_rng(1919)
DENSE = {"x": (2, 3), "W": (5, 3), "b": (5,)}


def fresh(f: Formula) -> Formula:
    """The same formula with nothing remembered: no signature seen yet."""
    return dataclasses.replace(f)


def raised(call, *args, **kwargs) -> tuple[type, str]:
    with pytest.raises(Exception) as e:
        call(*args, **kwargs)
    return type(e.value), str(e.value)


def arrays(shapes: dict) -> dict[str, np.ndarray]:
    return {k: RNG.normal(size=s) for k, s in shapes.items()}


# -- the numbers -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "f, shapes",
    [
        (formula("dense"), DENSE),
        (formula("softmax"), {"z": (4, 3)}),
        # a lowered function with a size keyword (N)
        (
            claim("categorical_crossentropy_logits/dz").gradient,
            {"z": (4, 3), "y": (4, 3)},
        ),
        (formula("conv2d"), {"x": (2, 5, 6, 2), "w": (3, 2, 2, 4), "b": (4,)}),
    ],
    ids=["dense", "softmax", "dz with N", "conv2d"],
)
def test_a_prepared_call_returns_exactly_what_numpy_returns(f, shapes):
    prepared = f.prepare(**shapes)
    given = arrays(shapes)
    want = f.numpy(**given)
    np.testing.assert_array_equal(prepared(*given.values()), want)
    np.testing.assert_array_equal(prepared(**given), want)


# -- the shapes: checked when prepared, compared on every call -------------------------
BAD = {
    "inner dimension": {"x": (2, 4), "W": (5, 3), "b": (5,)},
    "a bias of another size": {"x": (2, 3), "W": (5, 3), "b": (4,)},
    "a broadcast bias": {"x": (2, 3), "W": (5, 3), "b": (1, 5)},
    "a batch of another size": {"x": (7, 3), "W": (5, 3), "b": (5,)},
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_prepared_call_at_another_shape_is_the_unprepared_call(case):
    prepared = fresh(formula("dense")).prepare(**DENSE)
    given = {k: np.ones(s) for k, s in BAD[case].items()}
    if case == "a batch of another size":  # consistent: computed, not refused
        want = formula("dense").numpy(**given)
        np.testing.assert_array_equal(prepared(*given.values()), want)
        return
    expected = raised(fresh(formula("dense")).numpy, **given)
    assert expected[0] is ShapeError
    assert raised(prepared, *given.values()) == expected
    assert raised(prepared, **given) == expected


@pytest.mark.parametrize("case", [c for c in BAD if c != "a batch of another size"])
def test_preparing_bad_shapes_raises_what_a_call_with_them_raises(case):
    expected = raised(
        fresh(formula("dense")).numpy, **{k: np.ones(s) for k, s in BAD[case].items()}
    )
    assert raised(fresh(formula("dense")).prepare, **BAD[case]) == expected


def test_preparing_checks_the_sizes_a_formula_rejects_and_the_names():
    conv = fresh(formula("conv2d"))
    x, big, b = (1, 5, 5, 2), (7, 7, 2, 4), (4,)
    expected = raised(conv.numpy, x=np.ones(x), w=np.ones(big), b=np.ones(b))
    assert raised(conv.prepare, x=x, w=big, b=b) == expected
    dense = fresh(formula("dense"))
    assert raised(dense.prepare, x=(2, 3), W=(5, 3)) == (
        ValueError,
        "dense takes inputs x, W, b; missing b",
    )
    assert raised(dense.prepare, **DENSE, c=(5,)) == (
        ValueError,
        "dense takes inputs x, W, b; unexpected c",
    )


@pytest.mark.parametrize("shape", [np.ones(3), 3, (2, -1), (2.0, 3)])
def test_what_is_not_a_shape_is_refused_in_one_line(shape):
    kind, text = raised(formula("dense").prepare, x=shape, W=(5, 3), b=(5,))
    assert kind is ValueError
    assert text.startswith("dense.prepare: x=") and "is not a shape" in text
    assert "\n" not in text


def test_a_prepared_call_binds_nothing_and_another_shape_is_bound_again(monkeypatch):
    calls = []
    bind = Formula.bind_shapes
    monkeypatch.setattr(
        Formula, "bind_shapes", lambda self, s: calls.append(s) or bind(self, s)
    )
    f = fresh(formula("dense"))
    prepared = f.prepare(**DENSE)
    assert len(calls) == 1
    given = arrays(DENSE)
    for _ in range(5):
        prepared(*given.values())
    assert len(calls) == 1  # the shapes compared, not bound
    other = arrays({"x": (7, 3), "W": (5, 3), "b": (5,)})
    np.testing.assert_array_equal(prepared(**other), f.numpy(**other))
    assert len(calls) == 2  # checked as numpy() checks a new signature


# -- the values: checked on every call -------------------------------------------------
def test_values_are_checked_on_every_prepared_call():
    f = fresh(formula("dropout", rate=0.5))
    prepared = f.prepare(x=(2, 3), mask=(2, 3))
    x, mask = np.ones((2, 3)), np.array([[0.0, 1, 1], [1, 0, 1]])
    np.testing.assert_array_equal(prepared(x, mask), f.numpy(x=x, mask=mask))
    bad = np.full((2, 3), 0.5)
    expected = raised(f.numpy, x=x, mask=bad)
    assert expected[0] is ValueError and "mask" in expected[1]
    for _ in range(2):  # a good call in between remembers nothing
        assert raised(prepared, x, bad) == expected
        prepared(x, mask)


def test_a_read_outside_an_input_names_the_formula_as_numpy_does():
    n, i = indices("n i")
    x = sp.IndexedBase("x")
    f = Formula(
        name="t_next",
        title="",
        output="d",
        indices=(n, i),
        expr=x[n, i + 1] - x[n, i],
        inputs=(Input("x", ("N", "I"), ""),),
        tf="",
        output_shape=("N", "I"),
    )
    given = np.arange(6.0).reshape(2, 3)
    expected = raised(f.numpy, x=given)
    assert expected[0] is OutOfBounds and expected[1].startswith("t_next reads ")
    assert raised(f.prepare(x=(2, 3)), given) == expected


def test_an_input_may_not_take_a_name_the_guard_reads():
    n = indices("n")
    f = Formula(
        name="t_taken",
        title="",
        output="a",
        indices=(n,),
        expr=2 * sp.IndexedBase("_check")[n],
        inputs=(Input("_check", ("N",), ""),),
        tf="",
        output_shape=("N",),
    )
    assert raised(f.prepare, _check=(3,)) == (
        ValueError,
        "t_taken.prepare: an input may not be named _check",
    )


# -- what is not an array of the prepared shape ----------------------------------------
@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_lists_numbers_and_subclasses_are_made_arrays_as_numpy_does():
    dense = fresh(formula("dense"))
    prepared = dense.prepare(x=(1, 2), W=(2, 2), b=(2,))
    got = prepared([[1.0, 2.0]], [[1.0, 0.0], [0.0, 1.0]], [0.5, -0.5])
    np.testing.assert_array_equal(got, [[1.5, 1.5]])
    assert raised(prepared, [[1.0, 2.0]], [[1.0, 0.0]], 2) == raised(
        dense.numpy, x=[[1.0, 2.0]], W=[[1.0, 0.0]], b=2
    )
    # an np.matrix has the prepared shape, but its * is a matrix product: it is
    # made a plain array first, as numpy() makes it
    m = np.matrix([[1.0, 2.0]])
    got = prepared(m, np.eye(2), np.zeros(2))
    assert type(got) is np.ndarray
    np.testing.assert_array_equal(got, dense.numpy(x=m, W=np.eye(2), b=np.zeros(2)))
    neuron = fresh(formula("neuron"))  # whose bias is a number
    prepared = neuron.prepare(x=(1, 2), w=(2,), b=())
    for b in (2.0, np.float64(2.0), np.array(2.0)):
        a = prepared(np.array([[1.0, 2.0]]), np.array([0.5, -0.25]), b)
        np.testing.assert_allclose(a, [1 / (1 + np.exp(-2.0))], rtol=1e-15)


def test_a_missing_argument_is_pythons_error_naming_it():
    prepared = formula("dense").prepare(**DENSE)
    kind, text = raised(prepared, np.ones((2, 3)), np.ones((5, 3)))
    assert kind is TypeError and "'b'" in text


# -- training through prepared networks ------------------------------------------------
def test_a_prepared_network_is_a_copy_with_the_same_passes():
    data = load("iris")
    p = init_params(4, 5, 3, seed=0)
    x, y = data.x_train[:7], data.y_train[:7]
    net = Network()
    prepared = net.prepare(p, 7)
    assert net.calls.dense1 == net.dense.numpy  # the network itself is unchanged
    assert prepared.calls.dense1.shapes == {"x": (7, 4), "W": (5, 4), "b": (5,)}
    assert prepared.calls.dense2.shapes == {"x": (7, 5), "W": (3, 5), "b": (3,)}
    want, got = net.backward(p, x, y), prepared.backward(p, x, y)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    # at another batch size the prepared network still computes, as numpy() does
    for k, v in net.backward(p, data.x_train, data.y_train).items():
        np.testing.assert_array_equal(
            prepared.backward(p, data.x_train, data.y_train)[k], v
        )


def test_train_is_bit_for_bit_the_unprepared_epoch_with_its_short_last_batch():
    data = load("iris")  # 112 training samples: batches of 32, the last of 16
    x, y = data.x_train, data.y_train
    p0 = init_params(4, 6, 3, seed=0)
    assert {len(b) for b in minibatches(np.arange(len(x)), 32)} == {32, 16}
    run = train(data, hidden=6, epochs=2, params=p0)
    net, p = Network(), {k: np.array(v) for k, v in p0.items()}
    for order in epoch_orders(len(x), 2, seed=0):
        for idx in minibatches(order, 32):
            p = sgd_step(p, net.backward(p, x[idx], y[idx]), 0.125)
    for k in p:
        np.testing.assert_array_equal(run.params[k], p[k])
