"""Formula parameters: each declares its type and range once, at registration, and
the Python API checks values against it as the command line does."""

from __future__ import annotations

import pytest

from nnmath import formula, registry
from nnmath.params import ParamError, Real

DEEP = [[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]


@pytest.mark.parametrize(
    ("name", "params", "needle"),
    [
        ("conv2d", {"stride": True}, "conv2d: stride=True is not valid; valid: 1, 2"),
        ("conv2d", {"stride": {}}, "conv2d: stride={} is not valid"),
        ("conv2d", {"stride": (2, 1, 1)}, "conv2d: stride=(2, 1, 1) is not valid"),
        ("conv2d", {"padding": ((1, 0), (2, True))}, "valid: valid, same, ((top"),
        ("conv2d", {"bias": 1}, "conv2d: bias=1 is not valid; valid: True or False"),
        ("leaky_relu", {"alpha": "abc"}, "leaky_relu: alpha='abc' is not valid"),
        ("sgd", {"learning_rate": float("inf")}, "sgd: learning_rate=inf is not valid"),
        ("sgd", {"learning_rate": 10**400}, "valid: a number > 0"),
        ("sgd", {"learning_rate": "abc"}, "valid: a number > 0"),
        (
            "sgd",
            {"learning_rate": DEEP},
            "learning_rate=[[[[[[[...]]]]]]] is not valid",
        ),
        (
            "adam",
            {"beta_1": 2},
            "adam: beta_1=2 is not valid; valid: a number in [0, 1)",
        ),
        ("adam", {"beta_2": 1.0}, "valid: a number in [0, 1)"),
        ("adam", {"epsilon": -1}, "adam: epsilon=-1 is not valid; valid: a number > 0"),
        ("rmsprop", {"rho": -0.1}, "valid: a number in [0, 1]"),
        (
            "mlp",
            {"activation": "relu"},
            "mlp: activation='relu' is not valid; valid: sigmoid, tanh",
        ),
        ("gd_batch", {"learning_rate": -0.1}, "valid: a number > 0"),
    ],
)
def test_the_python_api_rejects_what_the_spec_does_not_allow(name, params, needle):
    with pytest.raises(ParamError) as info:
        formula(name, **params)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


def test_values_are_kept_in_one_canonical_form():
    assert formula("conv2d", stride=2) is formula("conv2d", stride=(2, 2))
    assert formula("conv2d", padding="SAME") is formula("conv2d", padding="same")
    assert formula("sgd", learning_rate=1) is formula("sgd", learning_rate=1.0)
    assert formula("sgd", learning_rate=1).params == {"learning_rate": 1.0}


def test_every_formula_declares_every_parameter_with_a_default():
    for name in registry.names():
        for key, (spec, default) in registry.parameters(name).items():
            assert spec.valid, (name, key)
            assert spec.check(default) is not None or default is None, (name, key)


def test_a_builder_with_an_undeclared_parameter_is_refused_at_registration():
    with pytest.raises(TypeError, match="undeclared: alpha"):

        @registry.register("nnbook_test_undeclared")
        def _build(alpha=0.5):  # pragma: no cover - never registered
            raise AssertionError

    with pytest.raises(TypeError, match="not parameters of the builder: beta"):

        @registry.register("nnbook_test_unknown", params={"beta": Real()})
        def _build2():  # pragma: no cover
            raise AssertionError

    assert "nnbook_test_undeclared" not in registry.names()


def test_command_line_text_is_read_by_the_spec_never_evaluated():
    assert registry.parse_params("conv2d", {"stride": "(2, 1)", "padding": "same"}) == {
        "stride": (2, 1),
        "padding": "same",
    }
    assert registry.parse_params("conv2d", {"padding": "((1, 0), (2, 1))"}) == {
        "padding": ((1, 0), (2, 1))
    }
    with pytest.raises(ParamError, match="stride=__import__"):
        registry.parse_params("conv2d", {"stride": "__import__('os')"})
