"""``nnbook verify`` does only what changed: one cache entry per check.

The render gate files whole verifications (every check of a set of formulas and
claims, :func:`publishing.gate.verify_cached`).  ``nnbook verify`` goes one step
finer: each check of :func:`nnmath.checker.checks.planned` is filed under a key
made of its label, the fingerprint of its subject (the formula or claim it is
about; a claim's covers its formula), the checker's code
(:func:`publishing.gate.engine_files`) and the library versions.  Editing one
formula therefore re-runs that formula's checks and its claims' checks, and
nothing else; a new formula is simply a miss.

A stored check carries the SHA-256 of its own text: an entry that is truncated,
altered or of another form is never served; the check runs again and its entry
is written anew (healed).  A check that ran out of time, or crashed, is not
filed: neither says anything about the maths.

With ``jobs`` above 1 the checks left to run go to fresh processes
(:class:`publishing.processes.FreshProcesses`, as scenes do), in a few batches
balanced by the time each check took last (longest first: the symbolic proofs
are the long pole).  Checks that need TensorFlow are batched apart from those
that do not, so only the batches that need it import it.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path

__all__ = [
    "LAYOUT",
    "Run",
    "check_key",
    "needs_tensorflow",
    "read_check",
    "verify_reusing",
    "write_check",
]

#: bump when the layout of a stored check changes
LAYOUT = 1

#: methods whose reference is TensorFlow or Keras
_TF_METHODS = ("tensorflow-forward", "tensorflow-gradient", "keras-layer")


@dataclass
class Run:
    """A verification: its checks in plan order, and how many were reused."""

    checks: list
    reused: int = 0

    @property
    def ran(self) -> int:
        return len(self.checks) - self.reused


def _versions() -> list[str]:
    from importlib import metadata

    found = []
    for dist in ("numpy", "sympy", "mpmath", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            found.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return found


def _checker() -> str:
    """What checks: the checker's code and the libraries it runs on."""
    from .cache import text_sha
    from .gate import _engine_digest

    return text_sha("\n".join([f"layout={LAYOUT}", _engine_digest(), *_versions()]))


def check_key(
    label: str, subject, checker: str | None = None, *, fingerprints=None
) -> str:
    """The key of one check: its label, its subject's fingerprint and ``checker``
    (default: this code and these libraries, :func:`_checker`).  ``fingerprints``
    (id → fingerprint) spares hashing a subject once per check of it."""
    from nnmath.fingerprint import fingerprint

    from .cache import text_sha

    checker = _checker() if checker is None else checker
    if fingerprints is None:
        fp = fingerprint(subject)
    else:
        fp = fingerprints.get(id(subject)) or fingerprints.setdefault(
            id(subject), fingerprint(subject)
        )
    return text_sha("\n".join([label, fp, checker]))


def needs_tensorflow(label: str, subject) -> bool:
    """Whether the check ``label`` imports TensorFlow (its reference is TF or
    Keras); an update rule's Keras row does only if it names a Keras optimizer."""
    from nnmath.checker.checks import describe
    from nnmath.update_rules import KerasRule

    method = describe(label)[2]
    if method == "keras-trajectory":
        return isinstance(getattr(subject, "keras", None), KerasRule)
    return method in _TF_METHODS


def _number(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def as_check(d):
    """The :class:`Check` a stored dict describes, or None if it is not one."""
    from nnmath.checker.checks import Check

    names = {f.name for f in fields(Check)}
    if not (
        isinstance(d, dict)
        and set(d) == names
        and all(
            isinstance(d[k], str)
            for k in ("subject", "kind", "method", "dtype", "detail")
        )
        and all(isinstance(d[k], bool) for k in ("passed", "checked", "skipped"))
        and isinstance(d["cases"], list)
        and all(
            _number(d[k]) for k in ("max_abs", "max_rel", "rtol", "atol", "seconds")
        )
        and d["kind"] in ("formula", "claim")
    ):
        return None
    return Check(**d)


def _text(d: dict) -> str:
    return json.dumps(d, sort_keys=True)


def _path(cache: Path, key: str) -> Path:
    return Path(cache) / "verify" / "checks" / f"{key}.json"


def read_check(cache: Path, key: str):
    """The check filed under ``key``, or None: missing, unreadable, of another
    form, or not matching the SHA-256 it was filed with (damaged)."""
    from .cache import SceneCache, text_sha

    data = SceneCache(cache).read_json(_path(cache, key))
    if not (
        isinstance(data, dict)
        and data.get("layout") == LAYOUT
        and data.get("key") == key
        and isinstance(data.get("check"), dict)
        and data.get("sha256") == text_sha(_text(data["check"]))
    ):
        return None
    return as_check(data["check"])


def _fileable(check) -> bool:
    """A result about the maths: not a crash, a timeout or a dead worker."""
    return check.kind in ("formula", "claim") and not check.detail.startswith(
        "timed out after"
    )


def write_check(cache: Path, key: str, check) -> None:
    """File ``check`` under ``key`` (atomically; a cache that cannot be written
    only costs time later: ``nnbook verify`` checks it is writable first)."""
    from .cache import atomic_write, text_sha

    d = check.as_dict()
    doc = {"layout": LAYOUT, "key": key, "check": d, "sha256": text_sha(_text(d))}
    try:
        atomic_write(_path(cache, key), json.dumps(doc, indent=1))
    except OSError:
        pass


# -- the cost of each check, to balance the batches --------------------------------
def _seconds_path(cache: Path) -> Path:
    return Path(cache) / "verify" / "seconds.json"


def _last_seconds(cache: Path | None) -> dict[str, float]:
    from .cache import SceneCache

    if cache is None:
        return {}
    data = SceneCache(cache).read_json(_seconds_path(cache))
    if not isinstance(data, dict):
        return {}
    return {k: float(v) for k, v in data.items() if _number(v) and v is not None}


def _remember_seconds(cache: Path | None, checks: dict[str, object]) -> None:
    from .cache import atomic_write

    if cache is None or not checks:
        return
    seconds = _last_seconds(cache)
    seconds.update({label: round(c.seconds, 3) for label, c in checks.items()})
    try:
        atomic_write(
            _seconds_path(cache), json.dumps(seconds, indent=0, sort_keys=True)
        )
    except OSError:
        pass


def _estimate(label: str, last: dict[str, float]) -> float:
    """A check's expected seconds: its last time, else a symbolic proof is
    guessed slower than the rest."""
    if label in last:
        return last[label]
    return 5.0 if label.endswith(" symbolic") else 1.0


def _batches(
    todo: list[tuple[int, str, bool]], jobs: int, last: dict[str, float]
) -> list[list[int]]:
    """Plan indices in batches: longest first onto the least loaded batch, with
    checks that need TensorFlow apart from those that do not.  ``3 × jobs``
    batches in all, so that a worker that finishes early takes another."""
    out: list[list[int]] = []
    for tf in (False, True):
        part = sorted(
            ((i, label) for i, label, t in todo if t is tf),
            key=lambda x: -_estimate(x[1], last),
        )
        if not part:
            continue
        n = min(len(part), 2 * jobs if not tf else jobs)
        bins: list[tuple[float, list[int]]] = [(0.0, []) for _ in range(n)]
        for i, label in part:
            k = min(range(n), key=lambda b: bins[b][0])
            bins[k] = (bins[k][0] + _estimate(label, last), bins[k][1] + [i])
        out += [b for _, b in sorted(bins, key=lambda b: -b[0]) if b]
    return out


def run_batch(
    formulas: list, claims: list, oracle: bool, indices: list[int], timeout
) -> list[dict]:
    """In a worker: run the checks at ``indices`` of the plan of ``formulas`` and
    ``claims`` (the very plan the parent made: same inputs, same order)."""
    from nnmath.checker.checks import _safe, planned

    jobs = planned(formulas, claims, oracle=oracle)
    return [_safe(jobs[i][0], jobs[i][2], timeout).as_dict() for i in indices]


def _bare(x):
    """``x`` (a Formula or Claim) without what it computed and cached for itself
    (its lowering holds functions made at run time, which do not pickle): a
    worker computes them again.  Its fields, and so its fingerprint, are kept."""
    import copy
    from functools import cached_property

    from nnmath.claim import Claim
    from nnmath.formula import Formula

    if not isinstance(x, (Formula, Claim)):
        return x
    y = copy.copy(x)
    for cls in type(x).__mro__:
        for name, value in vars(cls).items():
            if isinstance(value, cached_property):
                y.__dict__.pop(name, None)
    for f in fields(x):
        value = getattr(x, f.name)
        if isinstance(value, (Formula, Claim)):
            object.__setattr__(y, f.name, _bare(value))
    return y


def _picklable(*objects) -> bool:
    try:
        pickle.dumps(objects)
        return True
    except Exception:  # a formula from a module a fresh process cannot import
        return False


def verify_reusing(
    formulas: Iterable,
    claims: Iterable,
    cache: Path | None,
    *,
    oracle: bool = True,
    fresh: bool = False,
    jobs: int = 1,
    timeout: float | None = None,
    on_check: Callable | None = None,
    on_start: Callable | None = None,
) -> Run:
    """Every check of ``formulas`` and ``claims`` (see
    :func:`nnmath.checker.checks.planned`): reused from ``cache`` where its key
    (:func:`check_key`) is filed and intact, unless ``fresh``; the others run,
    in ``jobs`` processes if above 1, and are filed.  ``on_check`` sees every
    check (reused ones first); ``on_start`` each one that starts in this
    process.  A reused check is returned exactly as it was filed."""
    from nnmath.checker.checks import _safe, planned
    from nnmath.checker.deadline import DEFAULT_SECONDS

    formulas, claims = list(formulas), list(claims)
    timeout = DEFAULT_SECONDS if timeout is None else timeout
    plan = planned(formulas, claims, oracle=oracle)
    checker = _checker() if cache is not None else ""
    seen: dict[int, str] = {}  # the plan holds every subject while this runs
    keys = [
        check_key(label, subj, checker, fingerprints=seen) if cache is not None else ""
        for label, subj, _ in plan
    ]
    results: list = [None] * len(plan)
    reused = 0
    if cache is not None and not fresh:
        for i, key in enumerate(keys):
            check = read_check(cache, key)
            if check is not None:
                results[i] = check
                reused += 1
                if on_check:
                    on_check(check)
    todo = [i for i, r in enumerate(results) if r is None]
    ran: dict[str, object] = {}

    def done(i: int, check) -> None:
        results[i] = check
        ran[plan[i][0]] = check
        if cache is not None and _fileable(check):
            write_check(cache, keys[i], check)
        if on_check:
            on_check(check)

    bare = [_bare(f) for f in formulas], [_bare(c) for c in claims]
    if jobs > 1 and len(todo) > 1 and _picklable(*bare):
        # a formula a fresh process cannot import (defined in __main__) runs here
        _run_parallel(*bare, oracle, plan, todo, jobs, timeout, cache, done)
    else:
        for i in todo:
            label, _, thunk = plan[i]
            if on_start:
                on_start(label)
            done(i, _safe(label, thunk, timeout))
    _remember_seconds(cache, ran)
    return Run(results, reused)


def _run_parallel(formulas, claims, oracle, plan, todo, jobs, timeout, cache, done):
    """Run the plan's ``todo`` checks in ``jobs`` fresh processes, calling
    ``done(index, check)`` as each batch comes back.  A batch whose worker died
    fails its checks by name (not filed); Ctrl-C stops every worker."""
    import concurrent.futures as cf

    from nnmath.checker.checks import Check, describe

    from .processes import FreshProcesses, signals_held

    last = _last_seconds(cache)
    labelled = [(i, plan[i][0], needs_tensorflow(plan[i][0], plan[i][1])) for i in todo]
    pool = FreshProcesses(jobs, stdout_to_stderr=True)
    try:
        futures = {
            pool.submit(run_batch, formulas, claims, oracle, batch, timeout): batch
            for batch in _batches(labelled, jobs, last)
        }
        for future in cf.as_completed(futures):
            batch = futures[future]
            try:
                rows = [Check(**d) for d in future.result()]
            except Exception as exc:  # the worker died: its checks fail by name
                rows = []
                for i in batch:
                    subject, _, method, dtype = describe(plan[i][0])
                    rows.append(
                        Check(
                            subject,
                            "error",
                            method,
                            dtype,
                            False,
                            detail=f"worker failed: {type(exc).__name__}: {exc}",
                        )
                    )
            for i, check in zip(batch, rows):
                done(i, check)
    except BaseException:  # as a render's: Ctrl-C stops every worker at once
        with signals_held():
            pool.terminate()
        raise
    pool.shutdown(wait=True)
