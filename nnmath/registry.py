"""Name → formula and name → claim lookups, shared by the CLI, chapters and tests."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import Callable, Iterator

from .formula import Formula
from .params import ParamError, Spec, check, parse

__all__ = [
    "ParamError",
    "UnknownNameError",
    "claim",
    "claim_names",
    "claims",
    "formula",
    "names",
    "parameters",
    "parse_params",
    "recording",
    "register",
    "register_claims",
]


class UnknownNameError(KeyError):
    """An unknown formula or claim name; the message lists the valid ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


_BUILDERS: dict[str, Callable[..., Formula]] = {}
#: formula name → parameter name → its spec (type and valid range)
_SPECS: dict[str, dict[str, Spec]] = {}
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


def register(name: str, *, params: dict[str, Spec] | None = None):
    """Decorator: register ``builder(**params) -> Formula`` under ``name``.

    ``params`` declares each parameter of the builder with its spec (see
    :mod:`nnmath.params`): the one place its type and valid range are stated.
    The registry checks every value against it before the builder runs.
    """
    specs = dict(params or {})

    def deco(builder: Callable[..., Formula]):
        accepted = list(inspect.signature(builder).parameters)
        undeclared = [p for p in accepted if p not in specs]
        unknown = [p for p in specs if p not in accepted]
        if undeclared or unknown:
            raise TypeError(
                f"formula {name!r}: every parameter of its builder needs a spec in "
                f"register({name!r}, params={{...}}); "
                + (f"undeclared: {', '.join(undeclared)}" if undeclared else
                   f"not parameters of the builder: {', '.join(unknown)}"))
        _BUILDERS[name] = builder
        _SPECS[name] = specs
        return builder

    return deco


def _load() -> None:
    from . import library  # noqa: F401  (registers on import)


def names() -> list[str]:
    """All registered formula names, in book order."""
    _load()
    return list(_BUILDERS)


def _builder(name: str) -> Callable[..., Formula]:
    _load()
    if name not in _BUILDERS:
        raise UnknownNameError(f"unknown formula {name!r}; valid: {', '.join(_BUILDERS)}")
    return _BUILDERS[name]


def parameters(name: str) -> dict[str, tuple[Spec, object]]:
    """Parameter name → (its spec, its default) for the formula ``name``."""
    defaults = inspect.signature(_builder(name)).parameters
    return {p: (spec, defaults[p].default) for p, spec in _SPECS[name].items()}


def _known(name: str, given) -> dict[str, Spec]:
    specs = _SPECS.get(name, {})
    bad = [p for p in given if p not in specs]
    if bad:
        raise ParamError(
            f"formula {name!r} has no parameter {', '.join(map(repr, bad))}; "
            f"valid: {', '.join(specs) or 'none'}")
    return specs


def parse_params(name: str, texts: dict[str, str]) -> dict:
    """Command-line ``key=text`` values as the checked values of ``name``'s specs."""
    _builder(name)
    specs = _known(name, texts)
    return {p: parse(name, p, specs[p], text) for p, text in texts.items()}


def formula(name: str, **params) -> Formula:
    """The formula registered under ``name``, built with ``params``.

    Each value is checked against the parameter's spec first: a
    :class:`~nnmath.params.ParamError` (a ValueError) names the parameter, the
    value and what is valid.
    """
    builder = _builder(name)
    specs = _known(name, params)
    params = {p: check(name, p, specs[p], v) for p, v in params.items()}
    key = (name, tuple(sorted(params.items())))
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
