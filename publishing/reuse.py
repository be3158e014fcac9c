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
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "LAYOUT",
    "Run",
    "remember_run",
    "replay",
    "sources_digest",
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
    #: each check's key (:func:`check_key`), in the same order
    keys: list = field(default_factory=list)

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
    """The :class:`Check` a stored entry describes, or None if it is not one: a
    filed check is a formula's or a claim's, never an error row (not filed)."""
    from .gate import as_check as stored

    return stored(d, kinds=("formula", "claim"))


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


#: a check's seconds when it has not run here before, by method: the means of
#: a cold ``nnbook verify -j 2`` on 2 cores (the first TensorFlow check of a
#: process also imports TensorFlow: :data:`TF_IMPORT_SECONDS`)
FIRST_SECONDS = {
    "symbolic": 0.13,
    "keras-layer": 0.04,
    "keras-trajectory": 0.08,
    "finite-differences": 0.056,
    "lowering": 0.058,
    "tensorflow-gradient": 0.014,
    "tensorflow-forward": 0.01,
}
TF_IMPORT_SECONDS = 3.0


#: a symbolic proof's seconds per node of its formula and claimed gradient
#: (each shared part once): one proof takes 1000 times another, and their size
#: is the best cheap guess found (correlation 0.43 over a cold run's 100 proofs
#: of claims; the method's mean alone, 0)
PROOF_SECONDS_PER_NODE = 0.0018


def _guesses(plan, indices) -> dict[str, float]:
    """Each symbolic proof's seconds guessed from its size (see
    :data:`PROOF_SECONDS_PER_NODE`), for a check that has not run here before."""
    from nnmath.checker.checks import describe
    from nnmath.claim import Claim
    from nnmath.formula import nodes

    out = {}
    for i in indices:
        label, subject, _ = plan[i]
        if isinstance(subject, Claim) and describe(label)[2] == "symbolic":
            size = len(nodes(subject.formula.expr, subject.gradient.expr))
            out[label] = PROOF_SECONDS_PER_NODE * size
    return out


def _estimate(label: str, last: dict[str, float]) -> float:
    """A check's expected seconds: its last time, else its method's mean."""
    if label in last:
        return last[label]
    from nnmath.checker.checks import describe

    return FIRST_SECONDS.get(describe(label)[2], 0.2)


#: forked batches of the other checks per process at once: more balance the
#: load when the estimates are wrong (a proof's seconds vary 1000-fold within
#: a method); each costs a fork and the pages it copies.  Cold verify -j 2,
#: measured back to back: 18.4 and 18.4 s at 4, 19.1 and 19.7 s at 8, 18.5 and
#: 18.6 s at one batch per formula (74); runs vary by ±0.5 s
CHEAP_BATCHES = 4


def _formula_name(label: str) -> str:
    """The name of the formula a check is about: ``mlp`` for ``mlp.sigmoid/dW1
    symbolic`` (a claim about the MLP with sigmoid), ``mlp(activation='sigmoid')
    lowering`` and ``mlp/dx tf-grad float32``."""
    return re.split(r"[ /(.]", label, maxsplit=1)[0]


def _family(label: str, subject) -> str:
    """The formula whose checks share what they compute: an unrolled network's
    cell for the network and its claims through time (whose proofs prove the
    cell's claims first), else the formula the label names."""
    from nnmath.recurrence import BPTTClaim, Unrolled

    if isinstance(subject, BPTTClaim):
        return subject.network.cell.name
    if isinstance(subject, Unrolled):
        return subject.cell.name
    return _formula_name(label)


def _pack(units: list[tuple[float, list[int]]], bins: list[tuple[float, list[int]]]):
    """Units onto ``bins`` ((seconds, indices) each), longest first onto the
    least loaded."""
    bins = list(bins)
    for seconds, members in sorted(units, key=lambda u: -u[0]):
        k = min(range(len(bins)), key=lambda b: bins[b][0])
        bins[k] = (bins[k][0] + seconds, bins[k][1] + members)
    return bins


def _batches(
    todo: list[tuple],
    jobs: int,
    last: dict[str, float],
    *,
    cheap: bool = False,
) -> list[list[int]]:
    """Plan indices in batches, one process each, to run ``jobs`` at a time in
    the order given: ``todo`` holds (index, label, needs TensorFlow[, family]).
    The checks about one formula (a family: :func:`_family`) stay together
    (TensorFlow's apart from the others), so that the later ones find what the
    first wrote: the instance a proof wrote out, SymPy's cache, a gradient's
    lowering, the answer of a Keras call (multi-head attention's ten claims
    ask for the same one).  TensorFlow's checks go to as few batches as make
    the longest batch shortest (each pays its import).

    Where a process costs seconds to start (spawned: it imports the library
    again), there are ``jobs`` batches, and the other checks fill the least
    loaded ones, the TensorFlow batches included.  Where it costs milliseconds
    (``cheap``: forked), TensorFlow's batches come first and the other checks
    fill :data:`CHEAP_BATCHES` times as many, longest first: a process that
    is done takes the next, so the estimates need not be right."""
    units: dict[tuple[bool, str], tuple[float, list[int]]] = {}
    for i, label, tf, *family in todo:  # (index, label, TensorFlow?[, family])
        key = (tf, family[0] if family else _formula_name(label))
        seconds, members = units.get(key, (0.0, []))
        units[key] = (seconds + _estimate(label, last), members + [i])
    plain = [u for (tf, _), u in units.items() if not tf]
    needs_tf = [u for (tf, _), u in units.items() if tf]
    n = max(1, min(jobs, len(units)))
    plans = []
    for k in range(1, n + 1) if needs_tf else [0]:  # k batches import TensorFlow
        tf_bins = _pack(needs_tf, [(TF_IMPORT_SECONDS, [])] * k)
        bins = _pack(plain, tf_bins + [(0.0, [])] * (n - k))
        plans.append((max(b[0] for b in bins), tf_bins, bins))
    _, tf_bins, bins = min(plans, key=lambda p: p[0])
    if cheap:
        rest = _pack(plain, [(0.0, [])] * (CHEAP_BATCHES * n))
        rest.sort(key=lambda b: -b[0])
        return [members for _, members in tf_bins + rest if members]
    return [members for _, members in bins if members]


def _reference(subject):
    """How a worker finds ``subject`` in its own registry: ``("formula", name,
    params)``, ``("claim", name)`` or ``("network", name)`` (an unrolled
    recurrent network, composed from its cell); None if the registry here holds
    no equal one (a changed copy, a lecturer's file): then it is checked in this
    process.
    SymPy objects are not sent: a pickled expression can come back as another
    tree (multi-head attention's claims did), so equal fingerprints decide."""
    from nnmath import registry
    from nnmath.claim import Claim
    from nnmath.fingerprint import fingerprint
    from nnmath.recurrence import BPTTClaim, Unrolled

    try:
        if isinstance(subject, (Claim, BPTTClaim)):  # both registered claims
            ref, found = ("claim", subject.name), registry.claim(subject.name)
        elif isinstance(subject, Unrolled):  # composed from cells, not registered
            ref, found = ("network", subject.name), _network(subject.name)
        else:
            params = tuple(sorted(subject.params.items()))
            ref = ("formula", subject.name, params)
            found = registry.formula(subject.name, **dict(params))
    except Exception:  # not registered, or not with these parameters
        return None
    if found is subject:  # the registry's own object: equal by being it
        return ref
    return ref if fingerprint(found) == fingerprint(subject) else None


def _network(name: str):
    """The unrolled recurrent network ``name`` (``rnn``, ``lstm``, ``gru``)."""
    from nnmath.library.recurrent import networks

    return next(net for net in networks() if net.name == name)


def run_batch(items: list[tuple], oracle: bool, timeout) -> list[dict | None]:
    """In a worker: run each ``(label, reference, fingerprint)`` check (see
    :func:`_reference`); None for one whose subject this process's registry
    does not hold as the parent's (the parent runs it itself)."""
    from nnmath import registry
    from nnmath.checker.checks import _safe, planned
    from nnmath.fingerprint import fingerprint

    found: dict[tuple, list | None] = {}
    out: list[dict | None] = []
    for label, ref, fp in items:
        if (ref, fp) not in found:
            try:
                if ref[0] == "claim":
                    subject = registry.claim(ref[1])
                    jobs = planned([], [subject], oracle=oracle)
                elif ref[0] == "network":
                    subject = _network(ref[1])
                    jobs = planned([subject], [], oracle=oracle)
                else:
                    subject = registry.formula(ref[1], **dict(ref[2]))
                    jobs = planned([subject], [], oracle=oracle)
                found[ref, fp] = jobs if fingerprint(subject) == fp else None
            except Exception:  # not registered in a fresh process
                found[ref, fp] = None
        thunk = next((t for lb, _, t in found[ref, fp] or () if lb == label), None)
        out.append(None if thunk is None else _safe(label, thunk, timeout).as_dict())
    return out


def verify_reusing(
    formulas: Iterable,
    claims: Iterable,
    cache: Path | None,
    *,
    oracle: bool = True,
    fresh: bool = False,
    jobs: int = 1,
    executor=None,
    timeout: float | None = None,
    on_check: Callable | None = None,
    on_start: Callable | None = None,
    meanwhile: Callable | None = None,
) -> Run:
    """Every check of ``formulas`` and ``claims`` (see
    :func:`nnmath.checker.checks.planned`): reused from ``cache`` where its key
    (:func:`check_key`) is filed and intact, unless ``fresh``; the others run,
    in ``jobs`` processes if above 1 (or on ``executor``, a
    :class:`publishing.cluster.DaskExecutor`), and are filed.  ``on_check`` sees every
    check (reused ones first); ``on_start`` each one that starts in this
    process; ``meanwhile`` is called once, while workers run if any do.  A
    reused check is returned exactly as it was filed."""
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

    meanwhile = meanwhile or (lambda: None)
    if (jobs > 1 or executor is not None) and len(todo) > 1:
        todo = _run_parallel(
            plan, todo, oracle, jobs, timeout, cache, done, executor, meanwhile
        )
    else:
        meanwhile()
    for i in todo:  # the checks that run here
        label, _, thunk = plan[i]
        if on_start:
            on_start(label)
        done(i, _safe(label, thunk, timeout))
    _remember_seconds(cache, ran)
    return Run(results, reused, keys)


def _run_parallel(
    plan, todo, oracle, jobs, timeout, cache, done, executor, meanwhile
) -> list[int]:
    """Run the plan's ``todo`` checks in ``jobs`` fresh processes (or on
    ``executor``, batched for its ``slots``, and left open), calling
    ``done(index, check)`` as each batch comes back; return the indices left
    for this process (subjects a worker's registry does not hold).  A batch
    whose worker died fails its checks by name (not filed); Ctrl-C stops every
    worker."""
    import concurrent.futures as cf

    from nnmath.checker.checks import Check, describe
    from nnmath.fingerprint import fingerprint

    from .processes import FreshProcesses, signals_held

    refs: dict[int, tuple] = {}
    here: list[int] = []
    for i in todo:
        subject = plan[i][1]
        ref = refs.get(id(subject), ())
        if ref == ():
            ref = refs[id(subject)] = _reference(subject)
        if ref is None:
            here.append(i)
    sent = [i for i in todo if refs[id(plan[i][1])] is not None]
    if not sent:
        meanwhile()
        return here
    fps: dict[int, str] = {}
    last = {**_guesses(plan, sent), **_last_seconds(cache)}
    labelled = [
        (i, label, needs_tensorflow(label, subject), _family(label, subject))
        for i in sent
        for label, subject, _ in [plan[i]]
    ]

    def item(i: int) -> tuple:
        label, subject, _ = plan[i]
        fp = fps.get(id(subject)) or fps.setdefault(id(subject), fingerprint(subject))
        return (label, refs[id(subject)], fp)

    own = executor is None
    if own:  # forked where it is safe: this process has built the library
        from nnmath.lowering import prepare

        prepare()  # and what every worker's lowering imports
        pool = FreshProcesses(jobs, stdout_to_stderr=True, fork=True)
    else:
        pool, jobs = executor, getattr(executor, "slots", jobs)
    cheap = own and pool.forked
    try:
        futures = {
            pool.submit(run_batch, [item(i) for i in batch], oracle, timeout): batch
            for batch in _batches(labelled, jobs, last, cheap=cheap)
        }
        meanwhile()  # the workers run
        for future in cf.as_completed(futures):
            batch = futures[future]
            try:
                rows = [None if d is None else Check(**d) for d in future.result()]
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
                if check is None:
                    here.append(i)
                else:
                    done(i, check)
    except BaseException:  # as a render's: Ctrl-C stops every worker at once
        with signals_held():
            pool.terminate()
        raise
    if own:
        pool.shutdown(wait=True)
    return sorted(here)


# -- a whole run again, nothing changed ------------------------------------------
#: the packages whose code decides what ``nnbook verify`` checks and how
_PACKAGES = ("nnmath", "chapters", "publishing", "cli")


def sources_digest() -> str:
    """One SHA-256 of every source file of :data:`_PACKAGES`, found without
    importing them (finding them is all a warm run may cost)."""
    import importlib.util

    from .cache import file_sha, text_sha

    parts = []
    for name in _PACKAGES:
        spec = importlib.util.find_spec(name)
        for root in spec.submodule_search_locations or () if spec else ():
            for p in sorted(Path(root).rglob("*.py")):
                parts.append(f"{name}/{p.relative_to(root)}:{file_sha(p)}")
    return text_sha("\n".join(parts))


def _request(names: tuple[str, ...]) -> str:
    import platform

    from .cache import text_sha

    return text_sha(
        json.dumps(
            {
                "layout": LAYOUT,
                "chapters": list(names),
                "python": platform.python_version(),
                "versions": _versions(),
            }
        )
    )


def _run_path(cache: Path, names: tuple[str, ...]) -> Path:
    return Path(cache) / "verify" / "runs" / f"{_request(names)}.json"


def replay(cache: Path, names: tuple[str, ...]):
    """``(run, chapter ids)`` of the last ``nnbook verify NAMES`` filed in
    ``cache`` if no source file of the project changed since (nor Python or
    the libraries) and every one of its checks is still filed intact; None
    otherwise (then the checks are looked up one by one).  Books' chapters
    only: a lecturer's file can import anything."""
    from .cache import SceneCache

    if any(n.endswith(".py") or "/" in n for n in names):
        return None
    data = SceneCache(cache).read_json(_run_path(cache, names))
    if not (
        isinstance(data, dict)
        and data.get("layout") == LAYOUT
        and isinstance(data.get("keys"), list)
        and isinstance(data.get("chapters"), list)
        and all(isinstance(c, str) for c in data["chapters"])
        and data.get("sources") == sources_digest()
    ):
        return None
    checks = []
    for key in data["keys"]:
        check = read_check(cache, key) if isinstance(key, str) else None
        if check is None:
            return None
        checks.append(check)
    return Run(checks, len(checks), list(data["keys"])), list(data["chapters"])


def remember_run(
    cache: Path, names: tuple[str, ...], run: Run, chapters: list[str], sources: str
) -> None:
    """File ``run`` (a full verification of ``names``) for :func:`replay`, if
    every check of it is filed and ``sources`` (their digest before it ran)
    still holds: code edited while it ran must not be taken for what it ran."""
    from .cache import atomic_write

    if not all(_fileable(c) for c in run.checks) or sources != sources_digest():
        return
    doc = {"layout": LAYOUT, "sources": sources, "chapters": chapters, "keys": run.keys}
    try:
        atomic_write(_run_path(cache, names), json.dumps(doc, indent=0))
    except OSError:
        pass
