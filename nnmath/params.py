"""What a formula parameter may be: its type and valid range, declared once.

A formula's builder declares each of its parameters with a spec when it is
registered (``register("sgd", params={"learning_rate": POSITIVE})``).  The
registry checks every value against its spec before the builder runs, for the
Python API and the command line alike, and an error names the formula, the
parameter, the value and what is valid::

    >>> from nnmath import formula
    >>> formula("adam", beta_1=2)
    Traceback (most recent call last):
    ...
    nnmath.params.ParamError: adam: beta_1=2 is not valid; valid: a number in [0, 1)

Each spec also turns command-line text into a value (:meth:`Spec.parse`) without
evaluating it as Python: ``-p stride=(2, 1)`` is read by a pattern, never by
``eval``, and a value longer than :data:`MAX_TEXT` characters is refused.
"""

from __future__ import annotations

import math
import numbers
import re
import reprlib
from dataclasses import dataclass

__all__ = [
    "MAX_TEXT",
    "Choice",
    "Flag",
    "Int",
    "Optional",
    "Padding",
    "Pair",
    "ParamError",
    "Real",
    "Spec",
]

#: the longest parameter value the command line reads (a padding spelled out
#: in full, ``((10, 10), (10, 10))``, is 20 characters)
MAX_TEXT = 100
#: TensorFlow keeps strides, dilations and window sizes in int32 attributes
_INT_LIMIT = 2**31 - 1


class ParamError(ValueError):
    """A parameter value outside its declared type or range."""


class _Invalid(ValueError):
    """Raised by a spec's ``check``; the registry adds formula and parameter.

    With ``say=True`` the reason is worth printing after what is valid."""

    def __init__(self, reason: str, *, say: bool = False):
        super().__init__(reason)
        self.say = say


@dataclass(frozen=True)
class Spec:
    """The type and valid range of one parameter; ``valid`` says it in words."""

    def check(self, value):
        """``value`` in its one canonical form; :class:`ValueError` if invalid."""
        raise NotImplementedError

    @property
    def valid(self) -> str:
        raise NotImplementedError

    def parse(self, text: str):
        """The value command-line ``text`` stands for (checked by :meth:`check`)."""
        return text


def _int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class Real(Spec):
    """A finite real number, optionally bounded: ``Real(0, 1, high_open=True)``
    is [0, 1).  Kept as a Python float (so ``1`` and ``1.0`` are one formula)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    @property
    def valid(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"a number in {left}{_fmt(self.low)}, {_fmt(self.high)}{right}"
        if self.low is not None:
            return f"a number {'>' if self.low_open else '≥'} {_fmt(self.low)}"
        if self.high is not None:
            return f"a number {'<' if self.high_open else '≤'} {_fmt(self.high)}"
        return "a finite number"

    def check(self, value) -> float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _Invalid("not a number")
        try:
            x = float(value)
        except (OverflowError, ValueError):
            raise _Invalid("not a finite number") from None
        if not math.isfinite(x):
            raise _Invalid("not a finite number")
        if self.low is not None and (x < self.low or (self.low_open and x == self.low)):
            raise _Invalid("out of range")
        if self.high is not None and (
            x > self.high or (self.high_open and x == self.high)
        ):
            raise _Invalid("out of range")
        return x

    def parse(self, text: str):
        try:
            return float(text)
        except ValueError:
            return text  # check() says "not a number", naming the text


@dataclass(frozen=True)
class Choice(Spec):
    """One of a few names (case-insensitive on the command line)."""

    options: tuple[str, ...]

    @property
    def valid(self) -> str:
        return ", ".join(self.options)

    def check(self, value) -> str:
        if not isinstance(value, str) or value not in self.options:
            raise _Invalid("not one of the choices")
        return value

    def parse(self, text: str):
        lower = {o.lower(): o for o in self.options}
        return lower.get(text.strip().lower(), text)


@dataclass(frozen=True)
class Flag(Spec):
    """True or False."""

    @property
    def valid(self) -> str:
        return "True or False"

    def check(self, value) -> bool:
        if not isinstance(value, bool):
            raise _Invalid("not True or False")
        return value

    def parse(self, text: str):
        return {"true": True, "false": False}.get(text.strip().lower(), text)


_INT = re.compile(r"\s*(\d{1,10})\s*")
_TWO_INTS = re.compile(r"\s*[(\[]?\s*(\d{1,10})\s*,\s*(\d{1,10})\s*[)\]]?\s*")
_PADS = re.compile(
    r"\s*[(\[]\s*[(\[]\s*(\d{1,10})\s*,\s*(\d{1,10})\s*[)\]]\s*,\s*"
    r"[(\[]\s*(\d{1,10})\s*,\s*(\d{1,10})\s*[)\]]\s*[)\]]\s*"
)


@dataclass(frozen=True)
class Pair(Spec):
    """A whole number ≥ ``low``, or a (rows, columns) pair of them; kept as a pair."""

    low: int = 1

    @property
    def valid(self) -> str:
        return (
            f"{self.low}, {self.low + 1}, … or a pair (rows, columns) of them, < 2^31"
        )

    def check(self, value) -> tuple[int, int]:
        pair = (value, value) if _int(value) else value
        if not (
            isinstance(pair, (tuple, list))
            and len(pair) == 2
            and all(_int(a) and self.low <= a <= _INT_LIMIT for a in pair)
        ):
            raise _Invalid("not a whole number or a pair of them in range")
        return int(pair[0]), int(pair[1])

    def parse(self, text: str):
        one, two = _INT.fullmatch(text), _TWO_INTS.fullmatch(text)
        if one:
            return int(one.group(1))
        return (int(two.group(1)), int(two.group(2))) if two else text


@dataclass(frozen=True)
class Padding(Spec):
    """TensorFlow's 'valid' or 'same', or explicit ((top, bottom), (left, right))."""

    @property
    def valid(self) -> str:
        return "valid, same, ((top, bottom), (left, right)) in whole numbers ≥ 0"

    def check(self, value):
        if isinstance(value, str) and value.lower() in ("valid", "same"):
            return value.lower()
        try:
            pairs = [tuple(pair) for pair in value]
        except TypeError:  # not a sequence of pairs
            raise _Invalid("not a padding") from None
        if len(pairs) == 4 and all(len(pair) == 2 for pair in pairs):
            # TensorFlow's spelling [[0, 0], [top, bottom], [left, right], [0, 0]]
            if pairs[0] != (0, 0) or pairs[3] != (0, 0):
                raise _Invalid(
                    "it pads the batch or the channels; TensorFlow's spelling is "
                    "[[0, 0], [top, bottom], [left, right], [0, 0]]",
                    say=True,
                )
            pairs = pairs[1:3]
        try:
            (t, b), (lft, r) = pairs
        except (TypeError, ValueError):
            raise _Invalid("not a padding") from None
        if not all(_int(a) and 0 <= a <= _INT_LIMIT for a in (t, b, lft, r)):
            raise _Invalid("not a padding")
        return (int(t), int(b)), (int(lft), int(r))

    def parse(self, text: str):
        m = _PADS.fullmatch(text)
        if not m:
            return text.strip()
        t, b, lft, r = map(int, m.groups())
        return (t, b), (lft, r)


@dataclass(frozen=True)
class Int(Spec):
    """A whole number ≥ ``low`` (a count: attention heads, a key width)."""

    low: int = 1

    @property
    def valid(self) -> str:
        return f"a whole number ≥ {self.low}"

    def check(self, value) -> int:
        if not (_int(value) and self.low <= value <= _INT_LIMIT):
            raise _Invalid("not a whole number in range")
        return int(value)

    def parse(self, text: str):
        one = _INT.fullmatch(text)
        return int(one.group(1)) if one else text.strip()


@dataclass(frozen=True)
class Optional(Spec):
    """``None`` (the builder picks, e.g. a pool's stride is its size) or ``spec``."""

    spec: Spec

    @property
    def valid(self) -> str:
        return f"None or {self.spec.valid}"

    def check(self, value):
        return None if value is None else self.spec.check(value)

    def parse(self, text: str):
        return None if text.strip() == "None" else self.spec.parse(text)


def check(formula: str, name: str, spec: Spec, value, text: str | None = None):
    """``value`` checked against ``spec``; :class:`ParamError` naming the formula,
    the parameter, the value (as the user typed it, if ``text``) and what is valid."""
    try:
        return spec.check(value)
    except (ValueError, TypeError) as exc:
        shown = text if text is not None else reprlib.repr(value)
        why = f" ({exc})" if getattr(exc, "say", False) else ""
        raise ParamError(
            f"{formula}: {name}={shown} is not valid; valid: {spec.valid}{why}"
        ) from None


def parse(formula: str, name: str, spec: Spec, text: str):
    """Command-line ``text`` as a checked value of ``spec``."""
    if len(text) > MAX_TEXT:
        raise ParamError(
            f"{formula}: the value of {name} is {len(text)} characters "
            f"long; valid: {spec.valid} (at most {MAX_TEXT} characters)"
        )
    return check(formula, name, spec, spec.parse(text), _short(text))


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
