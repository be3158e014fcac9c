"""The symbolic prover's instance computes what the formula computes.

The prover writes a formula out at small sizes (:class:`_Instance`), each
subexpression once per value of the indices it reads.  Whatever that
bookkeeping does, the instance must be the formula: with the inputs put in, each
output element equals the 50-digit loop oracle's value, for every formula a
claim is proved about (windows, padding, masks, max shifts and named parts
included).  A wrong instance would prove claims about some other formula.
"""

from __future__ import annotations

import pytest
import sympy as sp

from helpers import formula_claims
from nnmath import claim
from nnmath.checker.cases import Case, instance_sizes, sample
from nnmath.checker.loop_oracle import loop_oracle
from nnmath.checker.symbolic import _elements, _Instance, _Winners
from nnmath.primitives import elementary


def _one_claim_per_formula() -> list[str]:
    seen, names = set(), []
    for name in formula_claims():
        c = claim(name)
        if c.elementwise:
            continue
        key = (c.formula.name, repr(sorted(c.formula.params.items())), c.wrt)
        if key not in seen:
            seen.add(key)
            names.append(name)
    return names


@pytest.mark.parametrize("name", _one_claim_per_formula())
def test_the_instance_computes_what_the_loop_oracle_computes(name):
    c = claim(name)
    f = c.formula
    sizes = instance_sizes(c)
    arrays = sample(f, Case("instance", sizes))
    expected = loop_oracle(f)(**arrays)
    inst = _Instance(f, sizes, c.wrt, c.padded)
    out_shape = tuple(sizes[d] for d in f.output_shape)
    for idx in _elements(out_shape):
        value = elementary(inst.scalar(f.expr, dict(zip(f.indices, idx))))
        put = {sym: arrays[n][i] for (n, i), sym in inst.cells.items()}
        put |= {
            sp.Symbol(i.name, real=True): float(arrays[i.name])
            for i in f.inputs
            if not i.shape
        }
        put |= {s: 0.0 for s in inst.shifts.values()}  # proved not to matter
        put |= dict(f.constant_symbols)
        got = float(value.xreplace({k: sp.Float(v, 30) for k, v in put.items()}))
        assert got == pytest.approx(expected[idx], rel=1e-12, abs=1e-12), (idx, got)


def test_a_max_is_its_winner_at_a_point_and_a_tie_is_kept():
    a, b, c = sp.symbols("a b c", real=True)
    e = 2 * sp.Max(a, b, evaluate=False) + c
    n = sp.Integer
    assert _Winners({a: n(3), b: n(1)})(e) == 2 * a + c
    assert _Winners({a: n(-1), b: n(4)})(e) == 2 * b + c
    tied = _Winners({a: n(2), b: n(2)})(e)
    assert tied.has(sp.Max)  # no single winner: left to the derivative of max


def test_the_sum_cancels_its_reciprocal_once_denominators_are_cleared():
    from nnmath.checker.zero import FastZero

    s, u, v = sp.symbols("s u v", real=True)
    # log-sum-exp minus the shift it subtracts: independent of the shift
    lse = sp.log(sp.exp(u - s) + sp.exp(v - s)) + s
    zero = FastZero()
    assert zero.zero([(sp.Integer(1), lse)], s, sp.Integer(0), clear=True)
    # a log-sum-exp that forgets to add the shift back does depend on it
    wrong = sp.log(sp.exp(u - s) + sp.exp(v - s))
    assert not zero.zero([(sp.Integer(1), wrong)], s, sp.Integer(0), clear=True)


def test_a_sum_that_reads_no_cell_of_the_input_is_held_and_one_that_does_is_not():
    """FastZero.holding: a sum both sides read whole, and that does not move with
    the variable, stands as one symbol; one that reads the variable never does
    (holding it would prove x·(a + x) has derivative a + x)."""
    from nnmath.checker.zero import FastZero

    x, a, b = sp.symbols("x a b", real=True)
    one = sp.Integer(1)
    fast = FastZero()
    out = x * (a + b)
    held = fast.holding([x], [out], [a + b])
    assert fast.zero([(one, out)], x, a + b, held=held)
    assert list(fast.held) == [a + b]
    assert not fast.zero([(one, out)], x, a + 2 * b, held=held)

    fast = FastZero()
    moving = x * (a + x)  # ∂/∂x = a + 2x
    held = fast.holding([x], [moving], [a + x])
    assert not fast.zero([(one, moving)], x, a + x, held=held)
    assert not fast.held
    held = fast.holding([x], [moving], [a + 2 * x])
    assert fast.zero([(one, moving)], x, a + 2 * x, held=held)


def test_a_claim_equal_only_once_its_sums_are_written_out_still_proves():
    """Held, (a + b)(a − b) + b² − a² + a + b is not (a + b): the claim is
    proved with the sum written out, as before."""
    from nnmath.checker.zero import FastZero

    x, a, b = sp.symbols("x a b", real=True)
    fast = FastZero()
    out = x * (a + b)
    claimed = (a + b) * (a - b) + b**2 - a**2 + a + b
    held = fast.holding([x], [out], [claimed])
    assert a + b in held.shared
    assert fast.zero([(sp.Integer(1), out)], x, claimed, held=held)
    wrong = (a + b) * (a - b) + b**2 - a**2 + a
    assert not fast.zero([(sp.Integer(1), out)], x, wrong, held=held)


def test_attention_proofs_hold_the_value_sums(monkeypatch):
    """Multi-head attention's ∂L/∂W_q holds sums it does not move, such as the
    values Σ y·W_v + b_v (they made its expansion 3312 terms a side); a wrong
    claim is caught (tests/test_attention.py)."""
    from nnmath import registry
    from nnmath.checker import engine, symbolic

    # the SymPy proof's (the SymEngine instance's is tests/test_engine.py's)
    monkeypatch.setattr(engine, "prove_in_symengine", lambda *a: None)
    claim = registry.claim("multi_head_attention/dW_q")
    assert symbolic.prove(claim).passed
    held = symbolic._LAST[0].fast.held
    assert held and all(isinstance(s, sp.Add) for s in held)
    assert not any("W_q" in str(s) for s in held), "a sum that reads W_q was held"


def test_an_affine_index_is_summed_in_integers_as_sympy_would():
    """_Instance._index: 2i + p − 1 and (i + p)/2 take the values SymPy gives
    them (an int, or a SymPy fraction between two cells); i·j and floor(i/2)
    are left to SymPy."""
    from fractions import Fraction

    from nnmath.checker.symbolic import _affine_form

    i, p, j = sp.symbols("i p j", integer=True, nonnegative=True)
    const, terms = _affine_form(2 * i + p - 1)
    assert const == -1 and dict(terms) == {i: 2, p: 1}
    const, terms = _affine_form((i + p) / 2)
    assert const == 0 and dict(terms) == {i: Fraction(1, 2), p: Fraction(1, 2)}
    assert _affine_form(i * j) is None
    assert _affine_form(sp.floor(i / 2)) is None
    from nnmath import registry
    from nnmath.checker.cases import instance_sizes
    from nnmath.checker.symbolic import _Instance

    c = registry.claim("conv2d/dx.dilated")
    inst = _Instance(c.formula, instance_sizes(c), None)
    for e in (2 * i + p - 1, (i + p) / 2, (i + p + 1) / 2):
        for env in ({i: 0, p: 0}, {i: 1, p: 2}, {i: 2, p: 1}):
            got, want = inst._index(e, env), e.xreplace(env)
            assert got == want and type(got) is (int if want.is_Integer else type(want))


def _log_sum_exp(add_back: bool):
    from nnmath import Claim, Formula, Input
    from nnmath.formula import dims, indices
    from nnmath.primitives import MaxShift

    K = dims("K")
    n, k, j = indices("n k j")
    x, g = sp.IndexedBase("x"), sp.IndexedBase("g")
    m = MaxShift(x[n, j], (j, 0, K - 1))
    lse = sp.log(sp.Sum(sp.exp(x[n, k] - m), (k, 0, K - 1))) + (m if add_back else 0)
    f = Formula(
        name="lse_shifted" if add_back else "lse_shift_kept",
        title="log-sum-exp",
        output="l",
        indices=(n,),
        expr=lse,
        inputs=(Input("x", ("N", "K"), "scores"),),
        tf="tf.reduce_logsumexp(x, axis=-1)",
        output_shape=("N",),
    )
    softmax = sp.exp(x[n, k] - m) / sp.Sum(sp.exp(x[n, j] - m), (j, 0, K - 1))
    return Claim(f"{f.name}/dx", f, "x", g[n] * softmax, "softmax", indices=(n, k))


def test_a_value_that_moves_with_its_max_shift_is_caught():
    """The shift is free: log Σ e^{x−m} + m is the same for every m, and proved
    so (SymEngine, denominators cleared); without the + m it is not, and the
    proof names the output that moves."""
    from nnmath.checker.symbolic import prove

    assert prove(_log_sum_exp(add_back=True)).passed
    wrong = prove(_log_sum_exp(add_back=False))
    assert not wrong.passed and "depends on the shift" in wrong.detail


def test_a_wrong_claim_after_a_right_one_about_the_same_formula_fails():
    """The claims about one formula share its written-out outputs: a wrong
    claim proved right after a right one (the shared outputs already there)
    is still caught, and the right one still passes after it."""
    import dataclasses

    from nnmath.checker.symbolic import prove

    right = claim("multi_head_attention/db_o")
    wrong = dataclasses.replace(right, rhs=2 * right.rhs, shown=None, where=())
    assert prove(right).passed
    assert not prove(wrong).passed
    assert prove(right).passed
    assert prove(claim("multi_head_attention/dW_v")).passed
