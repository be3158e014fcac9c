"""``nnbook verify``'s engine: every claim proved three ways, every formula's
lowering checked against the loop oracle and TensorFlow.

One row per check: (subject, method, dtype), aggregated over the cases (shapes
and edge cases), with the maximum absolute and relative error and the stated
tolerance.  A check passes when every element satisfies
``|ours − reference| ≤ atol + rtol·|reference|`` and nothing is NaN or infinite
where the reference is finite.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np

from ..claim import UPSTREAM, Claim
from ..formula import Formula
from ..keras_layer import KerasLayer
from ..lowering import LoweringError
from ..update_rules import KerasRule, NoKeras, updated_variable
from .cases import LARGE, Case, cases_for, sample
from .deadline import DEFAULT_SECONDS, CheckTimeout, time_limit
from .loop_oracle import loop_oracle
from .symbolic import prove

__all__ = [
    "Check",
    "Tolerance",
    "TOLERANCES",
    "verify",
    "compare",
    "comparison",
    "skipped",
    "describe",
    "plan",
    "planned",
]


@dataclass(frozen=True)
class Tolerance:
    rtol: float
    atol: float


#: (method, dtype) → tolerance.  float64 first; float32 looser by its epsilon.
#: The lowering is compared with a 50-digit evaluation of the definition; its
#: rtol allows for float64's cancellation in log(1 − (1 − ε)) at Keras's clip
#: edge (condition number 1/ε = 1e7, so about 1e-9 relative at worst).
TOLERANCES = {
    ("lowering", "float64"): Tolerance(1e-10, 1e-12),
    ("tensorflow-forward", "float64"): Tolerance(1e-10, 1e-12),
    ("tensorflow-forward", "float32"): Tolerance(2e-5, 1e-6),
    ("tensorflow-gradient", "float64"): Tolerance(1e-9, 1e-12),
    ("tensorflow-gradient", "float32"): Tolerance(1e-4, 1e-6),
    ("finite-differences", "float64"): Tolerance(1e-5, 1e-8),
    # 100 steps of an update rule against the Keras optimizer; the two differ
    # only in the order of float64 roundings (about 1e-16 per step)
    ("keras-trajectory", "float64"): Tolerance(1e-10, 1e-12),
    # a keras.layers layer on the same inputs, and GradientTape through it: the
    # same ops as the TensorFlow reference, in Keras's order
    ("keras-layer", "float64"): Tolerance(1e-10, 1e-12),
}
FD_STEP = 1e-6  # relative step of the central differences


@dataclass
class Check:
    subject: str
    kind: str  # "formula" | "claim"
    method: str
    dtype: str
    passed: bool
    max_abs: float | None = None
    max_rel: float | None = None
    rtol: float | None = None
    atol: float | None = None
    detail: str = ""
    cases: list = field(default_factory=list)
    seconds: float = 0.0
    #: False for a row that reports what is *not* checked (an update rule that
    #: declares no Keras counterpart): it fails nothing, and is no pass either
    checked: bool = True
    #: not run (``--no-tf``): neither passed nor failed
    skipped: bool = False

    @property
    def label(self) -> str:
        """How messages name a check: ``sigmoid' [symbolic exact]``."""
        return f"{self.subject} [{self.method} {self.dtype}]"

    @property
    def line(self) -> str:
        """The check as ``nnbook verify`` reports it under its table (the book's
        scenes show a wrong claim's verdict with this very line)."""
        if not self.passed:
            return f"FAILED {self.label}: {self.detail}"
        verdict = "passed" if self.checked else "NOT CHECKED"
        return f"{verdict} {self.label}: {self.detail}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Errors:
    max_abs: float = 0.0
    max_rel: float = 0.0
    passed: bool = True
    #: how far the worst failing case is over its tolerance (inf: NaN/inf)
    badness: float = 0.0
    worst: str = ""
    failed: int = 0
    cases: list = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """One case's comparison: the errors, and where it is worst.

    ``badness`` is the largest ratio of an element's error to its tolerance
    (above 1 fails; inf where one side is NaN or infinite and the other is
    not); ``at`` is that element's index.  ``nonfinite`` says which side was
    NaN/inf where the other was finite: "ours" or "reference".
    """

    max_abs: float
    max_rel: float
    ok: bool
    badness: float = 0.0
    at: tuple = ()
    nonfinite: str = ""


def comparison(ours: np.ndarray, ref: np.ndarray, tol: Tolerance) -> Comparison:
    """Compare elementwise: ``|ours − ref| ≤ atol + rtol·|ref|``, NaN/inf failing."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    inf = float("inf")
    if ours.shape != ref.shape:
        return Comparison(inf, inf, False, inf, nonfinite="shape")
    finite = np.isfinite(ref)
    with np.errstate(invalid="ignore"):
        mismatch = (np.isfinite(ours) != finite) | (~finite & (ours != ref))
    if mismatch.any():  # an overflow or NaN on one side only
        at = tuple(int(i) for i in np.argwhere(mismatch)[0])
        side = (
            "ours" if finite[at] else "reference" if np.isfinite(ours[at]) else "both"
        )
        return Comparison(inf, inf, False, inf, at, side)
    ours, ref = np.where(finite, ours, 0.0), np.where(finite, ref, 0.0)
    with np.errstate(all="ignore"):  # a huge error is a result, not a warning
        err = np.abs(ours - ref)
        rel = err / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
        ratio = err / (tol.atol + tol.rtol * np.abs(ref))
    # a relative error means nothing where the reference is below atol (a softmax
    # probability of 1e-300 in float32): there the absolute error is what counts
    rel = np.where((err == 0) | (np.abs(ref) <= tol.atol), 0.0, rel)
    ok = bool(np.all(err <= tol.atol + tol.rtol * np.abs(ref)))
    at = (
        tuple(int(i) for i in np.unravel_index(np.argmax(ratio), ratio.shape))
        if ratio.size
        else ()
    )
    return Comparison(
        float(err.max(initial=0.0)),
        float(rel.max(initial=0.0)),
        ok,
        float(ratio.max(initial=0.0)),
        at,
    )


def compare(
    ours: np.ndarray, ref: np.ndarray, tol: Tolerance
) -> tuple[float, float, bool]:
    """(max abs error, max rel error, within tolerance) — NaN/inf count as failure."""
    c = comparison(ours, ref, tol)
    return c.max_abs, c.max_rel, c.ok


def _where(at: tuple, arrays: dict | None, shape: tuple) -> str:
    """The inputs at a failing element: ``z[3, 0] = -1000`` for every input shaped
    like the compared array (the output, or the input a gradient is about)."""
    if arrays is None:
        return ""
    shown = [
        f"{n}{list(at) if at else ''} = {float(np.asarray(v)[at]):.6g}"
        for n, v in arrays.items()
        if n != UPSTREAM and np.shape(v) == shape
    ]
    return ", ".join(shown)


def _accumulate(
    acc: _Errors,
    case: Case,
    ours,
    ref,
    tol: Tolerance,
    *,
    reference: str = "the reference",
    arrays: dict | None = None,
) -> None:
    """Add one case; keep the description of the case that fails worst."""
    c = comparison(ours, ref, tol)
    acc.cases.append(
        {"case": case.name, "max_abs": c.max_abs, "max_rel": c.max_rel, "passed": c.ok}
    )
    if not c.ok:
        acc.failed += 1
        if c.badness >= acc.badness:
            where = _where(c.at, arrays, np.shape(ours))
            at = f" at {where}" if where else f" at index {list(c.at)}" if c.at else ""
            if c.nonfinite == "ours":
                acc.worst = (
                    f"NaN/inf where {reference} is finite{at}, case '{case.name}'"
                )
            elif c.nonfinite == "both":
                acc.worst = (
                    f"NaN/inf here and in {reference} (which differ){at}, "
                    f"case '{case.name}'"
                )
            elif c.nonfinite == "reference":
                acc.worst = (
                    f"finite where {reference} is NaN/inf{at}, case '{case.name}'"
                )
            elif c.nonfinite == "shape":
                acc.worst = (
                    f"shape {np.shape(ours)} where {reference} has "
                    f"{np.shape(ref)}, case '{case.name}'"
                )
            else:
                acc.worst = (
                    f"worst on case '{case.name}'{at}: max abs error "
                    f"{c.max_abs:.3g}, {c.badness:.3g}× the tolerance"
                )
            acc.badness = c.badness
    acc.passed &= c.ok
    acc.max_abs, acc.max_rel = max(acc.max_abs, c.max_abs), max(acc.max_rel, c.max_rel)


def tolerance(method: str, dtype: str, formula: Formula | None = None) -> Tolerance:
    """The stated tolerance of a check; a formula may loosen its TensorFlow ones,
    and its Keras layer declaration the keras-layer ones."""
    if (
        formula is not None
        and method.startswith("tensorflow")
        and dtype in formula.tf_tolerance
    ):
        return Tolerance(*formula.tf_tolerance[dtype])
    layer = formula.keras if formula is not None else None
    if method == "keras-layer" and isinstance(layer, KerasLayer):
        if dtype in layer.tolerance:
            return Tolerance(*layer.tolerance[dtype])
    return TOLERANCES[(method, dtype)]


def _row(
    subject,
    kind,
    method,
    dtype,
    acc: _Errors,
    start: float,
    note: str = "",
    formula: Formula | None = None,
) -> Check:
    tol = tolerance(method, dtype, formula)
    if (
        formula is not None
        and dtype in formula.tf_tolerance
        and method.startswith("tensorflow")
    ):
        note = note or formula.tf_note
    if formula is not None and dtype == "float32" and formula.tf_float32_large:
        if method.startswith("tensorflow"):
            skip = f"not at ±{LARGE[0]:g}..{LARGE[1]:g}: {formula.tf_float32_large}"
            note = f"{note}; {skip}" if note else skip
    if (
        formula is not None
        and method == "keras-layer"
        and isinstance(formula.keras, KerasLayer)
        and formula.keras.note
    ):
        note = f"{note}; {formula.keras.note}" if note else formula.keras.note
    detail = (
        f"fails on {acc.failed} of {len(acc.cases)} cases; {acc.worst}"
        if acc.worst
        else f"{len(acc.cases)} cases" + (f"; {note}" if note else "")
    )
    return Check(
        subject,
        kind,
        method,
        dtype,
        acc.passed,
        acc.max_abs,
        acc.max_rel,
        tol.rtol,
        tol.atol,
        detail,
        acc.cases,
        time.perf_counter() - start,
    )


def _cast(arrays: dict, dtype: str) -> dict:
    return {k: np.asarray(v, dtype=dtype) for k, v in arrays.items()}


# -- checks of a formula ------------------------------------------------------
def _subject(f: Formula) -> str:
    """``conv2d``, or ``conv2d(stride=(2,2),padding='same')`` naming the
    parameters that differ from the registered default's."""
    from ..registry import formula

    try:
        default = formula(f.name).params
    except (KeyError, TypeError, ValueError):  # not registered, or no default
        default = f.params
    # no spaces: a progress label is "<subject> <method>"
    changed = [
        f"{k}={v!r}".replace(" ", "")
        for k, v in f.params.items()
        if default.get(k) != v
    ]
    return f"{f.name}({','.join(changed)})" if changed else f.name


def check_lowering(f: Formula) -> Check:
    """The fast lowering equals lambdify's loop code, on tiny shapes."""
    start, acc = time.perf_counter(), _Errors()
    slow = loop_oracle(f)
    for case in cases_for(f):  # every size at most 11 (13 for a sixth dimension)
        arrays = sample(f, case)
        with np.errstate(all="ignore"):  # an overflow shows up as inf in the row
            ours = f.numpy(**arrays)
        _accumulate(
            acc,
            case,
            ours,
            slow(**arrays),
            TOLERANCES[("lowering", "float64")],
            reference="the 50-digit definition",
            arrays=arrays,
        )
    return _row(_subject(f), "formula", "lowering", "float64", acc, start)


def _tf_cases(f: Formula, cases: list[Case], dtype: str) -> list[Case]:
    """The cases compared with TensorFlow in ``dtype``: all, but the
    large-magnitude one in float32 where the formula says why not."""
    if dtype == "float32" and f.tf_float32_large:
        return [case for case in cases if case.kind != "large"]
    return cases


def check_forward(f: Formula, dtype: str) -> Check:
    from . import oracle

    start, acc = time.perf_counter(), _Errors()
    for case in _tf_cases(f, cases_for(f), dtype):
        arrays = _cast(sample(f, case), dtype)
        with np.errstate(all="ignore"):  # an overflow shows up as inf in the row
            ours = f.numpy(**arrays)
        _accumulate(
            acc,
            case,
            ours,
            oracle.forward(f, arrays, dtype),
            tolerance("tensorflow-forward", dtype, f),
            reference="TensorFlow",
            arrays=arrays,
        )
    return _row(
        _subject(f), "formula", "tensorflow-forward", dtype, acc, start, formula=f
    )


# -- checks of a claim --------------------------------------------------------
def check_symbolic(c: Claim, prover: Callable = prove) -> Check:
    """``prover(c)`` as a check row (a recurrent network's BPTT claims bring
    their own prover)."""
    start = time.perf_counter()
    try:
        result = prover(c)
        passed, detail = result.passed, result.detail
    except Exception as exc:  # an unprovable claim is a failed claim, with reason
        passed, detail = (
            False,
            f"could not be instantiated: {type(exc).__name__}: {exc}",
        )
    return Check(
        c.name,
        "claim",
        "symbolic",
        "exact",
        passed,
        detail=detail,
        seconds=time.perf_counter() - start,
    )


#: each claim's cases, found once per process: three checks of a claim ask,
#: and finding them walks the formula and the gradient (3 s over the library)
_CASES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _claim_cases(c: Claim) -> list[Case]:
    """The formula's cases, and large magnitudes for inputs that reach exp, log,
    a division or a clip in the claimed gradient too."""
    if c not in _CASES:
        _CASES[c] = cases_for(c.formula, c.gradient.expr)
    return list(_CASES[c])


def _claimed(c: Claim, arrays: dict) -> np.ndarray:
    grad = c.gradient
    try:
        _ = grad.lowered  # lowered here, so that an error can name the claim
    except LoweringError as exc:  # name the claim, not its gradient's formula
        text = str(exc).removeprefix(f"{grad.name}: ")
        raise LoweringError(f"claim {c.name!r}: {text}") from None
    with np.errstate(all="ignore"):
        return grad.numpy(**{n: arrays[n] for n in grad.input_names})


def check_gradient(c: Claim, dtype: str) -> Check:
    from . import oracle

    start, acc = time.perf_counter(), _Errors()
    for case in _tf_cases(c.formula, _claim_cases(c), dtype):
        arrays = _cast(sample(c.formula, case, upstream=True, salt="grad"), dtype)
        _accumulate(
            acc,
            case,
            _claimed(c, arrays),
            oracle.gradient(c, arrays, dtype),
            tolerance("tensorflow-gradient", dtype, c.formula),
            reference="TensorFlow",
            arrays=arrays,
        )
    return _row(
        c.name, "claim", "tensorflow-gradient", dtype, acc, start, formula=c.formula
    )


def finite_differences(
    f: Formula, wrt: str, arrays: dict, step: float = FD_STEP
) -> np.ndarray:
    """Central differences of L = Σ g·f (or the scalar f) with respect to ``wrt``."""
    g = arrays.get(UPSTREAM)
    inputs = {n: np.array(arrays[n], dtype=np.float64) for n in f.input_names}

    def loss(x):
        out = f.numpy(**{**inputs, wrt: x})
        return float(np.sum(out * g)) if g is not None else float(out)

    x0 = inputs[wrt]
    grad = np.zeros_like(x0)
    for idx in np.ndindex(*x0.shape):
        h = step * max(1.0, abs(float(x0[idx])))
        up, down = x0.copy(), x0.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (loss(up) - loss(down)) / (2 * h)
    return grad


def check_finite_differences(c: Claim) -> Check:
    start, acc = time.perf_counter(), _Errors()
    cases = _claim_cases(c)
    skipped = [case.name for case in cases if not case.smooth]
    for case in cases:
        if not case.smooth:
            continue
        arrays = sample(c.formula, case, upstream=True, salt="fd")
        with np.errstate(all="ignore"):
            reference = finite_differences(c.formula, c.wrt, arrays)
        _accumulate(
            acc,
            case,
            _claimed(c, arrays),
            reference,
            TOLERANCES[("finite-differences", "float64")],
            reference="the finite-difference estimate",
            arrays=arrays,
        )
    note = (
        (
            f"not on '{', '.join(skipped)}' (points on a clip edge or a tie of a "
            "max, covered by the symbolic and TensorFlow checks)"
        )
        if skipped
        else ""
    )
    return _row(c.name, "claim", "finite-differences", "float64", acc, start, note)


# -- checks of an optimizer's update rule -------------------------------------
TRAJECTORY_STEPS = 100
#: (case name, number of parameters, gradient scale): tiny gradients make the
#: place of ε matter (a mean square of 1e-8 next to ε = 1e-7)
TRAJECTORY_CASES = (("P=3", 3, 1.0), ("P=7", 7, 1.0), ("gradients ~1e-4", 5, 1e-4))


class _AsState:
    """An update rule that names its inputs its own way (``w`` for θ), reading
    them from the optimizer's state by the names its declaration maps them to."""

    def __init__(self, f: Formula, names: dict):
        self.f, self.names = f, names

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(self.names.get(n, n) for n in self.f.input_names)

    def numpy(self, **state: np.ndarray) -> np.ndarray:
        return self.f.numpy(
            **{n: state[self.names.get(n, n)] for n in self.f.input_names}
        )


def check_keras_trajectory(f: Formula) -> Check:
    """An update rule against the ``tf.keras.optimizers`` class it declares
    (``Formula.keras``, see :func:`nnmath.update_rules.keras_rule`): both are fed the
    same seeded gradients for 100 steps, and the variable ``f`` claims to give is
    compared after every step.  The other variables come from the book's rules
    for that optimizer, with the same hyperparameters."""
    from ..update_rules import STEPS, trajectory
    from . import oracle
    from .cases import _seed

    rule: KerasRule = f.keras
    opt, var = rule.book, rule.variable
    start, acc = time.perf_counter(), _Errors()
    state = (*opt.updates, *opt.slots, "g", STEPS)
    rule_f = _AsState(f, rule.inputs)
    unknown = [n for n in rule_f.input_names if n not in state]
    if unknown:
        acc.passed = False
        acc.worst = (
            f"reads {', '.join(unknown)}, which {opt.title}'s state has not "
            f"(valid: {', '.join(dict.fromkeys(state))}); name its inputs so, "
            "or map them with keras_rule(..., inputs={'w': 'theta'})"
        )
        return _row(_subject(f), "formula", "keras-trajectory", "float64", acc, start)
    # the data are the optimizer's, not the rule's: the rules about one
    # optimizer's θ, m and v are then compared with one Keras run
    runs = []
    for name, size, scale in TRAJECTORY_CASES:
        rng = np.random.default_rng(_seed(rule.call, name))
        theta0 = rng.normal(size=size)
        runs.append((theta0, scale * rng.normal(size=(TRAJECTORY_STEPS, size))))
    refs = oracle.keras_trajectories(rule.optimizer, rule.hyper, runs, opt.slots)
    for (name, size, _), (theta0, grads), ref in zip(TRAJECTORY_CASES, runs, refs):
        ours = trajectory(
            opt, theta0, grads, replace={var: rule_f}, **rule.formula_params
        )[var][1:]
        if var not in ref:
            acc.passed = False
            acc.worst = f"{rule.text}: Keras keeps no {var} with these arguments"
            break
        _accumulate(
            acc,
            Case(name, {f.output_shape[0]: size}),
            ours,
            ref[var],
            TOLERANCES[("keras-trajectory", "float64")],
        )
    note = f"{TRAJECTORY_STEPS} steps of {rule.text}"
    return _row(_subject(f), "formula", "keras-trajectory", "float64", acc, start, note)


def check_update_rule_claim(f: Formula) -> Check:
    """The row for an update rule that is not run against Keras: one that says it
    has no Keras counterpart (reported, not checked), or one that says nothing
    (a failure: its only reference is the TensorFlow string beside it)."""
    subject, rule = _subject(f), f.keras
    if isinstance(rule, NoKeras):
        return Check(
            subject,
            "formula",
            "keras-trajectory",
            "-",
            True,
            checked=False,
            detail=f"no Keras counterpart: {rule.reason}",
        )
    if rule is None:
        var = updated_variable(f)
        detail = (
            f"gives {var}' from {var}, so it is an update rule, but it names no "
            "Keras optimizer: its only reference is the TensorFlow written "
            "beside it; declare keras=keras_rule('Adam', ...) (nnmath.update_rules) "
            "to check it against tf.keras.optimizers, or keras=NoKeras('why') "
            "if it has none"
        )
    else:
        detail = (
            f"keras={rule!r} is neither keras_rule(...) nor NoKeras(...) "
            "(nnmath.update_rules)"
        )
    return Check(subject, "formula", "keras-trajectory", "-", False, detail=detail)


# -- checks against a Keras layer -----------------------------------------------
def _variants(layer: KerasLayer, cases: list[Case]) -> list[tuple[Case, dict]]:
    """Every case, once per declared variant of the call (the code paths of
    MultiHeadAttention), named so that a failure says which path it was."""
    if not layer.variants:
        return [(case, {}) for case in cases]
    return [
        (Case(f"{case.name}, {name}", case.sizes, case.kind, case.large), kw)
        for case in cases
        for name, kw, *why in layer.variants
        if not (why and case.kind == "large")
    ]


def _variant_note(layer: KerasLayer) -> str:
    """Why a variant is not compared on the large-magnitude case, if it is not."""
    return "; ".join(
        f"{name} not at ±{LARGE[0]:g}..{LARGE[1]:g}: {why[0]}"
        for name, _, *why in layer.variants
        if why
    )


def check_keras_layer(f: Formula) -> Check:
    """A layer formula against the ``keras.layers`` layer it declares
    (``Formula.keras``, see :func:`nnmath.keras_layer.keras_layer`), on every
    case: the layer is built in float64 with the case's weights and called on
    its inputs; a mask the layer draws itself is read off it and given to ours."""
    from . import oracle
    from .cases import _seed

    layer: KerasLayer = f.keras
    tol = tolerance("keras-layer", "float64", f)
    start, acc = time.perf_counter(), _Errors()
    for case, variant in _variants(layer, cases_for(f)):
        arrays = sample(f, case, salt="keras-layer")
        seed = _seed(f.name, case.name)
        ref = oracle.keras_layer(layer, arrays, case.sizes, seed=seed, variant=variant)
        arrays.update(ref["drawn"])
        with np.errstate(all="ignore"):
            ours = f.numpy(**{n: arrays[n] for n in f.input_names})
        _accumulate(acc, case, ours, ref["value"], tol)
    note = "; ".join(filter(None, (layer.text, _variant_note(layer))))
    return _row(
        _subject(f), "formula", "keras-layer", "float64", acc, start, note, formula=f
    )


def check_keras_layer_gradient(c: Claim) -> Check:
    """A claim about a layer formula against ``tf.GradientTape`` through the
    Keras layer the formula declares, with the mask that layer drew."""
    from . import oracle
    from .cases import _seed

    f = c.formula
    layer: KerasLayer = f.keras
    tol = tolerance("keras-layer", "float64", f)
    start, acc = time.perf_counter(), _Errors()
    for case, variant in _variants(layer, cases_for(f)):
        arrays = sample(f, case, upstream=True, salt="keras-layer-gradient")
        seed = _seed(f.name, case.name)
        ref = oracle.keras_layer(
            layer,
            arrays,
            case.sizes,
            seed=seed,
            wrt=c.wrt,
            upstream=arrays.get(UPSTREAM),
            variant=variant,
        )
        arrays.update(ref["drawn"])
        _accumulate(acc, case, _claimed(c, arrays), ref["grad"], tol)
    note = "; ".join(
        filter(None, (f"GradientTape through {layer.text}", _variant_note(layer)))
    )
    return _row(c.name, "claim", "keras-layer", "float64", acc, start, note, formula=f)


# -- orchestration ------------------------------------------------------------
def planned(
    formulas: Iterable[Formula], claims: Iterable[Claim], *, oracle: bool = True
) -> list[tuple[str, Formula | Claim, Callable[[], Check]]]:
    """The checks to run, each a (label, subject, thunk): the formula or claim
    whose fingerprint its result depends on (with the checker's code), so that
    a result can be reused while neither changed."""
    from ..recurrence import BPTTClaim, Unrolled
    from . import recurrent

    jobs: list[tuple[str, Formula | Claim, Callable[[], Check]]] = []
    formulas, claims = list(formulas), list(claims)
    # an unrolled recurrent network and its BPTT claims have checks of their own
    for f in formulas:
        if isinstance(f, Unrolled):
            jobs += [(lb, f, t) for lb, t in recurrent.network_jobs(f, oracle)]
    for c in claims:
        if isinstance(c, BPTTClaim):
            jobs += [(lb, c, t) for lb, t in recurrent.claim_jobs(c, oracle)]
    formulas = [f for f in formulas if not isinstance(f, Unrolled)]
    claims = [c for c in claims if not isinstance(c, BPTTClaim)]
    # a recurrent cell, and each claim about it, against its Keras layer too
    if oracle:
        for f in formulas:
            if recurrent.is_cell(f):
                jobs.append(
                    (
                        f"{f.name} keras-layer",
                        f,
                        lambda f=f: recurrent.check_cell_keras(f),
                    )
                )
        for c in claims:
            if recurrent.is_cell(c.formula):
                jobs.append(
                    (
                        f"{c.name} keras-layer",
                        c,
                        lambda c=c: recurrent.check_cell_claim_keras(c),
                    )
                )
    # a claim about a formula with other than default parameters (conv2d with
    # stride 2) brings that formula's own lowering and TensorFlow checks
    formulas += [
        f
        for f in {id(c.formula): c.formula for c in claims}.values()
        if _subject(f) != f.name and not any(f is g for g in formulas)
    ]
    for f in formulas:
        jobs.append((f"{_subject(f)} lowering", f, lambda f=f: check_lowering(f)))
        if oracle:
            for dt in ("float64", "float32"):
                jobs.append(
                    (
                        f"{_subject(f)} tf {dt}",
                        f,
                        lambda f=f, dt=dt: check_forward(f, dt),
                    )
                )
            if isinstance(f.keras, KerasRule):
                jobs.append(
                    (
                        f"{_subject(f)} keras-trajectory",
                        f,
                        lambda f=f: check_keras_trajectory(f),
                    )
                )
            if isinstance(f.keras, KerasLayer):
                jobs.append(
                    (f"{_subject(f)} keras-layer", f, lambda f=f: check_keras_layer(f))
                )
        # a recurrent cell gives h′ from h too, but it is a layer, checked
        # against its Keras layer above, not an optimizer's update rule
        if (
            not isinstance(f.keras, (KerasRule, KerasLayer))
            and (f.keras is not None or updated_variable(f) is not None)
            and not recurrent.is_cell(f)
        ):
            jobs.append(
                (
                    f"{_subject(f)} keras-trajectory",
                    f,
                    lambda f=f: check_update_rule_claim(f),
                )
            )
    for c in claims:
        jobs.append((f"{c.name} symbolic", c, lambda c=c: check_symbolic(c)))
        if oracle:
            for dt in ("float64", "float32"):
                jobs.append(
                    (
                        f"{c.name} tf-grad {dt}",
                        c,
                        lambda c=c, dt=dt: check_gradient(c, dt),
                    )
                )
            if isinstance(c.formula.keras, KerasLayer):
                jobs.append(
                    (
                        f"{c.name} keras-layer",
                        c,
                        lambda c=c: check_keras_layer_gradient(c),
                    )
                )
        jobs.append(
            (f"{c.name} finite differences", c, lambda c=c: check_finite_differences(c))
        )
    return jobs


def plan(
    formulas: Iterable[Formula], claims: Iterable[Claim], *, oracle: bool = True
) -> list[tuple[str, Callable[[], Check]]]:
    """The checks to run, each a (label, thunk), so a caller can show progress."""
    return [
        (label, thunk) for label, _, thunk in planned(formulas, claims, oracle=oracle)
    ]


#: a plan label's tail → (kind, method, dtype) of the check it names
_LABELS = {
    "lowering": ("formula", "lowering", "float64"),
    "tf float64": ("formula", "tensorflow-forward", "float64"),
    "tf float32": ("formula", "tensorflow-forward", "float32"),
    "keras-trajectory": ("formula", "keras-trajectory", "float64"),
    "symbolic": ("claim", "symbolic", "exact"),
    "tf-grad float64": ("claim", "tensorflow-gradient", "float64"),
    "tf-grad float32": ("claim", "tensorflow-gradient", "float32"),
    "finite differences": ("claim", "finite-differences", "float64"),
}


def describe(label: str) -> tuple[str, str, str, str]:
    """(subject, kind, method, dtype) of a plan label such as ``sigmoid' tf-grad
    float32`` (subjects have no spaces)."""
    subject, _, tail = label.partition(" ")
    kind, method, dtype = _LABELS.get(tail, ("error", tail, "-"))
    return subject, kind, method, dtype


def _safe(
    label: str, thunk: Callable[[], Check], timeout: float | None = None
) -> Check:
    """Run one check: a crash is that check's failure, and so is running out of
    time; neither stops the others."""
    start = time.perf_counter()
    try:
        with time_limit(timeout) as limited:
            check = thunk()
        if timeout and not limited:
            check.detail += (
                f" (ran without the {timeout:g} s limit: not the main thread)"
            )
        return check
    except CheckTimeout as exc:
        subject, kind, method, dtype = describe(label)
        return Check(
            subject,
            kind,
            method,
            dtype,
            False,
            detail=str(exc),
            seconds=time.perf_counter() - start,
        )
    except Exception as exc:  # a crash in one check is that check's failure
        subject, _, method, dtype = describe(label)
        return Check(
            subject,
            "error",
            method,
            dtype,
            False,
            detail=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - start,
        )


def skipped(formulas: Iterable[Formula], claims: Iterable[Claim]) -> list[Check]:
    """The checks that ``verify(..., oracle=False)`` does not run, as rows marked
    skipped: what a ``--no-tf`` run leaves unchecked."""
    formulas, claims = list(formulas), list(claims)
    run = {label for label, _ in plan(formulas, claims, oracle=False)}
    rows = []
    for label, _ in plan(formulas, claims, oracle=True):
        if label not in run:
            subject, kind, method, dtype = describe(label)
            rows.append(
                Check(
                    subject,
                    kind,
                    method,
                    dtype,
                    False,
                    skipped=True,
                    detail="skipped: TensorFlow was not run (--no-tf)",
                )
            )
    return rows


def verify(
    formulas: Iterable[Formula],
    claims: Iterable[Claim],
    *,
    oracle: bool = True,
    on_check: Callable[[Check], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    timeout: float | None = DEFAULT_SECONDS,
) -> list[Check]:
    """Run every check (see :func:`plan`), each within ``timeout`` seconds.

    ``on_start(label)`` is called as each check begins, ``on_check(check)`` as it
    ends, so a caller can show which check is running.
    """
    results = []
    for label, thunk in plan(formulas, claims, oracle=oracle):
        if on_start:
            on_start(label)
        check = _safe(label, thunk, timeout)
        results.append(check)
        if on_check:
            on_check(check)
    return results
