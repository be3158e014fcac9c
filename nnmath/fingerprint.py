"""Content fingerprints of formulas and claims: equal exactly when their maths is.

The render and verification caches key on these, so editing a formula changes
its fingerprint (and the fingerprints of the claims about it) and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib

import sympy as sp

__all__ = ["fingerprint"]


def _canonical(value) -> str:
    if isinstance(value, sp.Basic):
        return sp.srepr(value)  # structural: the same text for the same tree
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


def fingerprint(obj) -> str:
    """SHA-256 over every field of a Formula or Claim (nested ones included)."""
    parts = [type(obj).__name__]
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("fingerprint") == "if-set" and value == f.default:
            continue
        parts.append(f"{f.name}={_canonical(getattr(obj, f.name))}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
