"""Seeded test inputs for the numeric checks, with the edge cases that matter.

Sizes tell dimensions apart: within a case every dimension has its own size, and
no product or square of two sizes is a third, so a claim that divides by H·H
where H·W is right, or sums to K where N is right, gets a wrong number.

Edge cases come from a formula's structure, not its inputs' names: an input that
reaches exp, log, a division or a clip is also drawn at ±100..1000; an input
declared a probability or on the simplex also gets exact 0s and 1s.

Random values stay away from kinks (ReLU at 0, clip edges): a derivative is not
defined on a kink, and finite differences straddling one measure nothing.
"""

from __future__ import annotations

import itertools
import zlib
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..claim import UPSTREAM, Claim
from ..formula import Formula, Input, free_symbols, nodes
from ..primitives import clip, inside, reciprocal, sigmoid, softplus

__all__ = [
    "Case",
    "cases_for",
    "sample",
    "collisions",
    "distinct_sizes",
    "instance_sizes",
    "reaching",
    "LARGE",
]

#: how large a "large magnitude" is: e^1000 overflows float64 (and e^100 float32)
LARGE = (100.0, 1000.0)

#: the sizes of the default cases, given to a formula's dimensions in the order
#: they first appear.  Primes: no two are equal, and no product or square of
#: two of them is a third.  The batch of one puts N = 1 and gives the others
#: the rest of its row.
SIZE_ROWS = {
    "A": (3, 2, 5, 7, 11, 13, 17, 19, 23, 29),
    "B": (11, 5, 3, 2, 7, 13, 17, 19, 23, 29),
    "one": (5, 3, 7, 2, 11, 13, 17, 19, 23, 29),
}


@dataclass(frozen=True)
class Case:
    name: str
    sizes: dict
    #: "random" | "large" | "saturated-probabilities" | "ties"
    kind: str = "random"
    #: for kind "large": the inputs drawn at ±100..1000
    large: tuple[str, ...] = ()

    @property
    def smooth(self) -> bool:
        """False where points sit on a clip edge or a tie of a max: finite
        differences do not apply."""
        return self.kind not in ("saturated-probabilities", "ties")


# -- sizes ----------------------------------------------------------------------
def collisions(sizes: dict[str, int]) -> list[str]:
    """Why ``sizes`` cannot tell some dimensions apart: ``["K = N", "H·W = C"]``.

    Two dimensions of one size, a product of two equal to a third, or a square
    of one equal to another.  A size of 1 is a product only with itself.
    """
    found = []
    names = sorted(sizes)
    for a, b in itertools.combinations(names, 2):
        if sizes[a] == sizes[b]:
            found.append(f"{a} = {b}")
        if sizes[a] ** 2 == sizes[b] and sizes[a] != 1:
            found.append(f"{a}² = {b}")
        if sizes[b] ** 2 == sizes[a] and sizes[b] != 1:
            found.append(f"{b}² = {a}")
        for c in names:
            if c not in (a, b) and sizes[a] * sizes[b] == sizes[c]:
                found.append(f"{a}·{b} = {c}")
    return found


def distinct_sizes(order: list[str], hints: dict[str, int]) -> dict[str, int]:
    """A size for each dimension in ``order``, each as close above its hint
    (default 2) as it can be without a collision (see :func:`collisions`).

    The dimensions with the smallest hints choose first, so a declared
    ``{"N": 2, "K": 2}`` becomes N = 2, K = 3.
    """
    chosen: dict[str, int] = {}
    rank = {d: pos for pos, d in enumerate(order)}
    for d in sorted(order, key=lambda d: (hints.get(d, 2), rank[d])):
        v = max(1, hints.get(d, 2))
        while collisions({**chosen, d: v}):
            v += 1
        chosen[d] = v
    return {d: chosen[d] for d in order}


def _free_dims(formula: Formula) -> list[str]:
    """The dimensions a case chooses (not derived ones), in order of appearance."""
    derived = {s.name for s, _ in formula.derived}
    seen = [d for i in formula.inputs for d in i.shape] + list(formula.output_shape)
    seen += sorted(formula.dim_symbols)
    return [d for d in dict.fromkeys(seen) if d not in derived]


def _row(formula: Formula, row: str) -> dict[str, int]:
    dims = _free_dims(formula)
    if row == "one" and "N" in dims:
        rest = iter(SIZE_ROWS[row])
        return {d: 1 if d == "N" else next(rest) for d in dims}
    return dict(zip(dims, SIZE_ROWS[row]))


def _named(sizes: dict[str, int]) -> str:
    return ", ".join(f"{d}={v}" for d, v in sizes.items())


def instance_sizes(claim: Claim) -> dict[str, int]:
    """The sizes of the symbolic instance a claim is proved on, derived ones included.

    A formula whose shapes must fit together (its own ``cases``: a kernel inside
    an image) is proved at the claim's declared sizes.  Otherwise the declared
    sizes are hints: any that collide are moved up until every dimension can be
    told apart (``{"N": 2, "K": 2}`` is proved at N = 2, K = 3).
    """
    f = claim.formula
    dims = _free_dims(claim.formula)
    if f.cases:
        return f.complete_sizes({d: claim.sizes.get(d, 2) for d in dims})
    return f.complete_sizes(distinct_sizes(dims, claim.sizes))


# -- edge cases from the structure ------------------------------------------------
#: functions whose value or derivative overflows, underflows or saturates at
#: large arguments (each is exp in disguise), and those that clip or take a log
_DANGEROUS = (
    sp.exp,
    sp.log,
    sp.sinh,
    sp.cosh,
    sp.tanh,
    sp.sech,
    sp.csch,
    sp.coth,
    sigmoid,
    softplus,
    clip,
    inside,
)


def reaching(formula: Formula, *more: sp.Expr) -> dict[str, list[str]]:
    """Input name → what it reaches among exp, log, a division or a clip.

    ``more`` are further expressions over the same inputs (a claimed gradient):
    a claim that writes σ' as e^{−z}/(1 + e^{−z})² makes z reach exp.
    """
    names = set(formula.input_names)
    found: dict[str, set[str]] = {}
    symbols: dict = {}  # node → its free symbols (see free_symbols)
    bases: dict = {}  # node → the names of the arrays it reads

    def read(e: sp.Basic) -> frozenset:
        if e not in bases:
            own = {str(e.base)} if isinstance(e, sp.Indexed) else set()
            bases[e] = frozenset(own.union(*map(read, e.args)))
        return bases[e]

    def note(where: sp.Expr, what: str) -> None:
        reads = read(where) | {s.name for s in free_symbols(where, symbols)}
        for name in reads & names:
            found.setdefault(name, set()).add(what)

    for node in nodes(formula.expr, *more):  # a shared part notes the same again
        if isinstance(node, _DANGEROUS):
            note(node, type(node).__name__)
        elif isinstance(node, reciprocal):  # 1/a, written so to keep Keras's order
            note(node.args[0], "a division")
        elif isinstance(node, sp.Pow):
            if node.exp.is_number and node.exp.is_negative:
                note(node.base, "a division")
            elif not node.exp.is_number:
                note(node, "a power")
    return {n: sorted(found[n]) for n in formula.input_names if n in found}


def cases_for(formula: Formula, *more: sp.Expr) -> list[Case]:
    """Several shapes, a batch of one, and the formula's numeric edge cases.

    ``more``: expressions (a claimed gradient) evaluated on the same inputs,
    whose structure also chooses edge cases.
    """
    domains = {i.name: i.domain for i in formula.inputs}
    if formula.cases:  # shapes that must fit together (a kernel inside an image)
        cases = [
            Case(name, formula.complete_sizes(sizes)) for name, sizes in formula.cases
        ]
        first = cases[0].sizes
        if "distinct" in domains.values():
            cases.append(Case("ties, as after a ReLU", first, "ties"))
    else:
        rows = [_row(formula, r) for r in SIZE_ROWS]
        names = [_named(s) or f"draw {k + 1}" for k, s in enumerate(rows)]
        if "N" in rows[2]:
            names[2] = f"batch of one: {names[2]}"
        cases = [Case(nm, formula.complete_sizes(s)) for nm, s in zip(names, rows)]
        first = cases[0].sizes
    large = {
        n: why
        for n, why in reaching(formula, *more).items()
        if domains[n] in ("real", "kernel")
    }
    if large:
        what = sorted({w for why in large.values() for w in why})
        cases.append(
            Case(
                f"{', '.join(large)} at ±{LARGE[0]:g}..{LARGE[1]:g} "
                f"(reach{'es' if len(large) == 1 else ''} {', '.join(what)})",
                first,
                "large",
                tuple(large),
            )
        )
    if {"prob", "simplex"} & set(domains.values()):
        cases.append(
            Case("probabilities at exactly 0 and 1", first, "saturated-probabilities")
        )
    return cases


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _large(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """Magnitudes spread over 100..1000 with alternating signs, −1000 and +1000
    always among them (wherever the shuffle puts them): e^{±1000} overflows
    float64 for sure, where random draws might all have stayed below 709."""
    size = int(np.prod(shape))
    magnitude = np.concatenate(
        [[LARGE[1], LARGE[1]], np.linspace(LARGE[0], LARGE[1], max(size - 2, 0))]
    )[:size]
    values = magnitude * np.resize([-1.0, 1.0], size)
    return rng.permutation(values).reshape(shape)


def _draw(inp: Input, shape: tuple, case: Case, rng: np.random.Generator) -> np.ndarray:
    kind = case.kind
    if inp.domain in ("real", "kernel"):
        if inp.name in case.large:
            return _large(shape, rng)
        # a kernel at ±0.1..1, a trained layer's scale: three of them at ±3
        # chained (multi-head attention's) make outputs whose sum the central
        # differences round by more than their atol
        top = 1.0 if inp.domain == "kernel" else 3.0
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.1, top, size=shape)
    if inp.domain == "distinct":
        if kind == "ties":  # a ReLU's output: many exact zeros, a few equal values
            return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(float)
        # a shuffled grid of values 6/(size − 1) apart: no max is near a tie
        grid = np.linspace(-3.0, 3.0, int(np.prod(shape))) + 0.0123
        return rng.permutation(grid).reshape(shape)
    if inp.domain == "binary":
        return rng.integers(0, 2, size=shape).astype(float)
    if inp.domain == "mask":  # attention's: 0/1, each query attending to a key
        m = rng.integers(0, 2, size=shape).astype(float)
        if m.size:
            np.put_along_axis(m, rng.integers(0, shape[-1], (*shape[:-1], 1)), 1.0, -1)
        return m
    if inp.domain == "ids":  # token ids: rows of a table of case.sizes["V"] rows
        return rng.integers(0, case.sizes["V"], size=shape).astype(float)
    if inp.domain == "onehot" or (
        inp.domain == "simplex" and kind == "saturated-probabilities"
    ):
        out = np.zeros(shape)
        hot = rng.integers(0, shape[-1], size=shape[:-1])
        np.put_along_axis(out, hot[..., None], 1.0, axis=-1)
        return out
    if inp.domain == "simplex":
        e = np.exp(rng.normal(size=shape))
        return e / e.sum(axis=-1, keepdims=True)
    if inp.domain == "prob":
        if kind == "saturated-probabilities":
            return rng.choice([0.0, 1.0, 0.3, 0.8], size=shape)
        return rng.uniform(0.05, 0.95, size=shape)
    raise ValueError(f"no sampler for domain {inp.domain!r}")  # pragma: no cover


def sample(
    formula: Formula, case: Case, *, upstream: bool = False, salt: str = ""
) -> dict:
    """float64 arrays for every input (and the upstream gradient ``g`` if asked)."""
    rng = np.random.default_rng(_seed(formula.name, case.name, salt))
    arrays = {
        i.name: _draw(i, tuple(case.sizes[d] for d in i.shape), case, rng)
        for i in formula.inputs
    }
    if upstream and formula.output_shape:
        shape = tuple(case.sizes[d] for d in formula.output_shape)
        arrays[UPSTREAM] = rng.normal(size=shape)
    return arrays
