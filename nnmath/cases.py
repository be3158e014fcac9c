"""Seeded test inputs for the numeric checks, with the edge cases that matter.

Random values stay away from kinks (ReLU at 0, clip edges): a derivative is not
defined on a kink, and finite differences straddling one measure nothing.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from .claim import UPSTREAM
from .formula import Formula, Input

__all__ = ["Case", "cases_for", "sample"]


@dataclass(frozen=True)
class Case:
    name: str
    sizes: dict
    #: "random" | "large-logits" | "saturated-probabilities" | "ties"
    kind: str = "random"

    @property
    def smooth(self) -> bool:
        """False where points sit on a clip edge or a tie of a max: finite
        differences do not apply."""
        return self.kind not in ("saturated-probabilities", "ties")


def _sizes(formula: Formula, batch: int, other: int) -> dict:
    return {d: (batch if d == "N" else other) for d in formula.dim_symbols}


def cases_for(formula: Formula) -> list[Case]:
    """Several shapes, a batch of one, and the formula's numeric edge cases."""
    if formula.cases:  # shapes that must fit together (a kernel inside an image)
        cases = [Case(name, formula.complete_sizes(sizes)) for name, sizes in formula.cases]
        if any(i.domain == "distinct" for i in formula.inputs):
            name, sizes = formula.cases[0]
            cases.append(Case("ties, as after a ReLU", formula.complete_sizes(sizes), "ties"))
        return cases
    cases = [Case("N=4", _sizes(formula, 4, 3)), Case("N=16", _sizes(formula, 16, 7)),
             Case("batch of one", _sizes(formula, 1, 5))]
    domains = {i.name: i.domain for i in formula.inputs}
    if domains.get("z") == "real":
        cases.append(Case("logits ±100..1000", _sizes(formula, 4, 5), "large-logits"))
    if {"prob", "simplex"} & set(domains.values()):
        cases.append(Case("probabilities at exactly 0 and 1", _sizes(formula, 4, 3),
                          "saturated-probabilities"))
    return cases


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode())


def _draw(inp: Input, shape: tuple, kind: str, rng: np.random.Generator) -> np.ndarray:
    if inp.domain == "real":
        lo, hi = (100.0, 1000.0) if kind == "large-logits" and inp.name == "z" else (0.1, 3.0)
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(lo, hi, size=shape)
    if inp.domain == "distinct":
        if kind == "ties":  # a ReLU's output: many exact zeros, a few equal values
            return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(float)
        # a shuffled grid of values 6/(size − 1) apart: no max is near a tie
        grid = np.linspace(-3.0, 3.0, int(np.prod(shape))) + 0.0123
        return rng.permutation(grid).reshape(shape)
    if inp.domain == "binary":
        return rng.integers(0, 2, size=shape).astype(float)
    if inp.domain == "onehot" or (inp.domain == "simplex" and kind == "saturated-probabilities"):
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


def sample(formula: Formula, case: Case, *, upstream: bool = False, salt: str = "") -> dict:
    """float64 arrays for every input (and the upstream gradient ``g`` if asked)."""
    rng = np.random.default_rng(_seed(formula.name, case.name, salt))
    arrays = {i.name: _draw(i, tuple(case.sizes[d] for d in i.shape), case.kind, rng)
              for i in formula.inputs}
    if upstream and formula.output_shape:
        shape = tuple(case.sizes[d] for d in formula.output_shape)
        arrays[UPSTREAM] = rng.normal(size=shape)
    return arrays
