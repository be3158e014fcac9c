"""What ``nnbook verify CHAPTER…`` checks: the formulas and claims the chapters use."""

from __future__ import annotations

from typing import Callable, Iterable

from .base import Chapter

__all__ = ["subjects", "verify_chapters", "failures"]


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


def verify_chapters(chapters: Iterable[Chapter], *, whole_library: bool = False,
                    oracle: bool = True, on_check: Callable | None = None):
    """Run every check of ``chapters``; see :func:`nnmath.checks.verify`."""
    from nnmath.checks import verify

    formulas, claims = subjects(chapters, whole_library=whole_library)
    return verify(formulas, claims, oracle=oracle, on_check=on_check)


def failures(chapters: Iterable[Chapter], *, oracle: bool = True):
    """The failed checks of ``chapters``: what stops them from being rendered."""
    return [c for c in verify_chapters(chapters, oracle=oracle) if not c.passed]
