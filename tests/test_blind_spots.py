"""verify's blind spots, closed (issue 10, sections 1, 4, 5 and 6).

Two lecturer-style chapter files drive most tests: ``careless_chapter.py``, whose
formulas and claims are wrong the way tutorials get them wrong (each must fail),
and ``rewrites_chapter.py``, correct claims written as textbooks write them
(each must pass).  ``hanging_claim.py`` holds a claim SymPy cannot decide.
"""

from __future__ import annotations

import concurrent.futures
import io
import signal
import time
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import chapters
from helpers import formula_claims
from nnmath import Claim, Formula, Input, claim, formula, names
from nnmath import claim_names as registry_claims
from nnmath.checker.cases import (
    Case,
    _large,
    cases_for,
    collisions,
    distinct_sizes,
    instance_sizes,
    reaching,
    sample,
)
from nnmath.checker.checks import (
    TOLERANCES,
    Tolerance,
    _accumulate,
    _Errors,
    compare,
    verify,
)
from nnmath.checker.deadline import CheckTimeout, time_limit
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.checker.symbolic import prove
from nnmath.formula import OutOfBounds, dims, indices
from publishing.gate import subjects

DATA = Path(__file__).parent / "data"
CARELESS, REWRITES, HANGING = (
    DATA / f for f in ("careless_chapter.py", "rewrites_chapter.py", "hanging_claim.py")
)
#: formulas whose sizes are chosen by nnmath/library/conv.py (issue 20)
CONV = {"conv2d", "max_pool2d", "avg_pool2d", "flatten"}
#: formulas whose cases tell apart the axes of each tensor, not all dimensions at
#: once: multi-head attention's seven (N, T, S, D, heads, key_dim, value_dim) all
#: distinct make its loop oracle and proofs far too slow (N·T·D outputs, each a
#: sum over heads, keys and two projections)
#: Its claims' 2 heads of width 4 (1/√4 exact in Keras's float32) are a square:
#: that hides nothing, as no tensor has two head axes a claim could flatten
PER_TENSOR = {"multi_head_attention"}


def _apart_per_tensor(f: Formula, sizes: dict) -> None:
    tensors = [i.shape for i in f.inputs] + [f.output_shape]
    for shape in tensors:
        axes = {d: sizes[d] for d in shape if sizes[d] != 1}  # a batch of one
        found = [c for c in collisions(axes) if c not in ("H² = d_k", "H² = d_v")]
        assert not found, (f.name, shape, axes)


def _load(path: Path):
    return subjects([chapters.get(str(path))])


def _rows(claims=(), formulas=(), **kw):
    return {
        (r.subject, r.method): r for r in verify(formulas, claims, oracle=False, **kw)
    }


def _free(f: Formula, sizes: dict) -> dict:
    derived = {s.name for s, _ in f.derived}
    return {d: v for d, v in sizes.items() if d not in derived}


# -- 1. sizes that tell dimensions apart -------------------------------------------
def test_collisions_name_equal_sizes_products_and_squares():
    assert collisions({"N": 2, "K": 2}) == ["K = N"]
    assert collisions({"H": 2, "W": 3, "C": 6}) == ["H·W = C"]
    assert collisions({"H": 3, "W": 9}) == ["H² = W"]
    assert collisions({"N": 1, "H": 3, "W": 5}) == []  # 1·H = H is no confusion
    assert collisions({"N": 3, "J": 2, "I": 5, "K": 7}) == []


def test_declared_sizes_that_collide_are_moved_apart():
    assert distinct_sizes(["N", "K"], {"N": 2, "K": 2}) == {"N": 2, "K": 3}
    assert distinct_sizes(["N", "J", "I", "K"], {}) == {"N": 2, "J": 3, "I": 5, "K": 7}
    assert distinct_sizes(["N", "K"], {"N": 2, "K": 1}) == {"N": 2, "K": 1}


@pytest.mark.parametrize("name", names())
def test_every_numeric_case_tells_every_dimension_apart(name):
    f = formula(name)
    for case in cases_for(f):
        if name in PER_TENSOR:
            _apart_per_tensor(f, case.sizes)
            continue
        assert not collisions(_free(f, case.sizes)), (case.name, collisions(case.sizes))


@pytest.mark.parametrize(
    "name", [n for n in formula_claims() if not claim(n).elementwise]
)
def test_every_symbolic_instance_tells_every_dimension_apart(name):
    c = claim(name)
    sizes = _free(c.formula, instance_sizes(c))
    if c.formula.name in PER_TENSOR:
        _apart_per_tensor(c.formula, instance_sizes(c))
        return
    if c.formula.name not in CONV:
        assert not collisions(sizes) and 1 not in sizes.values(), sizes
        return
    # a convolution's instance tells apart the axes of each tensor (x, w and the
    # upstream g): all seven dimensions distinct at once made the proofs 70x
    # slower (316 s against 4.3 s); its numeric cases tell all of them apart
    full = instance_sizes(c)
    tensors = [i.shape for i in c.formula.inputs] + [c.formula.output_shape]
    for shape in tensors:
        axes = {d: full[d] for d in shape if full[d] != 1}  # a batch of one
        assert not collisions(axes), (shape, axes)


def test_large_magnitudes_go_to_inputs_that_reach_exp_log_a_division_or_a_clip():
    n, k = indices("n k")
    K = dims("K")
    x, y = sp.IndexedBase("x"), sp.IndexedBase("y")
    lse = Formula(
        name="t_lse",
        title="",
        output="l",
        indices=(n,),
        expr=sp.log(sp.Sum(sp.exp(x[n, k]), (k, 0, K - 1))) + y[n, 0],
        inputs=(Input("x", ("N", "K"), ""), Input("y", ("N", "K"), "")),
        tf="",
        output_shape=("N",),
    )
    assert reaching(lse) == {"x": ["exp", "log"]}  # y is only added
    (large,) = [c for c in cases_for(lse) if c.kind == "large"]
    assert large.large == ("x",) and large.name.startswith("x at ±100..1000")
    arrays = sample(lse, large)
    assert np.abs(arrays["x"]).min() >= 100 and np.abs(arrays["y"]).max() <= 3
    # by structure, not by name: a ReLU's z reaches none of them
    assert not [c for c in cases_for(formula("relu")) if c.kind == "large"]
    # a claim that writes σ' with exp brings the case to a formula without exp
    z = formula("relu").var
    assert any(
        c.kind == "large"
        for c in cases_for(formula("relu"), sp.exp(-z) / (1 + sp.exp(-z)) ** 2)
    )


def test_large_draws_always_include_both_extremes():
    rng = np.random.default_rng(0)
    for shape in [(2,), (3, 2), (11, 5)]:
        v = _large(shape, rng)
        assert v.min() == -1000 and v.max() == 1000 and np.abs(v).min() >= 100


def test_probability_inputs_keep_their_exact_0_and_1_case():
    for name in ("binary_crossentropy", "categorical_crossentropy", "rmsprop"):
        kinds = [c.kind for c in cases_for(formula(name))]
        assert "saturated-probabilities" in kinds, name


def test_the_worst_failing_case_is_reported_not_the_first():
    tol = Tolerance(1e-9, 1e-12)
    acc = _Errors()
    _accumulate(acc, Case("mild", {}), np.array([1.01]), np.array([1.0]), tol)
    _accumulate(acc, Case("bad", {}), np.array([3.0]), np.array([1.0]), tol)
    _accumulate(acc, Case("fine", {}), np.array([1.0]), np.array([1.0]), tol)
    assert acc.failed == 2 and "worst on case 'bad'" in acc.worst
    acc = _Errors()
    _accumulate(acc, Case("bad", {}), np.array([3.0]), np.array([1.0]), tol)
    _accumulate(
        acc,
        Case("overflow", {}),
        np.array([np.inf]),
        np.array([1.0]),
        tol,
        reference="TensorFlow",
        arrays={"z": np.array([-1000.0])},
    )
    _accumulate(acc, Case("mild", {}), np.array([1.01]), np.array([1.0]), tol)
    assert (
        acc.worst
        == "NaN/inf where TensorFlow is finite at z[0] = -1000, case 'overflow'"
    )


@pytest.mark.parametrize(
    ("name", "symbolic"),
    [
        ("careless_image_mean/dx", "∂L = g[0]/15, claimed g[0]/9"),  # H·W = 3·5 vs H·H
        ("careless_scores/dq", "sqrt(3)"),  # √D with D = 3, claimed √T with T = 5
        ("careless_batch_mean/dx", "∂L = g[0]/2, claimed g[0]/3"),  # 1/N vs 1/K
    ],
)
def test_a_claim_that_confuses_two_dimensions_is_caught(name, symbolic):
    _load(CARELESS)
    rows = _rows([claim(name)])
    assert symbolic in rows[(name, "symbolic")].detail
    fd = rows[(name, "finite-differences")]
    assert not fd.passed and "worst on case" in fd.detail


def test_log_sum_exp_without_the_shift_fails_on_an_input_named_x():
    formulas, _ = _load(CARELESS)
    (lse,) = [f for f in formulas if f.name == "careless_logsumexp"]
    row = _rows(formulas=[lse])[("careless_logsumexp", "lowering")]
    assert not row.passed
    assert "NaN/inf where the 50-digit definition is finite" in row.detail
    assert "case 'x at ±100..1000 (reaches exp, log)'" in row.detail


# -- 4. every check ends -------------------------------------------------------------
def test_a_proof_sympy_cannot_decide_times_out_and_the_others_go_on():
    _load(HANGING)
    start = time.monotonic()
    rows = _rows([claim("hanging_row_max/dx")], timeout=2)
    assert time.monotonic() - start < 30
    sym = rows[("hanging_row_max/dx", "symbolic")]
    assert (
        not sym.passed and sym.detail == "timed out after 2 s" and sym.kind == "claim"
    )
    assert rows[("hanging_row_max/dx", "finite-differences")].passed


def _verify_hanging_in_a_worker():
    chapters.get(str(HANGING))
    return [
        (r.method, r.detail)
        for r in verify([], [claim("hanging_row_max/dx")], oracle=False, timeout=1)
    ]


def test_the_time_limit_holds_in_a_worker_process_too():
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        rows = dict(pool.submit(_verify_hanging_in_a_worker).result(timeout=120))
    assert rows["symbolic"] == "timed out after 1 s"


def test_time_limit_restores_an_outer_timer():
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with pytest.raises(CheckTimeout), time_limit(0.05):
            while True:
                pass
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 0.5
        time.sleep(0.6)
        assert fired == [1]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_time_limit_is_not_swallowed_by_except_exception():
    with pytest.raises(CheckTimeout), time_limit(0.05):
        try:
            time.sleep(1)
        except Exception:  # noqa: BLE001, S110 - what SymPy's own code does
            pass


def test_the_table_shows_the_running_check():
    from cli.table import CheckTable

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    row = verify([formula("relu")], [], oracle=False)[0]
    log = io.StringIO()
    table = CheckTable(log)
    table.slow = 0.05
    table.start("relu lowering")
    time.sleep(0.3)
    table.add(row)
    assert "still running after 0.05 s: relu lowering" in log.getvalue()
    screen = Terminal()
    table = CheckTable(screen)
    table.start("relu lowering")
    assert screen.getvalue().endswith("running: relu lowering …")
    table.add(row)
    assert "\r\033[K" in screen.getvalue() and screen.getvalue().rstrip().endswith(
        "pass"
    )


def test_verify_command_times_a_check_out_and_names_it(nnbook):
    done = nnbook("verify", HANGING, "--no-tf", "--timeout", "2", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "FAILED hanging_row_max/dx [symbolic exact]: timed out after 2 s" in done.stderr
    )


# -- 5. correct claims written another way pass ---------------------------------------
Z = sp.IndexedBase("z")
_n, _i = indices("n i")


def _elementwise(expr, name):
    return Formula(
        name=name,
        title="",
        output="a",
        indices=(_n, _i),
        expr=expr,
        inputs=(Input("z", ("N", "I"), ""),),
        tf="",
        output_shape=("N", "I"),
    )


@pytest.mark.parametrize(
    "expr",
    [
        sp.sech(Z[_n, _i]),
        sp.cosh(Z[_n, _i]),
        sp.sinh(Z[_n, _i]),
        sp.sign(Z[_n, _i]),
        sp.Heaviside(Z[_n, _i]),
        sp.Heaviside(Z[_n, _i], 0),
        sp.KroneckerDelta(_n, _i) * Z[_n, _i],
        sp.Abs(Z[_n, _i]) ** 3 / (1 + sp.Abs(Z[_n, _i])),
        sp.Max(Z[_n, _i], Z[_n, _i] ** 2 - 1),
        sp.Min(Z[_n, _i], 1 - Z[_n, _i]),
        sp.Max(Z[_n, _i], 0, 2 * Z[_n, _i] - 1),
        sp.Min(Z[_n, _i], 0, sp.exp(Z[_n, _i]) / 2 - 1),
    ],
    ids=lambda e: sp.srepr(e).split("(")[0],
)
def test_textbook_functions_lower_like_the_loop_oracle(expr):
    f = _elementwise(expr, "t_function")
    z = np.random.default_rng(1).uniform(-3, 3, size=(3, 5))
    z[0, 0] = 0.0  # sign, Heaviside at 0
    np.testing.assert_allclose(
        f.numpy(z=z), loop_oracle(f)(z=z), rtol=1e-12, atol=1e-14
    )


def test_a_sum_of_absolute_values_lowers_like_the_loop_oracle():
    k = indices("k")
    f = Formula(
        name="t_l1",
        title="",
        output="L",
        indices=(_n,),
        expr=sp.Sum(sp.Abs(Z[_n, k]) * sp.sign(Z[_n, k]), (k, 0, dims("K") - 1)),
        inputs=(Input("z", ("N", "K"), ""),),
        tf="",
        output_shape=("N",),
    )
    z = np.random.default_rng(2).normal(size=(4, 3))
    np.testing.assert_allclose(f.numpy(z=z), loop_oracle(f)(z=z), rtol=1e-12)


def test_a_factor_before_a_sum_is_aligned_with_the_sum():
    # regression: 1/Σ_k over (n,) times a sum over i with free (n, j) lowered to
    # (N,) * (N, K), which does not broadcast
    _load(REWRITES)
    grad = claim("rewrite_softmax'.kronecker").gradient
    rng = np.random.default_rng(3)
    arrays = {"z": rng.normal(size=(3, 4)), "g": rng.normal(size=(3, 4))}
    _, _, ok = compare(
        grad.numpy(**arrays),
        loop_oracle(grad)(**arrays),
        TOLERANCES[("lowering", "float64")],
    )
    assert ok


def test_correct_rewrites_pass_every_check_without_tensorflow():
    formulas, claims = _load(REWRITES)
    rows = verify(formulas, claims, oracle=False)
    failed = [f"{r.label}: {r.detail}" for r in rows if not r.passed]
    assert not failed, failed
    symbolic = {r.subject: r.detail for r in rows if r.method == "symbolic"}
    for name in ("rewrite_relu'.heaviside", "rewrite_relu'.geq", "rewrite_relu'.sign"):
        assert "z = 0 (a kink: no derivative" in symbolic[name], symbolic[name]
    assert "with alpha = 1/4" in symbolic["rewrite_leaky_max'"]
    assert "0 < z < 6" in symbolic["rewrite_relu6'"]


@pytest.mark.tf
def test_correct_rewrites_pass_against_tensorflow():
    formulas, claims = _load(REWRITES)
    failed = [
        f"{r.label}: {r.detail}" for r in verify(formulas, claims) if not r.passed
    ]
    assert not failed, failed


def test_a_claim_wrong_in_one_region_fails_naming_the_region():
    c = claim("relu'")
    z = c.formula.var
    wrong = Claim("t_relu'", c.formula, "z", sp.Piecewise((1, z > 1), (0, True)), "")
    result = prove(wrong)
    assert not result.passed and "0 < z < 1" in result.detail


def test_a_claim_wrong_at_a_point_where_the_derivative_exists_fails():
    c = claim("tanh'")
    z = c.formula.var
    wrong = Claim(
        "t_tanh'",
        c.formula,
        "z",
        sp.Piecewise((5, sp.Eq(z, 0)), (1 - sp.tanh(z) ** 2, True)),
        "",
    )
    assert not prove(wrong).passed


def test_an_unsupported_function_fails_naming_it_and_the_claim():
    _load(CARELESS)
    rows = _rows([claim("careless_tanh'.coth")])
    assert rows[("careless_tanh'.coth", "symbolic")].passed
    fd = rows[("careless_tanh'.coth", "finite-differences")]
    assert not fd.passed
    assert 'claim "careless_tanh\'.coth": no NumPy lowering for coth' in fd.detail


def test_an_overflowing_correct_claim_says_nan_where_the_reference_is_finite():
    _load(CARELESS)
    rows = _rows([claim("careless_sigmoid'")])
    assert rows[("careless_sigmoid'", "symbolic")].passed
    fd = rows[("careless_sigmoid'", "finite-differences")]
    assert "NaN/inf where the finite-difference estimate is finite at z[" in fd.detail
    assert "] = -1000, case 'z at ±100..1000" in fd.detail
    assert "max abs error inf" not in fd.detail


@pytest.mark.tf
def test_an_overflowing_correct_claim_against_tensorflow():
    from nnmath.checker.checks import check_gradient

    _load(CARELESS)
    row = check_gradient(claim("careless_sigmoid'"), "float64")
    assert not row.passed and "NaN/inf where TensorFlow is finite at z[" in row.detail


# -- 6. reads outside an input --------------------------------------------------------
def test_an_undeclared_read_outside_an_input_is_an_error_naming_it():
    formulas, _ = _load(CARELESS)
    (f,) = [f for f in formulas if f.name == "careless_next_difference"]
    x = np.arange(6.0).reshape(2, 3)
    with pytest.raises(
        OutOfBounds,
        match=r"^careless_next_difference reads x\[n, i \+ 1\] "
        r"outside x: index 3 on axis 1 \(size 3\); .*padded=\('x',\)",
    ):
        f.numpy(x=x)
    with pytest.raises(
        OutOfBounds, match=r"careless_next_difference reads x\[0, 3\] outside x"
    ):
        loop_oracle(f)(x=x)
    with pytest.raises(
        OutOfBounds, match=r"careless_next_difference reads x\[0, 3\] outside x"
    ):
        prove(claim("careless_next_difference/dx"))
    rows = _rows([claim("careless_next_difference/dx")], [f])
    assert all(not r.passed and "outside x" in r.detail for r in rows.values())


def test_declared_padding_reads_as_zero():
    formulas, _ = _load(REWRITES)
    (f,) = [f for f in formulas if f.name == "rewrite_next_difference"]
    x = np.arange(6.0).reshape(2, 3) ** 2
    expected = np.concatenate([x[:, 1:], np.zeros((2, 1))], axis=1) - x
    np.testing.assert_array_equal(f.numpy(x=x), expected)
    np.testing.assert_allclose(loop_oracle(f)(x=x), expected)
    assert (
        "strict=" not in f.source
        and "strict='x[n, i + 1]'" in formula("careless_next_difference").source
    )


def test_the_careless_chapter_fails_and_the_rewrites_pass_from_the_command(nnbook):
    bad = nnbook("verify", CARELESS, "--no-tf", timeout=300)
    assert bad.returncode == 1, bad.stdout
    good = nnbook("verify", REWRITES, "--no-tf", timeout=300)
    assert good.returncode == 3, good.stdout + good.stderr  # passed, TF skipped
    assert "not a full verification" in good.stdout and "FAILED" not in good.stderr


# -- issue 11, item 6: the same report whatever the hash seed -------------------------
def _report(nnbook, tmp_path, seed: str) -> str:
    import json
    import os

    path = tmp_path / f"report-{seed}.json"
    done = nnbook(
        "verify",
        CARELESS,
        REWRITES,
        "chapter2",
        "--no-tf",
        "--fresh",  # computed under this seed, not reused from the other's run
        "--json",
        path,
        env={**os.environ, "PYTHONHASHSEED": seed},
        timeout=600,
    )
    assert done.returncode == 1, done.stderr
    doc = json.loads(path.read_text())
    # measured, not computed: when the report was made and how long each check took
    del doc["created"]
    for row in doc["checks"]:
        del row["seconds"]
    return json.dumps(doc, indent=2)


def test_verify_json_is_the_same_under_any_hash_seed(nnbook, tmp_path):
    first, second = _report(nnbook, tmp_path, "1"), _report(nnbook, tmp_path, "2")
    assert "exact on the instance K=3, N=2" in first  # sizes sorted by name
    assert first == second


def test_every_bptt_instance_tells_every_dimension_apart():
    from nnmath.recurrence import BPTTClaim

    bptt = [c for c in map(claim, registry_claims()) if isinstance(c, BPTTClaim)]
    assert len(bptt) == 16  # rnn, lstm, gru: x, the initial states, W, U, b
    for c in bptt:
        assert not collisions(c.sizes) and 1 not in c.sizes.values(), (c, c.sizes)
