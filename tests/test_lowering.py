"""The fast NumPy lowering equals the symbolic definition, and reads like it."""

from __future__ import annotations

import numpy as np
import pytest

from nnmath import ShapeError, UnknownNameError, formula, names
from nnmath.checker.cases import Case, cases_for, sample
from nnmath.checker.checks import TOLERANCES, compare
from nnmath.checker.loop_oracle import loop_oracle

REQUIRED = [
    "neuron",
    "dense",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "softmax",
    "mse",
    "binary_crossentropy",
    "binary_crossentropy_logits",
    "categorical_crossentropy",
    "categorical_crossentropy_logits",
]


def test_every_required_formula_is_registered():
    assert set(REQUIRED) <= set(names())


@pytest.mark.parametrize("name", REQUIRED)
def test_lowering_equals_lambdify_loop_oracle_on_every_case(name):
    f = formula(name)
    slow = loop_oracle(f)
    for case in cases_for(f):
        tiny = Case(case.name, {d: min(v, 3) for d, v in case.sizes.items()}, case.kind)
        arrays = sample(f, tiny)
        _, _, ok = compare(
            f.numpy(**arrays), slow(**arrays), TOLERANCES[("lowering", "float64")]
        )
        assert ok, (name, case.name)


@pytest.mark.parametrize("name", REQUIRED)
def test_generated_source_is_vectorized_and_compiles(name):
    src = formula(name).source
    assert src.startswith(f"def {name}(")
    assert " for " not in src and "while" not in src  # no Python loop over elements
    compile(src, "<test>", "exec")


def test_dense_is_one_matrix_product():
    # a sum over one index shared by two matrices is a GEMM: the printer says
    # so (issue 19), rather than leaving einsum to find it on every call
    assert formula("dense").source.endswith("return b + x @ W.T\n")


def test_an_array_read_under_two_summation_indices_is_computed_once():
    # attention reads K_{n,s,h,a} = b_k + Σ_d W_k x under the dummies of the
    # softmax's max, its numerator and its denominator: three einsums printed
    # with three letters for s, once computed three times over
    src = formula("multi_head_attention", heads=2, key_dim=3).source
    assert src.count("W_k, y)") == 1, src
    assert src.count("np.exp(") == 1, src
    f = formula("multi_head_attention", heads=2, key_dim=3)
    rng = np.random.default_rng(0)
    shapes = {"x": (1, 2, 4), "y": (1, 3, 4), "W_o": (2, 3, 4), "b_o": (4,)}
    shapes |= {f"W_{z}": (4, 2, 3) for z in "qkv"} | {f"b_{z}": (2, 3) for z in "qkv"}
    arrays = {k: rng.standard_normal(v) for k, v in shapes.items()}
    _, _, ok = compare(
        f.numpy(**arrays),
        loop_oracle(f)(**arrays),
        TOLERANCES[("lowering", "float64")],
    )
    assert ok


def test_softmax_source_subtracts_the_row_max():
    assert "z - z.max(axis=1)[:, None]" in formula("softmax").source


def test_sigmoid_of_a_sum_is_parenthesised():
    # regression: σ(b + Σ w x) once lowered to logaddexp(0, -b + Σ w x)
    assert "expit(b + x @ w)" in formula("neuron").source
    x = np.array([[1.0, 2.0]])
    a = formula("neuron").numpy(x=x, w=np.array([0.5, -0.25]), b=2.0)
    np.testing.assert_allclose(a, 1 / (1 + np.exp(-(2.0 + 0.5 - 0.5))), rtol=1e-15)


def test_softmax_is_finite_at_logits_of_1000():
    z = np.array([[1000.0, 999.0, -1000.0]])
    a = formula("softmax").numpy(z=z)
    assert np.all(np.isfinite(a))
    np.testing.assert_allclose(a.sum(), 1.0, rtol=1e-15)
    np.testing.assert_allclose(a[0, 0], 1 / (1 + np.exp(-1.0)), rtol=1e-14)


def test_logit_losses_are_finite_at_logits_of_1000():
    z = np.array([[1000.0, -1000.0]])
    y = np.array([[0.0, 1.0]])
    assert np.isfinite(formula("binary_crossentropy_logits").numpy(z=z, y=y))
    assert np.isfinite(formula("categorical_crossentropy_logits").numpy(z=z, y=y))


def test_binary_crossentropy_clips_probabilities_like_keras():
    p, y = np.array([[0.0, 1.0]]), np.array([[1.0, 0.0]])
    # both terms are clipped to log(eps): L = -log(1e-7) on each of 2 classes, mean
    np.testing.assert_allclose(
        formula("binary_crossentropy").numpy(p=p, y=y), -np.log(1e-7), rtol=1e-9
    )


def test_broadcast_trap_is_rejected_with_a_clear_message():
    # the classic tutorial bug: predictions (3, 1) against targets (3,)
    with pytest.raises(ShapeError, match=r"y has shape \(3,\) but must be \(N, K\)"):
        formula("mse").numpy(yhat=np.ones((3, 1)), y=np.ones((3,)))
    with pytest.raises(ShapeError, match="but .* gives"):
        formula("mse").numpy(yhat=np.ones((3, 1)), y=np.ones((1, 3)))


def test_dense_rejects_mismatched_inner_dimension():
    with pytest.raises(ShapeError, match="J=3"):
        formula("dense").numpy(x=np.ones((2, 4)), W=np.ones((5, 3)), b=np.ones(5))


def test_unknown_formula_lists_valid_names():
    with pytest.raises(UnknownNameError, match="valid: .*softmax"):
        formula("softmaxx")


def test_unknown_parameter_lists_valid_ones():
    with pytest.raises(ValueError, match="valid: alpha"):
        formula("leaky_relu", slope=0.1)


def test_leaky_relu_slope_is_a_parameter():
    z = np.array([[-2.0, 3.0]])
    np.testing.assert_array_equal(
        formula("leaky_relu", alpha=0.1).numpy(z=z), [[-0.2, 3.0]]
    )


@pytest.mark.parametrize("name", REQUIRED)
def test_latex_is_a_nonempty_equation(name):
    tex = formula(name).latex
    assert "=" in tex and tex.count("{") == tex.count("}")


def test_relative_error_is_not_reported_below_the_absolute_tolerance():
    # regression: a float32 softmax row passed by atol yet printed a relative
    # error of 7.6e+263, from a reference probability of about 1e-300
    from nnmath.checker.checks import Tolerance

    tol = Tolerance(rtol=2e-5, atol=1e-6)
    max_abs, max_rel, ok = compare(np.array([0.5, 1e-8]), np.array([0.5, 1e-300]), tol)
    assert ok and max_abs == pytest.approx(1e-8) and max_rel == 0.0
    max_abs, max_rel, ok = compare(np.array([0.51]), np.array([0.5]), tol)
    assert not ok and max_rel == pytest.approx(0.02)


def test_nnmath_imports_heavy_libraries_in_one_module_each():
    """DESIGN: nnmath is SymPy and NumPy; TensorFlow only in oracle.py, the
    bundled datasets (scikit-learn) only in data.py, Manim never."""
    import ast
    from pathlib import Path

    import nnmath

    allowed = {
        "tensorflow": {"oracle.py"},
        "keras": {"oracle.py"},
        "sklearn": {"data.py"},
        "manim": set(),
    }
    for path in Path(nnmath.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules = [node.module or ""]
            else:
                continue
            for m in modules:
                top = m.split(".")[0]
                if top in allowed:
                    assert path.name in allowed[top], f"{path.name} imports {m}"


def test_freed_numpy_memory_stays_in_the_process():
    # lowered formulas allocate megabytes of temporaries per call; glibc is asked
    # to keep them rather than unmap and page-fault them back every call
    import ctypes.util
    import sys

    from nnmath.kernels import keep_freed_memory

    if not sys.platform.startswith("linux") or not ctypes.util.find_library("c"):
        pytest.skip("a glibc setting")
    assert keep_freed_memory() is True


def test_importing_nnmath_changes_no_process_setting():
    """Nothing runs at import but definitions: importing every module of nnmath
    loads no C library (keep_freed_memory used to set glibc's malloc on import
    of the lowering); the entry points call it explicitly."""
    import subprocess
    import sys

    probe = """
import ctypes, importlib, pkgutil
loaded = []
real = ctypes.CDLL
ctypes.CDLL = lambda name, *a, **k: loaded.append(name) or real(name, *a, **k)
import nnmath
for m in pkgutil.walk_packages(nnmath.__path__, "nnmath."):
    importlib.import_module(m.name)
print(loaded)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_array_named_with_a_subscript_carries_it_above_its_indices():
    # regression: {b_{o}}_{o} typeset as b_{oo}, {W_{o}}_{h,e,o} as W_{oh,e,o}
    latex = formula("multi_head_attention").latex
    assert "{b^{o}}_{o}" in latex and "{W^{o}}_{h,e,o}" in latex
    assert "{b_{o}}" not in latex and "{W_{q}}" not in latex


def test_a_name_that_is_a_word_is_set_as_a_word():
    # regression: momentum printed as italic letters glued to the next factor,
    # "momentummoving_{variance}"; mask as m·a·s·k
    latex = formula("batch_norm_moving_variance").latex
    assert r"\operatorname{momentum} {\operatorname{moving\_variance}}_{i}" in latex
    assert r"{\operatorname{mask}}_{n,i}" in formula("dropout").latex
    # Greek names and SymPy's modifiers keep their own printing
    assert r"\hat{y}" in formula("mse").latex and r"\lambda" in formula("adamw").latex


def test_sigmoid_is_exact_and_finite_at_every_magnitude():
    z = np.array([[-1000.0, -40.0, -1e-300, 0.0, 5e-17, 36.0, 1000.0]])
    import mpmath

    with np.errstate(all="raise"):  # no overflow warning at −1000
        s = formula("sigmoid").numpy(z=z)
    with mpmath.workdps(50):
        exact = np.array([[float(1 / (1 + mpmath.exp(-mpmath.mpf(v)))) for v in z[0]]])
    # within one ulp of the value to 50 digits, tiny ones included
    assert np.all(np.abs(s - exact) <= np.spacing(exact)), s - exact


def test_formulas_lowered_together_compute_each_gate_once_and_the_same_numbers():
    """An LSTM cell's gradients at one step, in one function: the gates they
    all start from are computed once (a training step called five functions
    that each computed them), and every value is bit for bit what the
    formula's own lowering gives, but for ∂L/∂b's sum over the batch, which
    adds the same terms in another order."""
    from nnmath.library.recurrent import cell_claims
    from nnmath.lowering import lower_together

    grads = [c.gradient for c in cell_claims("lstm_cell").values()]
    together = lower_together("lstm_cell_gradients", grads)
    alone = sum(g.source.count("expit(") for g in grads)
    # i, f and o once (∂L/∂b = Σ_n δ^z reads the δ^z of the others, not its
    # transpose): 3 against 18 in the six functions
    assert together.source.count("expit(") == 3 < alone == 18
    rng = np.random.default_rng(3)
    N, F, H = 40, 3, 2  # apart, so a transposed read cannot pass
    arrays = {
        "x": rng.normal(size=(N, F)),
        "h": rng.normal(size=(N, H)),
        "c": rng.normal(size=(N, H)),
        "W": rng.normal(size=(F, 4 * H)),
        "U": rng.normal(size=(H, 4 * H)),
        "b": rng.normal(size=4 * H),
        "g": rng.normal(size=(N, 2 * H)),
    }
    values = together.function(**arrays, H=H)
    for g, value in zip(grads, values, strict=True):
        own = g.numpy(**{n: arrays[n] for n in g.input_names})
        assert value.shape == own.shape, g.name
        if g.name == "lstm_cell_db":  # measured ≤ 20 ulps of the largest at N = 1000
            ulps = np.abs(value - own) / np.spacing(np.abs(own).max())
            assert ulps.max() <= 20, ulps.max()
        else:
            assert np.array_equal(value, own), g.name


def test_a_gate_slice_of_a_kernel_is_multiplied_with_at_and_a_conv_window_is_not():
    """An LSTM gate's columns W[j, H + u] are a view with W's own axes: ``@``
    takes it as it is (contract() added ~15 µs of Python to each of a cell's
    eight products).  A convolution's window turns axes into several: it stays
    with contract(), which never copies the im2col out in one piece."""
    lstm = formula("lstm_cell").source
    assert "contract(" not in lstm and lstm.count(" @ window(W") == 4
    assert "contract(" in formula("conv2d", stride=2).source


@pytest.mark.parametrize(
    "name",
    [
        "attention",
        "multi_head_attention",
        "lstm_cell",
        "gru_cell",
        "batch_norm",
        "layer_norm",
        "attention/dv",
        "attention/dq.causal",
    ],
)
def test_the_loop_oracle_by_parts_is_the_oracle_with_the_parts_put_in(name):
    """Evaluating a formula's named parts once each (multi-head attention's
    ∂L/∂W_q: 0.15 s against 309 s with the parts put into the expression) is
    the same 50-digit arithmetic: the same float64 values, exactly."""
    from nnmath import claim

    f = claim(name).gradient if "/" in name else formula(name)
    assert f.where, "a formula written in parts"
    case = min(cases_for(f), key=lambda c: np.prod(list(c.sizes.values())))
    arrays = sample(f, case)
    parts = loop_oracle(f)(**arrays)
    whole = loop_oracle(f, by_parts=False)(**arrays)
    assert np.array_equal(parts, whole, equal_nan=True)


def test_the_loop_oracle_by_parts_still_catches_a_wrong_lowering():
    """A lowering that computes something else than its parts say fails the
    lowering check with the part-by-part oracle as it did before."""
    import dataclasses

    from nnmath.checker.checks import check_lowering
    from nnmath.lowering import lower

    f = formula("layer_norm")
    wrong_body = f.lowered.body.replace("(epsilon +", "(2 * epsilon +")
    assert wrong_body != f.lowered.body
    namespace = {}
    exec(f.lowered.head + wrong_body, {**f.lowered.function.__globals__}, namespace)
    wrong = dataclasses.replace(f.lowered, body=wrong_body, function=namespace[f.name])
    g = dataclasses.replace(f)
    g.__dict__["lowered"] = wrong  # the cached lowering, replaced
    assert lower(f).source == f.lowered.source
    check = check_lowering(g)
    assert not check.passed, check.detail


def test_a_local_variable_of_formulas_lowered_together_never_takes_an_inputs_name():
    """A names its shared e^x t1 before B, whose input is called t1, was seen:
    the function took t1 and overwrote it (B came out [0, 2.718] for [5, 19.03])."""
    import sympy as sp

    from nnmath import Formula, Input
    from nnmath.formula import indices
    from nnmath.lowering import lower_together

    i = indices("i")
    x, t1 = sp.IndexedBase("x"), sp.IndexedBase("t1")

    def make(name, expr, inputs, dim="N"):
        return Formula(
            name=name,
            title="",
            output=name.lower(),
            indices=(i,),
            expr=expr,
            inputs=tuple(Input(n, (dim,), "") for n in inputs),
            tf="",
            output_shape=(dim,),
        )

    a = make("A", sp.exp(x[i]) * sp.exp(x[i]) + sp.exp(x[i]), ["x"])
    b = make("B", t1[i] * sp.exp(x[i]), ["x", "t1"])
    together = lower_together("g", [a, b])
    xs, ts = np.array([0.0, 1.0]), np.array([5.0, 7.0])
    sizes = {"N": 2} if "N" in together.dim_args else {}
    _, got = together.function(x=xs, t1=ts, **sizes)
    assert np.array_equal(got, b.numpy(x=xs, t1=ts)), together.source
    with pytest.raises(ValueError, match="must agree on every input"):
        lower_together("g", [a, make("C", sp.exp(x[i]), ["x"], dim="M")])


def test_formulas_prepared_together_are_held_to_their_own_lowerings(monkeypatch):
    """What a training loop runs (one function for a step's gradients) is not
    what verify checks (each claim's own lowering): its first call compares
    the two, so a wrong joint lowering stops training instead of passing."""
    import dataclasses

    from nnmath import prepared
    from nnmath.library.recurrent import cell_claims
    from nnmath.lowering import LoweringError, lower_together

    grads = [c.gradient for c in cell_claims("rnn_cell").values()]
    rng = np.random.default_rng(5)
    N, F, H = 5, 3, 2
    arrays = {
        "x": rng.normal(size=(N, F)),
        "h": rng.normal(size=(N, H)),
        "W": rng.normal(size=(F, H)),
        "U": rng.normal(size=(H, H)),
        "b": rng.normal(size=H),
        "g": rng.normal(size=(N, H)),
    }
    shapes = {k: v.shape for k, v in arrays.items()}
    right = prepared.prepare_together("rnn_grads", grads, shapes)
    for g, value in zip(grads, right(**arrays)):
        assert np.array_equal(value, g.numpy(**{n: arrays[n] for n in g.input_names}))
    good = lower_together("rnn_grads", grads)

    def off_by_one(*args, **kwargs):
        values = good.function(*args, **kwargs)
        return (values[0] + 1, *values[1:])

    monkeypatch.setattr(
        prepared,
        "_together",
        lambda name, fs: dataclasses.replace(good, function=off_by_one),
    )
    wrong = prepared.prepare_together("rnn_grads", grads, shapes)
    with pytest.raises(LoweringError, match="is not what its own lowering computes"):
        wrong(**arrays)
