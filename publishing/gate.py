"""What ``nnbook verify CHAPTER…`` checks, and the gate every render goes through.

The gate verifies what a chapter declares (its ``formulas`` and ``claims``) and,
beyond that, everything its scenes really looked up while they rendered: the
same recording (:func:`nnmath.registry.recording`) the render cache keys on.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Iterable

from chapters.base import Chapter

__all__ = [
    "subjects",
    "book_and_library",
    "cached_verification",
    "verification_key",
    "verify_cached",
    "GateError",
    "gate",
    "chapter_checks",
    "looked_up",
    "engine_files",
    "verify_chapters",
]


def subjects(chapters: Iterable[Chapter], *, whole_library: bool = False):
    """The formulas and claims of ``chapters``, each once, in book order.

    With ``whole_library`` every registered formula and claim is added too, so a
    plain ``nnbook verify`` also covers what no chapter shows yet.
    """
    from nnmath import registry

    formulas, claims = {}, {}
    for ch in chapters:
        for name in ch.formulas:
            formulas.setdefault(name, registry.formula(name))
        for name in ch.claims:
            c = registry.claim(name)
            claims.setdefault(name, c)
            formulas.setdefault(c.formula.name, c.formula)
    if whole_library:
        for name in registry.names():
            formulas.setdefault(name, registry.formula(name))
        for c in registry.claims():
            claims.setdefault(c.name, c)
        # the unrolled recurrent networks, composed from their cells' formulas
        # (nnmath.recurrence), are not in the formula registry; their BPTT
        # claims are in the claim registry
        from nnmath.library.recurrent import networks

        for net in networks():
            formulas.setdefault(net.name, net)
    return list(formulas.values()), list(claims.values())


def _book_outline() -> list[Chapter]:
    """In a worker: the book's chapters, each without its worked example (a
    function of the chapter's module, which the parent would import to unpickle)."""
    import dataclasses

    import chapters

    return [dataclasses.replace(ch, example=dict) for ch in chapters.all_chapters()]


def book_and_library() -> list[Chapter]:
    """The book's chapters, with the whole formula library built in this
    process: for ``verify -j`` of the whole book, whose workers are forks of
    this process and need the library it builds.

    The chapters load (Manim's import and each chapter's module: 0.7 s) in a
    fork of this process while it builds the library (1.3 s), where they would
    otherwise load one after the other on one core while the other waits.
    They come back without their worked examples: what a verify reads of a
    chapter is its names, formulas and claims.  A book chapter registers no
    formula (a test holds them to that), so the library built here is theirs.
    Where a fork is not safe, or the fork fails, the chapters load here, and
    any error they raise is raised here as it would be.
    """
    import chapters

    from .processes import FreshProcesses, can_fork

    if not can_fork():
        return chapters.all_chapters()
    pool = FreshProcesses(1, stdout_to_stderr=True, fork=True)
    try:
        outline = pool.submit(_book_outline)
        # forked before this process imports anything more: a fork taken
        # while this thread runs a module's import would hold that module's
        # lock for good in the child, which imports it too
        while not pool.pids and not outline.done():
            time.sleep(0.001)
        subjects([], whole_library=True)
        try:
            return outline.result()
        except Exception:  # noqa: BLE001 - loaded here, where its error is raised as ever
            return chapters.all_chapters()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.shutdown(wait=True)


# -- cached verification ---------------------------------------------------------
def engine_files() -> list[Path]:
    """The checker's own code: every source file of nnmath except the formula
    library (the subjects' fingerprints cover it) and the example and training
    runs (the checker imports none of them; a test holds it to that).  Found
    through the imported packages, so a module that moves is still covered."""
    import nnmath
    import nnmath.runs

    from .cache import fingerprinted_root, package_dir

    left_out = (fingerprinted_root(), package_dir(nnmath.runs))
    return sorted(
        p
        for p in package_dir(nnmath).rglob("*.py")
        if not any(p.is_relative_to(x) for x in left_out)
    )


def _engine_digest() -> str:
    """One hash of :func:`engine_files` (a checker change re-verifies)."""
    import nnmath

    from .cache import file_sha, package_dir, text_sha

    root = package_dir(nnmath)
    return text_sha(
        "".join(f"{p.relative_to(root)}:{file_sha(p)}" for p in engine_files())
    )


def verification_key(formulas, claims, *, oracle: bool = True) -> str:
    """Content hash of a verification run: what is checked and what checks it."""
    from importlib import metadata

    from nnmath.fingerprint import fingerprint

    from .cache import text_sha

    versions = []
    for dist in ("numpy", "sympy", "mpmath", "tensorflow", "tensorflow-cpu", "keras"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    parts = [
        f"oracle={oracle}",
        _engine_digest(),
        *versions,
        *sorted(fingerprint(x) for x in [*formulas, *claims]),
    ]
    return text_sha("\n".join(parts))


#: bump when the layout of a stored verification changes
LAYOUT = 2


def _subjects(formulas, claims) -> list[str]:
    """How the checks of these formulas and claims name their subjects: a
    formula with other than its default parameters is ``conv2d(stride=(2,2))``,
    and a claim about one brings that formula's checks too."""
    from nnmath.checker.checks import _subject

    return sorted(
        {_subject(f) for f in [*formulas, *(c.formula for c in claims)]}
        | {c.name for c in claims}
    )


def _store(path: Path, checks, formulas, claims) -> None:
    import json

    from .cache import atomic_write

    doc = {
        "layout": LAYOUT,
        "key": path.stem,
        "subjects": _subjects(formulas, claims),
        "checks": [c.as_dict() for c in checks],
    }
    try:
        atomic_write(path, json.dumps(doc, indent=1))
    except OSError:
        pass  # a cache that cannot be written only costs time later


def _number(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def as_check(d, kinds: tuple[str, ...] = ("formula", "claim", "error")):
    """The :class:`Check` a stored dict describes, or None if it is not one (a
    field missing, extra or of the wrong type, a kind not in ``kinds``)."""
    from dataclasses import fields

    from nnmath.checker.checks import Check

    if not (
        isinstance(d, dict)
        and set(d) == {f.name for f in fields(Check)}
        and all(
            isinstance(d[k], str)
            for k in ("subject", "kind", "method", "dtype", "detail")
        )
        and all(isinstance(d[k], bool) for k in ("passed", "checked", "skipped"))
        and isinstance(d["cases"], list)
        and all(
            _number(d[k]) for k in ("max_abs", "max_rel", "rtol", "atol", "seconds")
        )
        and d["kind"] in kinds
    ):
        return None
    return Check(**d)


def _loaded(data, key: str, subjects: list[str], checked: set[str]):
    """The checks stored in ``data`` if it is a complete verification of exactly
    ``subjects`` under ``key``, with a check of everything in ``checked``; None
    for anything else (``[]``, another key, a subject without a check, a field
    of the wrong type): then it is run again.

    ``checked`` is what the plan checks, not every subject: a claim about a
    formula that is checked elsewhere (a chapter's own ``tanh``, beside the
    ``tanh'`` its scenes looked up) names the formula without checking it."""
    if not (
        isinstance(data, dict)
        and data.get("layout") == LAYOUT
        and data.get("key") == key
        and data.get("subjects") == subjects
        and isinstance(data.get("checks"), list)
    ):
        return None
    checks = [as_check(d) for d in data["checks"]]
    if None in checks:
        return None
    if not checked <= {c.subject for c in checks}:
        return None  # every formula and claim planned has at least one check
    return checks


def _planned_subjects(formulas, claims, oracle: bool) -> set[str]:
    """The subjects the checks of ``formulas`` and ``claims`` name."""
    from nnmath.checker.checks import describe, plan

    return {describe(label)[0] for label, _ in plan(formulas, claims, oracle=oracle)}


def _timed_out(checks) -> bool:
    return any(c.detail.startswith("timed out after") for c in checks)


def verify_cached(
    formulas: list,
    claims: list,
    cache: Path | None,
    *,
    oracle: bool = True,
    force: bool = False,
    on_check: Callable | None = None,
    on_start: Callable | None = None,
    timeout: float | None = None,
):
    """``(checks, cached)``: the checks of exactly these formulas and claims,
    reused from ``cache`` (None: no cache) when the very same formulas and claims
    were verified by the very same code.

    Each check runs within ``timeout`` seconds (default
    :data:`nnmath.checker.deadline.DEFAULT_SECONDS`); a run in which one ran out of time
    is not filed: the time a check takes says nothing about the maths."""
    from nnmath.checker.checks import verify
    from nnmath.checker.deadline import DEFAULT_SECONDS

    from .cache import SceneCache

    path = key = None
    if cache is not None:
        key = verification_key(formulas, claims, oracle=oracle)
        path = Path(cache) / "verify" / f"{key}.json"
    if path is not None and path.is_file() and not force:
        checks = _loaded(
            SceneCache(cache).read_json(path),
            key,
            _subjects(formulas, claims),
            _planned_subjects(formulas, claims, oracle),
        )
        if checks is not None:
            for c in checks:
                if on_check:
                    on_check(c)
            return checks, True
    checks = verify(
        formulas,
        claims,
        oracle=oracle,
        on_check=on_check,
        on_start=on_start,
        timeout=DEFAULT_SECONDS if timeout is None else timeout,
    )
    if path is not None and not _timed_out(checks):
        _store(path, checks, formulas, claims)
    return checks, False


def cached_verification(
    chapters: Iterable[Chapter],
    cache: Path,
    *,
    whole_library: bool = False,
    oracle: bool = True,
    force: bool = False,
    on_check: Callable | None = None,
    on_start: Callable | None = None,
    timeout: float | None = None,
):
    """``(checks, cached)``: the checks of ``chapters``, reused from ``cache`` when
    the very same formulas and claims were verified by the very same code.

    A fresh run is also filed under each chapter's own key, so ``nnbook verify``
    followed by ``nnbook render chapter3`` verifies nothing twice.  A run in
    which a check ran out of time (``timeout`` seconds each, default
    :data:`nnmath.checker.deadline.DEFAULT_SECONDS`) is not filed: the time a check
    takes says nothing about the maths.
    """
    chapters = list(chapters)
    formulas, claims = subjects(chapters, whole_library=whole_library)
    checks, cached = verify_cached(
        formulas,
        claims,
        cache,
        oracle=oracle,
        force=force,
        on_check=on_check,
        on_start=on_start,
        timeout=timeout,
    )
    if not cached and not _timed_out(checks) and (len(chapters) > 1 or whole_library):
        folder = cache / "verify"
        for ch in chapters:
            f, c = subjects([ch])
            names = set(_subjects(f, c))
            _store(
                folder / f"{verification_key(f, c, oracle=oracle)}.json",
                [k for k in checks if k.subject in names],
                f,
                c,
            )
    return checks, cached


def verify_chapters(
    chapters: Iterable[Chapter],
    media: Path,
    *,
    whole_library: bool = False,
    oracle: bool = True,
    fresh: bool = False,
    jobs: int = 1,
    executor=None,
    on_check: Callable | None = None,
    on_start: Callable | None = None,
    timeout: float | None = None,
):
    """``nnbook verify``: every check of ``chapters`` (and of the whole library
    with ``whole_library``), as a :class:`publishing.reuse.Run`.  Each check is
    reused from the cache of ``media`` (see :func:`publishing.cache.cache_root`:
    ``media/.cache`` or ``$NNBOOK_CACHE``) while its subject, the checker and
    the libraries are unchanged, unless ``fresh``; the rest run (in ``jobs``
    processes, or on ``executor``: see :mod:`publishing.cluster`).  The whole
    run and each chapter are filed too, so that render and build there verify
    nothing again.  With ``oracle=False`` the TensorFlow
    checks are not run: they come back as rows marked skipped (each also passed
    to ``on_check``), so a report says what was left out."""
    from nnmath.checker.checks import skipped

    from .cache import cache_root
    from .reuse import verify_reusing

    chapters = list(chapters)
    cache = cache_root(media)
    formulas, claims = subjects(chapters, whole_library=whole_library)
    # the whole run and each chapter are filed as cached_verification files a
    # fresh run, for render and build: what to file where is worked out while
    # the workers run
    filing: list[tuple] = []

    def plan_filing() -> None:
        for f, c in [(formulas, claims)] + [subjects([ch]) for ch in chapters]:
            path = cache / "verify" / f"{verification_key(f, c, oracle=oracle)}.json"
            filing.append((path, set(_subjects(f, c)), f, c))

    run = verify_reusing(
        formulas,
        claims,
        cache,
        oracle=oracle,
        fresh=fresh,
        jobs=jobs,
        executor=executor,
        timeout=timeout,
        on_check=on_check,
        on_start=on_start,
        meanwhile=plan_filing,
    )
    if not _timed_out(run.checks) and all(c.kind != "error" for c in run.checks):
        for path, names, f, c in filing:
            _store(path, [k for k in run.checks if k.subject in names], f, c)
    if not oracle:
        left_out = skipped(formulas, claims)
        for c in left_out:
            if on_check:
                on_check(c)
        run.checks = run.checks + left_out
    return run


# -- the gate ----------------------------------------------------------------------
class GateError(RuntimeError):
    """A chapter whose maths failed verification; nothing of it is rendered.
    The message is one line naming the failed checks."""


#: ``on_verified(chapter, checks, cached, what)``: a verification the gate ran
Verified = Callable[[Chapter, list, bool, str], None]


def looked_up(uses: Iterable[tuple]) -> tuple[list, list]:
    """The formulas and claims a recording holds (``("formula", name, params)``
    and ``("claim", name, ())``), as objects, each once, in a stable order."""
    from nnmath import registry

    formulas, claims = {}, {}
    for kind, name, params in sorted(set(uses), key=repr):
        if kind == "formula":
            f = registry.formula(name, **dict(params))
            formulas.setdefault(id(f), f)
        else:
            c = registry.claim(name)
            claims.setdefault(c.name, c)
    return list(formulas.values()), list(claims.values())


def _beyond(chapter: Chapter, uses: Mapping[str, Iterable[tuple]]):
    """What the scenes looked up beyond the chapter's declared lists: (formulas,
    claims, scenes that used each, by subject label)."""
    from nnmath.checker.checks import _subject

    f_decl, c_decl = subjects([chapter])
    known = {id(f) for f in f_decl} | {id(c.formula) for c in c_decl}
    formulas, claims, users = {}, {}, {}
    for scene, used in uses.items():
        fs, cs = looked_up(used)
        for f in fs:
            if id(f) not in known:
                formulas.setdefault(id(f), f)
                users.setdefault(_subject(f), []).append(scene)
        for c in cs:
            if c.name not in chapter.claims:
                claims.setdefault(c.name, c)
                users.setdefault(c.name, []).append(scene)
    return list(formulas.values()), list(claims.values()), users


def _refuse(chapter: Chapter, checks: list, users: Mapping[str, list]) -> None:
    failed = [c for c in checks if not c.passed]
    if not failed:
        return
    by_subject: dict[str, list] = {}
    for c in failed:  # in the order verify ran them: symbolic first
        by_subject.setdefault(c.subject, []).append(c.label)
    parts = []
    for subject, labels in by_subject.items():
        scenes = users.get(subject)
        parts.append(
            ", ".join(labels)
            + (f" (looked up by {', '.join(sorted(set(scenes)))})" if scenes else "")
        )
    raise GateError(
        f"not rendering {chapter.id}: verification failed for "
        f"{', '.join(parts)}; fix the claim, or render anyway with "
        "--no-verify"
    )


def gate(
    chapter: Chapter,
    cache: Path | None,
    *,
    uses: Mapping[str, Iterable[tuple]] | None = None,
    force: bool = False,
    on_verified: Verified | None = None,
) -> list:
    """Verify ``chapter`` before anything of it is rendered or published; raise
    :class:`GateError` if a check fails.

    Without ``uses``: its declared formulas and claims.  With ``uses`` (scene →
    what it looked up while it rendered): everything beyond the declared lists.
    Every render goes through this twice, before and after the scenes run (see
    :func:`publishing.render.render_jobs`).  Both verifications are cached by
    content, so re-renders verify nothing again.
    """
    if uses is None:
        formulas, claims = subjects([chapter])
        users: dict = {}
        what = "declared"
    else:
        formulas, claims, users = _beyond(chapter, uses)
        if not formulas and not claims:
            return []
        what = "looked up by its scenes"
    checks, cached = verify_cached(formulas, claims, cache, force=force)
    _refuse(chapter, checks, users)
    if on_verified:
        on_verified(chapter, checks, cached, what)
    return checks


def chapter_checks(
    chapter: Chapter,
    cache: Path | None,
    uses: Mapping[str, Iterable[tuple]] | None = None,
    force: bool = False,
) -> list:
    """Every check of ``chapter`` (declared and looked up by its scenes), passed
    or not: what its page's badges show."""
    checks, _ = verify_cached(*subjects([chapter]), cache, force=force)
    formulas, claims, _ = _beyond(chapter, uses or {})
    if formulas or claims:
        checks = checks + verify_cached(formulas, claims, cache, force=force)[0]
    return checks
