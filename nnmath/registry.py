"""Name → formula and name → claim lookups, shared by the CLI, chapters and tests."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Callable, Iterator

from .formula import Formula

__all__ = ["register", "formula", "names", "UnknownNameError", "register_claims",
           "claim", "claims", "claim_names", "recording"]


class UnknownNameError(KeyError):
    """An unknown formula or claim name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_BUILDERS: dict[str, Callable[..., Formula]] = {}
_CACHE: dict[tuple, Formula] = {}
_CLAIM_BUILDERS: list[Callable[[], list]] = []
_CLAIMS: dict[str, object] = {}
_BUILT: set[Callable[[], list]] = set()
#: while :func:`recording` is active: every formula and claim looked up
_USED: list[set] = []


@contextmanager
def recording() -> Iterator[set]:
    """Collect the formulas and claims looked up inside the block.

    Yields a set that fills with ``("formula", name, params)`` and
    ``("claim", name, ())`` as they are looked up; the render cache keys a scene
    on exactly what its code asked for.
    """
    used: set = set()
    _USED.append(used)
    try:
        yield used
    finally:
        _USED.remove(used)


def _note(kind: str, name: str, params: tuple = ()) -> None:
    for used in _USED:
        used.add((kind, name, params))


def register(name: str):
    """Decorator: register ``builder(**params) -> Formula`` under ``name``."""

    def deco(builder: Callable[..., Formula]):
        _BUILDERS[name] = builder
        return builder

    return deco


def _load() -> None:
    from . import library  # noqa: F401  (registers on import)


def names() -> list[str]:
    """All registered formula names, in book order."""
    _load()
    return list(_BUILDERS)


def _hashable(value):
    return tuple(map(_hashable, value)) if isinstance(value, (list, tuple)) else value


def formula(name: str, **params) -> Formula:
    """The formula registered under ``name``, built with ``params``."""
    _load()
    if name not in _BUILDERS:
        raise UnknownNameError(f"unknown formula {name!r}; valid: {', '.join(_BUILDERS)}")
    builder = _BUILDERS[name]
    allowed = list(inspect.signature(builder).parameters)
    bad = [p for p in params if p not in allowed]
    if bad:
        raise ValueError(
            f"formula {name!r} has no parameter {', '.join(map(repr, bad))}; "
            f"valid: {', '.join(allowed) or 'none'}")
    # a list parameter (TensorFlow's padding=[[0, 0], [1, 2], …]) keys as a tuple
    key = (name, tuple(sorted((k, _hashable(v)) for k, v in params.items())))
    if key not in _CACHE:
        _CACHE[key] = builder(**params)
    _note("formula", *key)
    return _CACHE[key]


def register_claims(builder: Callable[[], list]):
    """Decorator: ``builder()`` returns a list of claims to register."""
    _CLAIM_BUILDERS.append(builder)
    return builder


def _claims() -> dict:
    _load()
    # builders registered late (a lecturer's chapter file) are run when first needed
    pending = [b for b in _CLAIM_BUILDERS if b not in _BUILT]
    if pending:
        outer = _USED[:]  # building claims looks formulas up; that is not a use
        _USED.clear()
        try:
            for build in pending:
                _BUILT.add(build)
                for c in build():
                    _CLAIMS[c.name] = c
        finally:
            _USED[:] = outer
    return _CLAIMS


def claim_names() -> list[str]:
    return list(_claims())


def claim(name: str):
    table = _claims()
    if name not in table:
        raise UnknownNameError(f"unknown claim {name!r}; valid: {', '.join(table)}")
    _note("claim", name)
    return table[name]


def claims(formula_name: str | None = None) -> list:
    """All claims, or those about one formula."""
    found = [c for c in _claims().values()
             if formula_name is None or c.formula.name == formula_name]
    for c in found:
        _note("claim", c.name)
    return found
