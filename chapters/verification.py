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


#: bump when the layout of a stored verification changes
LAYOUT = 2


def _subjects(formulas, claims) -> list[str]:
    return sorted({x.name for x in [*formulas, *claims]})


def _store(path: Path, checks, formulas, claims) -> None:
    import json

    from .cache import atomic_write

    doc = {"layout": LAYOUT, "key": path.stem, "subjects": _subjects(formulas, claims),
           "checks": [c.as_dict() for c in checks]}
    try:
        atomic_write(path, json.dumps(doc, indent=1))
    except OSError:
        pass  # a cache that cannot be written only costs time later


def _number(x) -> bool:
    return x is None or (isinstance(x, (int, float)) and not isinstance(x, bool))


def _loaded(data, key: str, subjects: list[str]):
    """The checks stored in ``data`` if it is a complete verification of exactly
    ``subjects`` under ``key``; None for anything else (``[]``, another key, a
    subject without a check, a field of the wrong type): then it is run again."""
    from dataclasses import fields

    from nnmath.checks import Check

    if not (isinstance(data, dict) and data.get("layout") == LAYOUT
            and data.get("key") == key and data.get("subjects") == subjects
            and isinstance(data.get("checks"), list)):
        return None
    names = {f.name for f in fields(Check)}
    checks = []
    for d in data["checks"]:
        if not (isinstance(d, dict) and set(d) == names
                and all(isinstance(d[k], str)
                        for k in ("subject", "kind", "method", "dtype", "detail"))
                and isinstance(d["passed"], bool) and isinstance(d["cases"], list)
                and all(_number(d[k]) for k in ("max_abs", "max_rel", "rtol", "atol",
                                                "seconds"))
                and d["kind"] in ("formula", "claim", "error")):
            return None
        checks.append(Check(**d))
    if not set(subjects) <= {c.subject for c in checks}:
        return None  # every formula and claim has at least one check
    return checks


def cached_verification(chapters: Iterable[Chapter], cache: Path, *,
                        whole_library: bool = False, oracle: bool = True,
                        force: bool = False, on_check: Callable | None = None):
    """``(checks, cached)``: the checks of ``chapters``, reused from ``cache`` when
    the very same formulas and claims were verified by the very same code.

    A fresh run is also filed under each chapter's own key, so ``nnbook verify``
    followed by ``nnbook render chapter3`` verifies nothing twice.
    """
    from nnmath.checks import verify

    from .cache import SceneCache

    chapters = list(chapters)
    folder = cache / "verify"
    formulas, claims = subjects(chapters, whole_library=whole_library)
    key = verification_key(formulas, claims, oracle=oracle)
    path = folder / f"{key}.json"
    if path.is_file() and not force:
        checks = _loaded(SceneCache(cache).read_json(path), key,
                         _subjects(formulas, claims))
        if checks is not None:
            for c in checks:
                if on_check:
                    on_check(c)
            return checks, True
    checks = verify(formulas, claims, oracle=oracle, on_check=on_check)
    _store(path, checks, formulas, claims)
    if len(chapters) > 1 or whole_library:
        for ch in chapters:
            f, c = subjects([ch])
            names = {x.name for x in [*f, *c]}
            _store(folder / f"{verification_key(f, c, oracle=oracle)}.json",
                   [k for k in checks if k.subject in names], f, c)
    return checks, False
