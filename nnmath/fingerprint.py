"""Content fingerprints of formulas and claims: equal exactly when their maths is.

The render and verification caches key on these, so editing a formula changes
its fingerprint (and the fingerprints of the claims about it) and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import weakref

import sympy as sp

__all__ = ["fingerprint"]


#: the nodes whose arguments are a set, not a sequence: written in sorted order
_UNORDERED = (sp.Add, sp.Mul, sp.Max, sp.Min, sp.And, sp.Or)


def _tree(e: sp.Basic, seen: dict) -> str:
    """The structure of a SymPy tree as text: the same text for the same tree.

    ``srepr`` would do, but it orders every sum's terms for printing, which
    took 40 s over the library's formulas and claims; this writes each shared
    subtree once (``seen``), and a sum's or product's arguments sorted by
    their own text, so the order SymPy keeps them in does not matter."""
    try:
        return seen[e]
    except KeyError:
        pass
    if not e.args:
        text = sp.srepr(e)  # an atom: a symbol with its assumptions, a number
    else:
        args = [_tree(a, seen) for a in e.args]
        if isinstance(e, _UNORDERED) and e.is_commutative is not False:
            args.sort()
        text = f"{type(e).__name__}({','.join(args)})"
    seen[e] = text
    return text


def _canonical(value) -> str:
    if isinstance(value, sp.Basic):
        return _tree(value, {})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "expr") or hasattr(value, "rhs"):  # a Formula or a Claim
            return fingerprint(value)
        return _canonical(dataclasses.astuple(value))
    if isinstance(value, dict):
        return (
            "{"
            + ",".join(f"{k!r}:{_canonical(v)}" for k, v in sorted(value.items()))
            + "}"
        )
    if isinstance(value, (list, tuple)):
        return "(" + ",".join(_canonical(v) for v in value) + ")"
    return repr(value)


#: each Formula's or Claim's fingerprint, computed once: they are frozen
_KNOWN: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fingerprint(obj) -> str:
    """SHA-256 over every field of a Formula or Claim (nested ones included)."""
    try:
        return _KNOWN[obj]
    except (KeyError, TypeError):
        pass
    digest = _fingerprint(obj)
    try:
        _KNOWN[obj] = digest
    except TypeError:  # not weakly referable: computed each time
        pass
    return digest


def _fingerprint(obj) -> str:
    parts = [type(obj).__name__]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("fingerprint") == "if-set" and value == f.default:
            continue
        parts.append(f"{f.name}={_canonical(getattr(obj, f.name))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
