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
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

import numpy as np

from .cases import Case, cases_for, sample
from .claim import UPSTREAM, Claim
from .descent import KerasRule, NoKeras, updated_variable
from .formula import Formula
from .keras_layer import KerasLayer
from .lowering import loop_oracle
from .symbolic import prove

__all__ = ["Check", "Tolerance", "TOLERANCES", "verify", "compare"]


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
        return f"{'NOT CHECKED' if not self.checked else 'passed'} {self.label}: {self.detail}"

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Errors:
    max_abs: float = 0.0
    max_rel: float = 0.0
    passed: bool = True
    worst: str = ""
    cases: list = field(default_factory=list)


def compare(ours: np.ndarray, ref: np.ndarray, tol: Tolerance) -> tuple[float, float, bool]:
    """(max abs error, max rel error, within tolerance) — NaN/inf count as failure."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    if ours.shape != ref.shape:
        return float("inf"), float("inf"), False
    finite = np.isfinite(ref)
    if not np.array_equal(np.isfinite(ours), finite) or np.any(ours[~finite] != ref[~finite]):
        return float("inf"), float("inf"), False  # an overflow or NaN on one side only
    ours, ref = np.where(finite, ours, 0.0), np.where(finite, ref, 0.0)
    with np.errstate(all="ignore"):  # a huge error is a result, not a warning
        err = np.abs(ours - ref)
        rel = err / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
    # a relative error means nothing where the reference is below atol (a softmax
    # probability of 1e-300 in float32): there the absolute error is what counts
    rel = np.where((err == 0) | (np.abs(ref) <= tol.atol), 0.0, rel)
    ok = bool(np.all(err <= tol.atol + tol.rtol * np.abs(ref)))
    return float(err.max(initial=0.0)), float(rel.max(initial=0.0)), ok


def _accumulate(acc: _Errors, case: Case, ours, ref, tol: Tolerance) -> None:
    a, r, ok = compare(ours, ref, tol)
    acc.cases.append({"case": case.name, "max_abs": a, "max_rel": r, "passed": ok})
    if not ok and acc.passed:
        acc.worst = f"fails on case '{case.name}' (max abs error {a:.3g})"
    acc.passed &= ok
    acc.max_abs, acc.max_rel = max(acc.max_abs, a), max(acc.max_rel, r)


def tolerance(method: str, dtype: str, formula: Formula | None = None) -> Tolerance:
    """The stated tolerance of a check; a formula may loosen its TensorFlow ones,
    and its Keras layer declaration the keras-layer ones."""
    if formula is not None and method.startswith("tensorflow") and dtype in formula.tf_tolerance:
        return Tolerance(*formula.tf_tolerance[dtype])
    layer = formula.keras if formula is not None else None
    if method == "keras-layer" and isinstance(layer, KerasLayer):
        if dtype in layer.tolerance:
            return Tolerance(*layer.tolerance[dtype])
    return TOLERANCES[(method, dtype)]


def _row(subject, kind, method, dtype, acc: _Errors, start: float, note: str = "",
         formula: Formula | None = None) -> Check:
    tol = tolerance(method, dtype, formula)
    if formula is not None and dtype in formula.tf_tolerance and method.startswith("tensorflow"):
        note = note or formula.tf_note
    if (formula is not None and method == "keras-layer"
            and isinstance(formula.keras, KerasLayer) and formula.keras.note):
        note = f"{note}; {formula.keras.note}" if note else formula.keras.note
    detail = acc.worst or (f"{len(acc.cases)} cases" + (f"; {note}" if note else ""))
    return Check(subject, kind, method, dtype, acc.passed, acc.max_abs, acc.max_rel,
                 tol.rtol, tol.atol, detail, acc.cases, time.perf_counter() - start)


def _cast(arrays: dict, dtype: str) -> dict:
    return {k: np.asarray(v, dtype=dtype) for k, v in arrays.items()}


# -- checks of a formula ------------------------------------------------------
def _subject(f: Formula) -> str:
    """``conv2d``, or ``conv2d(stride=(2,2),padding='same')`` naming the
    parameters that differ from the registered default's."""
    from .registry import formula

    try:
        default = formula(f.name).params
    except (KeyError, TypeError, ValueError):  # not registered, or no default
        default = f.params
    # no spaces: a progress label is "<subject> <method>"
    changed = [f"{k}={v!r}".replace(" ", "") for k, v in f.params.items()
               if default.get(k) != v]
    return f"{f.name}({','.join(changed)})" if changed else f.name


def check_lowering(f: Formula) -> Check:
    """The fast lowering equals lambdify's loop code, on tiny shapes."""
    start, acc = time.perf_counter(), _Errors()
    slow = loop_oracle(f)
    for case in cases_for(f):
        tiny = case if f.cases else Case(  # a formula's own cases are small already
            case.name, {d: min(v, 3) for d, v in case.sizes.items()}, case.kind)
        arrays = sample(f, tiny)
        _accumulate(acc, tiny, f.numpy(**arrays), slow(**arrays),
                    TOLERANCES[("lowering", "float64")])
    return _row(_subject(f), "formula", "lowering", "float64", acc, start)


def check_forward(f: Formula, dtype: str) -> Check:
    from . import oracle

    start, acc = time.perf_counter(), _Errors()
    for case in cases_for(f):
        arrays = _cast(sample(f, case), dtype)
        with np.errstate(all="ignore"):  # an overflow shows up as inf in the row
            ours = f.numpy(**arrays)
        _accumulate(acc, case, ours, oracle.forward(f, arrays, dtype),
                    tolerance("tensorflow-forward", dtype, f))
    return _row(_subject(f), "formula", "tensorflow-forward", dtype, acc, start, formula=f)


# -- checks of a claim --------------------------------------------------------
def check_symbolic(c: Claim) -> Check:
    start = time.perf_counter()
    try:
        result = prove(c)
        passed, detail = result.passed, result.detail
    except Exception as exc:  # an unprovable claim is a failed claim, with reason
        passed, detail = False, f"could not be instantiated: {type(exc).__name__}: {exc}"
    return Check(c.name, "claim", "symbolic", "exact", passed, detail=detail,
                 seconds=time.perf_counter() - start)


def _claimed(c: Claim, arrays: dict) -> np.ndarray:
    grad = c.gradient
    with np.errstate(all="ignore"):
        return grad.numpy(**{n: arrays[n] for n in grad.input_names})


def check_gradient(c: Claim, dtype: str) -> Check:
    from . import oracle

    start, acc = time.perf_counter(), _Errors()
    for case in cases_for(c.formula):
        arrays = _cast(sample(c.formula, case, upstream=True, salt="grad"), dtype)
        _accumulate(acc, case, _claimed(c, arrays), oracle.gradient(c, arrays, dtype),
                    tolerance("tensorflow-gradient", dtype, c.formula))
    return _row(c.name, "claim", "tensorflow-gradient", dtype, acc, start, formula=c.formula)


def finite_differences(f: Formula, wrt: str, arrays: dict, step: float = FD_STEP) -> np.ndarray:
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
    skipped = [case.name for case in cases_for(c.formula) if not case.smooth]
    for case in cases_for(c.formula):
        if not case.smooth:
            continue
        arrays = sample(c.formula, case, upstream=True, salt="fd")
        _accumulate(acc, case, _claimed(c, arrays),
                    finite_differences(c.formula, c.wrt, arrays),
                    TOLERANCES[("finite-differences", "float64")])
    note = (f"not on '{', '.join(skipped)}' (points on a clip edge or a tie of a "
            "max, covered by the symbolic and TensorFlow checks)") if skipped else ""
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
        return self.f.numpy(**{n: state[self.names.get(n, n)] for n in self.f.input_names})


def check_keras_trajectory(f: Formula) -> Check:
    """An update rule against the ``tf.keras.optimizers`` class it declares
    (``Formula.keras``, see :func:`nnmath.descent.keras_rule`): both are fed the
    same seeded gradients for 100 steps, and the variable ``f`` claims to give is
    compared after every step.  The other variables come from the book's rules
    for that optimizer, with the same hyperparameters."""
    from . import oracle
    from .cases import _seed
    from .descent import STEPS, trajectory

    rule: KerasRule = f.keras
    opt, var = rule.book, rule.variable
    start, acc = time.perf_counter(), _Errors()
    state = (*opt.updates, *opt.slots, "g", STEPS)
    rule_f = _AsState(f, rule.inputs)
    unknown = [n for n in rule_f.input_names if n not in state]
    if unknown:
        acc.passed = False
        acc.worst = (f"reads {', '.join(unknown)}, which {opt.title}'s state has not "
                     f"(valid: {', '.join(dict.fromkeys(state))}); name its inputs so, "
                     "or map them with keras_rule(..., inputs={'w': 'theta'})")
        return _row(_subject(f), "formula", "keras-trajectory", "float64", acc, start)
    for name, size, scale in TRAJECTORY_CASES:
        rng = np.random.default_rng(_seed(f.name, name, "trajectory"))
        theta0 = rng.normal(size=size)
        grads = scale * rng.normal(size=(TRAJECTORY_STEPS, size))
        ours = trajectory(opt, theta0, grads, replace={var: rule_f},
                          **rule.formula_params)[var][1:]
        ref = oracle.keras_trajectory(rule.optimizer, rule.hyper, theta0, grads,
                                      opt.slots)
        if var not in ref:
            acc.passed = False
            acc.worst = f"{rule.text}: Keras keeps no {var} with these arguments"
            break
        _accumulate(acc, Case(name, {f.output_shape[0]: size}), ours, ref[var],
                    TOLERANCES[("keras-trajectory", "float64")])
    note = f"{TRAJECTORY_STEPS} steps of {rule.text}"
    return _row(_subject(f), "formula", "keras-trajectory", "float64", acc, start, note)


def check_update_rule_claim(f: Formula) -> Check:
    """The row for an update rule that is not run against Keras: one that says it
    has no Keras counterpart (reported, not checked), or one that says nothing
    (a failure: its only reference is the TensorFlow string beside it)."""
    subject, rule = _subject(f), f.keras
    if isinstance(rule, NoKeras):
        return Check(subject, "formula", "keras-trajectory", "-", True, checked=False,
                     detail=f"no Keras counterpart: {rule.reason}")
    if rule is None:
        var = updated_variable(f)
        detail = (f"gives {var}' from {var}, so it is an update rule, but it names no "
                  "Keras optimizer: its only reference is the TensorFlow written "
                  "beside it; declare keras=keras_rule('Adam', ...) (nnmath.descent) "
                  "to check it against tf.keras.optimizers, or keras=NoKeras('why') "
                  "if it has none")
    else:
        detail = (f"keras={rule!r} is neither keras_rule(...) nor NoKeras(...) "
                  "(nnmath.descent)")
    return Check(subject, "formula", "keras-trajectory", "-", False, detail=detail)


# -- checks against a Keras layer -----------------------------------------------
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
    for case in cases_for(f):
        arrays = sample(f, case, salt="keras-layer")
        seed = _seed(f.name, case.name)
        ref = oracle.keras_layer(layer, arrays, case.sizes, seed=seed)
        arrays.update(ref["drawn"])
        with np.errstate(all="ignore"):
            ours = f.numpy(**{n: arrays[n] for n in f.input_names})
        _accumulate(acc, case, ours, ref["value"], tol)
    return _row(_subject(f), "formula", "keras-layer", "float64", acc, start,
                layer.text, formula=f)


def check_keras_layer_gradient(c: Claim) -> Check:
    """A claim about a layer formula against ``tf.GradientTape`` through the
    Keras layer the formula declares, with the mask that layer drew."""
    from . import oracle
    from .cases import _seed

    f = c.formula
    layer: KerasLayer = f.keras
    tol = tolerance("keras-layer", "float64", f)
    start, acc = time.perf_counter(), _Errors()
    for case in cases_for(f):
        arrays = sample(f, case, upstream=True, salt="keras-layer-gradient")
        seed = _seed(f.name, case.name)
        ref = oracle.keras_layer(layer, arrays, case.sizes, seed=seed, wrt=c.wrt,
                                 upstream=arrays.get(UPSTREAM))
        arrays.update(ref["drawn"])
        _accumulate(acc, case, _claimed(c, arrays), ref["grad"], tol)
    return _row(c.name, "claim", "keras-layer", "float64", acc, start,
                f"GradientTape through {layer.text}", formula=f)


# -- orchestration ------------------------------------------------------------
def plan(formulas: Iterable[Formula], claims: Iterable[Claim], *, oracle: bool = True
         ) -> list[tuple[str, Callable[[], Check]]]:
    """The checks to run, each a (label, thunk), so a caller can show progress."""
    jobs: list[tuple[str, Callable[[], Check]]] = []
    formulas, claims = list(formulas), list(claims)
    # a claim about a formula with other than default parameters (conv2d with
    # stride 2) brings that formula's own lowering and TensorFlow checks
    formulas += [f for f in {id(c.formula): c.formula for c in claims}.values()
                 if _subject(f) != f.name and not any(f is g for g in formulas)]
    for f in formulas:
        jobs.append((f"{_subject(f)} lowering", lambda f=f: check_lowering(f)))
        if oracle:
            for dt in ("float64", "float32"):
                jobs.append((f"{_subject(f)} tf {dt}",
                             lambda f=f, dt=dt: check_forward(f, dt)))
            if isinstance(f.keras, KerasRule):
                jobs.append((f"{_subject(f)} keras-trajectory",
                             lambda f=f: check_keras_trajectory(f)))
            if isinstance(f.keras, KerasLayer):
                jobs.append((f"{_subject(f)} keras-layer",
                             lambda f=f: check_keras_layer(f)))
        if not isinstance(f.keras, (KerasRule, KerasLayer)) and (
                f.keras is not None or updated_variable(f) is not None):
            jobs.append((f"{_subject(f)} keras-trajectory",
                         lambda f=f: check_update_rule_claim(f)))
    for c in claims:
        jobs.append((f"{c.name} symbolic", lambda c=c: check_symbolic(c)))
        if oracle:
            for dt in ("float64", "float32"):
                jobs.append((f"{c.name} tf-grad {dt}", lambda c=c, dt=dt: check_gradient(c, dt)))
            if isinstance(c.formula.keras, KerasLayer):
                jobs.append((f"{c.name} keras-layer",
                             lambda c=c: check_keras_layer_gradient(c)))
        jobs.append((f"{c.name} finite differences", lambda c=c: check_finite_differences(c)))
    return jobs


def _safe(label: str, thunk: Callable[[], Check]) -> Check:
    try:
        return thunk()
    except Exception as exc:  # a crash in one check is that check's failure
        subject, _, method = label.partition(" ")
        return Check(subject, "error", method, "-", False,
                     detail=f"{type(exc).__name__}: {exc}")


def verify(formulas: Iterable[Formula], claims: Iterable[Claim], *, oracle: bool = True,
           on_check: Callable[[Check], None] | None = None) -> list[Check]:
    results = []
    for label, thunk in plan(formulas, claims, oracle=oracle):
        check = _safe(label, thunk)
        results.append(check)
        if on_check:
            on_check(check)
    return results
