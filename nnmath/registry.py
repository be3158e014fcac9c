"""Name → formula and name → claim lookups, shared by the CLI, chapters and tests."""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .formula import Formula
from .params import ParamError, Spec, check, parse

__all__ = [
    "ParamError",
    "RegistryConflict",
    "UnknownNameError",
    "claim",
    "claim_names",
    "claims",
    "formula",
    "names",
    "origin",
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


class RegistryConflict(ValueError):
    """A name registered a second time without ``override=True``; the message
    names both places."""


_BUILDERS: dict[str, Callable[..., Formula]] = {}
#: formula name → where its builder was registered ("nnmath/library/x.py:12")
_ORIGIN: dict[str, str] = {}
#: formula name → parameter name → its spec (type and valid range)
_SPECS: dict[str, dict[str, Spec]] = {}
_CACHE: dict[tuple, Formula] = {}
#: claim builders in registration order, each with its override flag
_CLAIM_BUILDERS: list[tuple[Callable[[], list], bool]] = []
_CLAIMS: dict[str, object] = {}
#: claim name → where the builder that stated it was registered
_CLAIM_ORIGIN: dict[str, str] = {}
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


def _where(fn: Callable) -> str:
    """``file:line`` of a builder's definition, relative to the project if inside."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return repr(fn)
    path = Path(code.co_filename)
    root = Path(__file__).resolve().parent.parent
    try:
        path = path.resolve().relative_to(root)
    except ValueError:
        pass
    return f"{path}:{code.co_firstlineno}"


def _conflict(
    kind: str, name: str, first: str, second: str, how: str
) -> RegistryConflict:
    return RegistryConflict(
        f"{kind} {name!r} is registered twice: by {first} and again by {second}; "
        f"to replace the first, write {how} at {second}"
    )


def _invalidate() -> None:
    """An override replaced a formula: everything built from the old one goes
    (formulas built from others, e.g. the network losses, and every claim)."""
    _CACHE.clear()
    _CLAIMS.clear()
    _CLAIM_ORIGIN.clear()
    _BUILT.clear()


def register(
    name: str, *, params: dict[str, Spec] | None = None, override: bool = False
):
    """Decorator: register ``builder(**params) -> Formula`` under ``name``.

    ``params`` declares each parameter of the builder with its spec (see
    :mod:`nnmath.params`): the one place its type and valid range are stated.
    The registry checks every value against it before the builder runs.

    A name that is already registered is a :class:`RegistryConflict` naming
    both places, unless ``override=True``: then this builder replaces the other,
    whatever was imported first.  The book's library is loaded before any other
    registration, so a chapter file's override always comes after it.
    """
    _load()
    specs = dict(params or {})

    def deco(builder: Callable[..., Formula]):
        accepted = list(inspect.signature(builder).parameters)
        undeclared = [p for p in accepted if p not in specs]
        unknown = [p for p in specs if p not in accepted]
        if undeclared or unknown:
            raise TypeError(
                f"formula {name!r}: every parameter of its builder needs a spec in "
                f"register({name!r}, params={{...}}); "
                + (
                    f"undeclared: {', '.join(undeclared)}"
                    if undeclared
                    else f"not parameters of the builder: {', '.join(unknown)}"
                )
            )
        where = _where(builder)
        # the same definition again (a module executed twice) is no conflict
        if name in _BUILDERS and _ORIGIN[name] != where:
            if not override:
                raise _conflict(
                    "formula",
                    name,
                    _ORIGIN[name],
                    where,
                    f"@register({name!r}, override=True)",
                )
            _invalidate()
        _BUILDERS[name] = builder
        _ORIGIN[name] = where
        _SPECS[name] = specs
        return builder

    return deco


_LOADING: list[bool] = []


def _load() -> None:
    if _LOADING:  # the library itself is registering
        return
    _LOADING.append(True)
    try:
        from . import library  # noqa: F401  (registers on import)
    finally:
        _LOADING.clear()


def names() -> list[str]:
    """All registered formula names, in book order."""
    _load()
    return list(_BUILDERS)


def _hashable(value):
    return tuple(map(_hashable, value)) if isinstance(value, (list, tuple)) else value


def _builder(name: str) -> Callable[..., Formula]:
    _load()
    if name not in _BUILDERS:
        raise UnknownNameError(
            f"unknown formula {name!r}; valid: {', '.join(_BUILDERS)}"
        )
    return _BUILDERS[name]


def origin(name: str) -> str:
    """Where the formula ``name`` was registered: ``nnmath/library/conv.py:412``
    (relative to the project when inside it)."""
    _builder(name)
    return _ORIGIN[name]


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
            f"valid: {', '.join(specs) or 'none'}"
        )
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
    # a list parameter (TensorFlow's padding=[[0, 0], [1, 2], …]) keys as a tuple
    key = (name, tuple(sorted((k, _hashable(v)) for k, v in params.items())))
    if key not in _CACHE:
        _CACHE[key] = builder(**params)
    _note("formula", *key)
    return _CACHE[key]


def register_claims(
    builder: Callable[[], list] | None = None, *, override: bool = False
):
    """Decorator: ``builder()`` returns a list of claims to register.

    Used bare (``@register_claims``) or as ``@register_claims(override=True)``;
    a claim whose name is already registered is a :class:`RegistryConflict`
    naming both builders (raised when claims are first built), unless the
    later builder asks to override.
    """
    _load()

    def deco(b: Callable[[], list]):
        _CLAIM_BUILDERS.append((b, override))
        return b

    return deco if builder is None else deco(builder)


def _build(build: Callable[[], list], override: bool) -> None:
    """Run one claim builder and add its claims, all or none.

    It counts as built while it runs: a builder may look up claims of builders
    registered before it (the network derivations use the activations'), and
    must not start itself again.
    """
    where = _where(build)
    new: dict[str, object] = {}
    _BUILT.add(build)
    try:
        for c in build():
            if c.name in new:
                raise _conflict("claim", c.name, where, where, "each claim once")
            if c.name in _CLAIMS and _CLAIM_ORIGIN[c.name] != where and not override:
                raise _conflict(
                    "claim",
                    c.name,
                    _CLAIM_ORIGIN[c.name],
                    where,
                    "@register_claims(override=True)",
                )
            new[c.name] = c
    except BaseException:
        _BUILT.discard(build)
        raise
    _CLAIMS.update(new)
    _CLAIM_ORIGIN.update(dict.fromkeys(new, where))


def _claims() -> dict:
    _load()
    # builders registered late (a lecturer's chapter file) are run when first needed
    pending = [(b, o) for b, o in _CLAIM_BUILDERS if b not in _BUILT]
    if pending:
        outer = _USED[:]  # building claims looks formulas up; that is not a use
        _USED.clear()
        try:
            for build, override in pending:
                _build(build, override)
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
    found = [
        c
        for c in _claims().values()
        if formula_name is None or c.formula.name == formula_name
    ]
    for c in found:
        _note("claim", c.name)
    return found
