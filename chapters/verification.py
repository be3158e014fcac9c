"""What ``nnbook verify CHAPTER…`` checks: the formulas and claims the chapters use."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from .base import Chapter

__all__ = ["subjects", "cached_verification", "verification_key"]


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
    return list(formulas.values()), list(claims.values())


# -- cached verification ---------------------------------------------------------
def _engine_digest() -> str:
    """The checker's own code: every nnmath source file except the formula library,
    which the subjects' fingerprints already cover."""
    from .cache import ROOT, file_sha, text_sha

    engine = ROOT / "nnmath"
    files = sorted(p for p in engine.rglob("*.py") if "library" not in p.relative_to(engine).parts)
    return text_sha("".join(f"{p.name}:{file_sha(p)}" for p in files))


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
    parts = [f"oracle={oracle}", _engine_digest(), *versions,
             *sorted(fingerprint(x) for x in [*formulas, *claims])]
    return text_sha("\n".join(parts))


def _store(path: Path, checks) -> None:
    import json

    from .cache import atomic_write

    try:
        atomic_write(path, json.dumps([c.as_dict() for c in checks], indent=1))
    except OSError:
        pass  # a cache that cannot be written only costs time later


def cached_verification(chapters: Iterable[Chapter], cache: Path, *,
                        whole_library: bool = False, oracle: bool = True,
                        force: bool = False, on_check: Callable | None = None,
                        on_start: Callable | None = None, timeout: float | None = None):
    """``(checks, cached)``: the checks of ``chapters``, reused from ``cache`` when
    the very same formulas and claims were verified by the very same code.

    A fresh run is also filed under each chapter's own key, so ``nnbook verify``
    followed by ``nnbook render chapter3`` verifies nothing twice.  A run in
    which a check ran out of time (``timeout`` seconds each, default
    :data:`nnmath.deadline.DEFAULT_SECONDS`) is not filed: the time a check
    takes says nothing about the maths.
    """
    import json

    from nnmath.checks import Check, verify
    from nnmath.deadline import DEFAULT_SECONDS

    chapters = list(chapters)
    folder = cache / "verify"
    formulas, claims = subjects(chapters, whole_library=whole_library)
    path = folder / f"{verification_key(formulas, claims, oracle=oracle)}.json"
    if path.is_file() and not force:
        try:
            checks = [Check(**d) for d in json.loads(path.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            checks = None
        if checks is not None:
            for c in checks:
                if on_check:
                    on_check(c)
            return checks, True
    checks = verify(formulas, claims, oracle=oracle, on_check=on_check, on_start=on_start,
                    timeout=DEFAULT_SECONDS if timeout is None else timeout)
    if any(c.detail.startswith("timed out after") for c in checks):
        return checks, False
    _store(path, checks)
    if len(chapters) > 1 or whole_library:
        for ch in chapters:
            f, c = subjects([ch])
            names = {x.name for x in [*f, *c]}
            _store(folder / f"{verification_key(f, c, oracle=oracle)}.json",
                   [k for k in checks if k.subject in names])
    return checks, False
