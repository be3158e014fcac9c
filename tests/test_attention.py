"""Attention without TensorFlow (issue 16): the formulas and their claims, the
tutorials' printed errors caught by name, correct rewrites passing, bad input
refused with what is valid, and the Zen of Python read without printing it."""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import io

import numpy as np
import pytest
import symengine
import sympy as sp

from nnmath import ShapeError, claim, formula
from nnmath.checker.checks import (
    check_finite_differences,
    check_lowering,
    check_symbolic,
)
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.checker.zero import FastZero
from nnmath.formula import Formula, defined
from nnmath.library import attention as att
from nnmath.params import ParamError
from nnmath.primitives import masked
from nnmath.runs.transformer import corpus, zen

n, t, s, u, a, h, e, o = att.n, att.t, att.s, att.u, att.a, att.h, att.e, att.o
A, Z, M = att.A, att.Z, att.M


def _rng_arrays(**shapes):
    rng = np.random.default_rng(0)
    return {k: rng.normal(size=v) for k, v in shapes.items()}


def _with_part(f: Formula, name: sp.Indexed, definition: sp.Expr, tag: str) -> Formula:
    """``f`` with one named part redefined: a planted error."""
    where = tuple((nm, definition if nm == name else df) for nm, df in f.where)
    return dataclasses.replace(
        f, name=f"{f.name}_{tag}", expr=defined(f.shown, where), where=where
    )


def _claim_on(c, f: Formula):
    """The same claimed gradient about another (wrong) formula."""
    return dataclasses.replace(c, formula=f)


def _fails_fd(c) -> bool:
    return not check_finite_differences(c).passed


# -- the formulas ----------------------------------------------------------------------
def test_attention_is_softmax_over_the_keys_of_qk_over_root_dk_times_v():
    arr = _rng_arrays(q=(2, 3, 4), k=(2, 5, 4), v=(2, 5, 6))
    z = np.einsum("nta,nsa->nts", arr["q"], arr["k"]) / 2.0  # √4
    w = np.exp(z - z.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)  # over the keys: each query's row sums to 1
    want = np.einsum("nts,nse->nte", w, arr["v"])
    np.testing.assert_allclose(formula("attention").numpy(**arr), want, rtol=1e-13)


def test_the_causal_mask_is_applied_before_the_softmax():
    arr = _rng_arrays(q=(1, 4, 3), k=(1, 4, 3), v=(1, 4, 2))
    y = formula("attention", causal=True).numpy(**arr)
    # the first query sees only the first key: its output is that value exactly
    np.testing.assert_allclose(y[0, 0], arr["v"][0, 0], rtol=1e-15)
    z = np.einsum("nta,nsa->nts", arr["q"], arr["k"]) / np.sqrt(3)
    z = np.where(np.tril(np.ones((4, 4))) > 0, z, -np.inf)
    w = np.exp(z - z.max(-1, keepdims=True))
    np.testing.assert_allclose(
        y, np.einsum("nts,nse->nte", w / w.sum(-1, keepdims=True), arr["v"]), rtol=1e-13
    )


def test_multi_head_attention_is_kerass_layout():
    f = formula("multi_head_attention")
    shapes = {i.name: i.shape for i in f.inputs}
    assert shapes["W_q"] == ("D", "H", "d_k") and shapes["W_o"] == ("H", "d_k", "D")
    assert shapes["b_q"] == ("H", "d_k") and shapes["b_o"] == ("D",)
    assert (att.HEADS, att.KEY_DIM) == (3, 4)  # 1/√4 exact in float32
    assert att.scale_rounding(4) == 0 and att.scale_rounding(16) == 0
    assert 1e-8 < att.scale_rounding(3) < 1e-7  # Keras's float32 1/√3


@pytest.mark.parametrize(
    "name, params",
    [
        ("attention", {}),
        ("attention", {"causal": True}),
        ("attention", {"masked": True}),
        ("positional_encoding", {}),
        ("embedding", {}),
    ],
)
def test_each_formula_lowers_to_its_50_digit_definition(name, params):
    check = check_lowering(formula(name, **params))
    assert check.passed, check.detail


def test_multi_head_attention_lowers_to_its_50_digit_definition():
    # on the claims' proof instance only: verify's lowering row runs the
    # formula's own cases, whose loop oracle takes 20 s
    f = formula("multi_head_attention", **att.MHA_PROOF_PARAMS)
    sizes = claim("multi_head_attention/dW_q").sizes
    check = check_lowering(dataclasses.replace(f, cases=(("proof instance", sizes),)))
    assert check.passed, check.detail


def test_multi_head_attention_cases_are_named_by_their_sizes():
    for params in (
        {},
        att.MHA_PROOF_PARAMS,
        {"heads": 2, "key_dim": 3, "value_dim": 5},
    ):
        for name, sizes in formula("multi_head_attention", **params).cases:
            if "more queries" in name:
                assert sizes["T"] > sizes["S"], name
            if "fewer queries" in name:
                assert sizes["T"] < sizes["S"], name
            assert ("batch of one" in name) == (sizes["N"] == 1), name


def test_the_keras_declaration_prints_variants_with_a_reason():
    # a variant with a reason (explicit path, causal) once broke the row's text
    text = formula("multi_head_attention", causal=True).keras.text
    assert "with and without return_attention_scores" in text
    assert "use_causal_mask=True" in text


def test_positional_encoding_is_sin_at_even_features_cos_at_odd():
    y = formula("positional_encoding").numpy(x=np.zeros((1, 3, 6)))
    pos, i = np.arange(3)[:, None], np.arange(6)
    angle = pos / 10000 ** ((i - i % 2) / 6)
    np.testing.assert_allclose(y[0], np.where(i % 2 == 0, np.sin(angle), np.cos(angle)))


def test_embedding_takes_rows_and_its_gradient_scatter_adds():
    E = np.arange(12.0).reshape(4, 3)
    ids = np.array([[2, 0, 2]])
    np.testing.assert_array_equal(
        formula("embedding").numpy(ids=ids, E=E)[0], E[[2, 0, 2]]
    )
    g = np.ones((1, 3, 3))
    dE = claim("embedding/dE").gradient.numpy(ids=ids, E=E, g=g)
    np.testing.assert_array_equal(dE[:, 0], [1, 0, 2, 0])  # row 2 used twice


# -- the printed errors, caught by name ------------------------------------------------
MHA = formula("multi_head_attention", **att.MHA_PROOF_PARAMS)
_logit = dict(MHA.where)[Z[n, h, t, s]]


def _mha_logit(divide_by) -> Formula:
    dot = sp.Sum(att.Qp[n, t, h, a] * att.Kp[n, s, h, a], (a, 0, att.d_k - 1))
    return _with_part(MHA, Z[n, h, t, s], dot / divide_by, "scaled")


@pytest.mark.parametrize(
    "tag, divide_by", [("sqrt(d_model)", sp.sqrt(att.D)), ("no scaling", sp.Integer(1))]
)
def test_wrong_scaling_is_caught(tag, divide_by):
    wrong = _mha_logit(divide_by)
    for name in ("W_q", "W_k", "b_q"):
        assert _fails_fd(_claim_on(claim(f"multi_head_attention/d{name}"), wrong)), (
            tag,
            name,
        )
    # the same error in a claim about the right formula
    c = claim("multi_head_attention/dW_q")
    where = tuple(
        (nm, df.xreplace({1 / sp.sqrt(att.d_k): 1 / divide_by}))
        if nm == att.dQ[n, t, h, a]
        else (nm, df)
        for nm, df in c.where
    )
    assert _fails_fd(dataclasses.replace(c, rhs=defined(c.shown, where), where=where))


def test_a_softmax_over_the_queries_is_caught():
    f = formula("attention")
    col = M[n, s]  # the max and the sum over the queries t, not the keys
    over_queries = sp.exp(Z[n, t, s] - col) / sp.Sum(
        sp.exp(Z[n, u, s] - col), (u, 0, att.T - 1)
    )
    where = (
        f.where[0],
        (col, att.MaxShift(Z[n, att.r, s], (att.r, 0, att.T - 1))),
        (A[n, t, s], over_queries),
    )
    wrong = dataclasses.replace(
        f, name="attention_wrong_axis", expr=defined(f.shown, where), where=where
    )
    assert check_lowering(wrong).passed  # it computes what it says...
    for name in ("dq", "dk", "dv"):
        assert _fails_fd(_claim_on(claim(f"attention/{name}"), wrong)), (
            name
        )  # ...not attention
    w = wrong.numpy(**_rng_arrays(q=(1, 3, 4), k=(1, 3, 4), v=(1, 3, 1)) | {})
    assert w.shape == (1, 3, 1)


def test_a_mask_applied_after_the_softmax_is_caught():
    f = formula("attention")
    after = masked(s <= t, dict(f.where)[A[n, t, s]], 0)  # zeroed, never renormalised
    wrong = _with_part(f, A[n, t, s], after, "mask_after")
    for name in ("dq", "dk", "dv"):
        assert _fails_fd(_claim_on(claim(f"attention/{name}.causal"), wrong)), name
    arr = _rng_arrays(q=(1, 4, 4), k=(1, 4, 4), v=(1, 4, 1))
    arr["v"][:] = 1.0  # with values all 1, a row of weights summing to 1 gives 1
    np.testing.assert_allclose(formula("attention", causal=True).numpy(**arr), 1.0)
    assert wrong.numpy(**arr)[0, 0, 0] < 1.0  # the first query's row does not


def test_a_wrong_head_order_is_caught():
    reversed_heads = (
        sp.Sum(
            att.C[n, t, h, e] * att.Wo[att.H - 1 - h, e, o],
            (h, 0, att.H - 1),
            (e, 0, att.d_k - 1),
        )
        + att.bo[o]
    )
    wrong = dataclasses.replace(
        MHA,
        name="mha_reversed_heads",
        expr=defined(reversed_heads, MHA.where),
        shown=reversed_heads,
    )
    for name in ("W_o", "W_v", "x"):
        assert _fails_fd(_claim_on(claim(f"multi_head_attention/d{name}"), wrong)), name


def test_the_symbolic_proof_names_a_wrong_scaling():
    c = claim("attention/dq")
    shown = c.shown * sp.sqrt(att.d_k)  # the claim forgets to divide by √d_k
    # one value feature: the scaling is what is wrong, and each is a sum over e
    small = {"N": 2, "T": 3, "S": 4, "d_k": 5, "d_v": 1}
    wrong = dataclasses.replace(
        c, rhs=defined(shown, c.where), shown=shown, sizes=small
    )
    check = check_symbolic(wrong)
    assert not check.passed and check.detail.startswith("at q[")


def test_a_claim_reading_the_wrong_kernel_in_the_values_is_proved_wrong():
    """The proof holds the value sums Σ y·W_v + b_v as symbols where the
    outputs and the claim both read them (tests/test_instance.py); a claim whose
    values read W_k reads sums the outputs do not, and the proof finds it.
    (Its values' bias would not do: b_v adds the same to every key's dP, and
    the softmax's Jacobian takes any such constant away, so that claim is
    right.)"""
    c = claim("multi_head_attention/dW_q")
    where = tuple((nm, df.xreplace({att.Wv: att.Wk})) for nm, df in c.where)
    wrong = dataclasses.replace(c, rhs=defined(c.shown, where), where=where)
    assert wrong.rhs != c.rhs
    check = check_symbolic(wrong)
    assert not check.passed and check.detail.startswith("at W_q["), check.detail


def test_correct_rewrites_pass():
    # a batch of one: these rewrites must pass, and the proofs of a softmax's
    # gradient grow fast with the instance
    small = {"N": 1, "T": 3, "S": 2, "d_k": 4, "d_v": 1}
    # Keras's explicit path scales the query before the dot product: the same
    # formula, which the claims about attention hold for (finite differences;
    # the proof below takes the scaling inside the claim's own sum instead)
    q, k = sp.IndexedBase("q"), sp.IndexedBase("k")
    q_first = sp.Sum(q[n, t, a] / sp.sqrt(att.d_k) * k[n, s, a], (a, 0, att.d_k - 1))
    scaled_first = _with_part(formula("attention"), Z[n, t, s], q_first, "query_scaled")
    assert check_lowering(scaled_first).passed
    for name in ("dq", "dk", "dv"):
        c = _claim_on(claim(f"attention/{name}"), scaled_first)
        assert check_finite_differences(c).passed, name
    dk = claim("attention/dk")
    shown = sp.Sum(att.dZ[n, t, s] * (q[n, t, a] / sp.sqrt(att.d_k)), (t, 0, att.T - 1))
    rewrite = dataclasses.replace(
        dk, rhs=defined(shown, dk.where), shown=shown, sizes=small
    )
    assert check_symbolic(rewrite).passed
    # the softmax Jacobian distributed: A·δ^A − A·Σ A δ^A
    dq = claim("attention/dq")
    where = tuple(
        (nm, sp.expand(df)) if nm == att.dZ[n, t, s] else (nm, df)
        for nm, df in dq.where
    )
    rewrite = dataclasses.replace(
        dq, rhs=defined(dq.shown, where), where=where, sizes=small
    )
    assert check_symbolic(rewrite).passed
    assert check_finite_differences(rewrite).passed


# -- regressions -----------------------------------------------------------------------
def test_a_softmax_gradient_expands_to_zero_in_symengine():
    # (e^x·a + e^y·b)/(e^x + e^y): its derivative divides by the sum squared, the
    # claim by the sum twice; expanding wrote one of them out and never cancelled
    x, y, ga, gb = sp.symbols("x y a b", real=True)
    den = sp.exp(x) + sp.exp(y)
    out = (sp.exp(x) * ga + sp.exp(y) * gb) / den
    ax, ay = sp.exp(x) / den, sp.exp(y) / den
    claimed = ax * (ga - (ax * ga + ay * gb))
    assert FastZero().zero([(sp.Integer(1), out)], x, claimed)
    plain = symengine.sympify(sp.diff(out, x) - claimed)
    assert symengine.expand(plain) != 0  # what the old test saw


def test_masks_are_not_folded_out_of_the_sums_that_bind_them():
    for name in ("attention/dk.causal", "multi_head_attention/dy"):
        assert not claim(name).rhs.has(sp.nan), name
    piecewise = sp.Piecewise((sp.exp(Z[n, t, u]), u <= t), (0, True))
    folded = sp.Sum(
        sp.exp(Z[n, t, u])
        * sp.Piecewise((1, u <= t), (0, True))
        / sp.Sum(piecewise, (u, 0, 2)),
        (u, 0, 2),
    )
    assert folded.has(sp.Piecewise)  # SymPy's own form, kept for comparison
    causal = formula("multi_head_attention", causal=True)
    arrays = {
        i.name: np.ones([c[1][d] for d in i.shape])
        for c in causal.cases[-1:]
        for i in causal.inputs
    }
    loop_oracle(causal)(**arrays)  # was: cannot determine truth value of u <= 0


# -- bad input -------------------------------------------------------------------------
def test_mismatched_q_k_v_are_refused_naming_the_shapes():
    arr = _rng_arrays(q=(2, 3, 4), k=(2, 5, 3), v=(2, 5, 6))
    with pytest.raises(ShapeError, match=r"d_k=3.*q \(N, T, d_k\), k \(N, S, d_k\)"):
        formula("attention").numpy(**arr)
    arr = _rng_arrays(q=(2, 3, 4), k=(2, 5, 4), v=(2, 4, 6))
    with pytest.raises(ValueError, match="S=4"):
        formula("attention").numpy(**arr)


@pytest.mark.parametrize("param", ["heads", "key_dim", "value_dim"])
@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_heads_and_widths_must_be_positive_whole_numbers(param, value):
    with pytest.raises(
        ParamError, match=rf"{param}={value} is not valid; valid: .*whole number ≥ 1"
    ):
        formula("multi_head_attention", **{param: value})


def test_kernels_of_another_value_width_are_refused_naming_it():
    f = formula("multi_head_attention", heads=2, key_dim=3, value_dim=5)
    dims = {"N": 1, "T": 2, "S": 2, "D": 7, "H": 2, "d_k": 3, "d_v": 6}
    arr = {i.name: np.zeros([dims[d] for d in i.shape]) for i in f.inputs}
    with pytest.raises(ValueError, match=r"d_v=6.*value kernel \(D, 2, 5\)"):
        f.numpy(**arr)


def test_kernels_of_other_heads_are_refused_naming_the_valid_shapes():
    f = formula("multi_head_attention")  # 3 heads of width 4
    arr = {
        i.name: np.zeros(
            [{"N": 1, "T": 2, "S": 2, "D": 5, "H": 2, "d_k": 4}[d] for d in i.shape]
        )
        for i in f.inputs
    }
    with pytest.raises(ValueError, match=r"H=2.*built for H=3, d_k=4.*\(D, 3, 4\)"):
        f.numpy(**arr)


def test_a_mask_of_the_wrong_shape_or_blind_query_is_refused():
    f = formula("attention", masked=True)
    arr = _rng_arrays(q=(1, 3, 4), k=(1, 2, 4), v=(1, 2, 5))
    with pytest.raises(ShapeError, match=r"mask has shape \(3, 2\).*\(N, T, S\)"):
        f.numpy(**arr, mask=np.ones((3, 2)))
    with pytest.raises(
        ShapeError, match=r"mask has shape \(1, 2, 3\).*mask \(N, T, S\)"
    ):
        f.numpy(**arr, mask=np.ones((1, 2, 3)))
    blind = np.ones((1, 3, 2))
    blind[0, 1] = 0
    with pytest.raises(
        ValueError, match=r"query \[0, 1\] attends to no key.*valid: a 1"
    ):
        f.numpy(**arr, mask=blind)
    with pytest.raises(
        ValueError, match=r"mask\[0, 0, 0\] = 0.5; valid: 1 \(attend\) or 0"
    ):
        f.numpy(**arr, mask=np.full((1, 3, 2), 0.5))


@pytest.mark.parametrize("bad", [5, -1, 1.5])
def test_token_ids_out_of_range_are_refused(bad):
    ids = np.array([[0, bad]])
    with pytest.raises(
        ValueError, match=rf"ids\[0, 1\] = {float(bad)!r}; valid: whole numbers 0..4"
    ):
        formula("embedding").numpy(ids=ids, E=np.zeros((5, 3)))


# -- the text --------------------------------------------------------------------------
def test_the_zen_is_read_without_printing_it(capsys):
    text = zen()
    assert capsys.readouterr().out == ""
    assert text.startswith("The Zen of Python, by Tim Peters")
    assert "Beautiful is better than ugly." in text
    with contextlib.redirect_stdout(io.StringIO()):  # the module itself prints it
        import this
    assert text == codecs.decode(this.s, "rot13")


def test_the_corpus_is_next_character_windows():
    b = corpus(16)
    x, y = b.windows
    assert x.shape == (len(b.text) // 16 - (len(b.text) % 16 == 0), 16)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    assert b.decode(x[0]) == b.text[:16]
