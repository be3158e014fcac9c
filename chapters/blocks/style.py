"""The book's scene style as numbers: how small type may be, and how long an
equation stays on screen.  The scenes follow it, and ``nnbook lint``
(:mod:`publishing.lint`) checks that they do.

Imports nothing but the standard library, so the linter and the tests can read
the rules without drawing anything.
"""

from __future__ import annotations

__all__ = [
    "MIN_FONT_SIZE",
    "READ_SECONDS",
    "RELATIONS",
    "SECONDS_PER_TERM",
    "reading_time",
    "terms",
]

#: the smallest font size (Manim's, after every scaling) of any text or equation:
#: at 854×480 a size of 20 gives capitals about 9 pixels tall
MIN_FONT_SIZE = 20.0

#: an equation stays on screen, after the play that shows it, this long plus
#: ``SECONDS_PER_TERM`` for each of its terms
READ_SECONDS = 1.5
SECONDS_PER_TERM = 0.5

#: what makes typeset text an equation (a relation), not a symbol, a bracket or
#: a number: only equations have a reading time
RELATIONS = ("=", r"\leq", r"\geq", r"\approx", r"\to", r"\le ", r"\ge ")


def terms(tex: str) -> int:
    """How many terms an equation has: one more than the ``+``, ``-`` and ``=``
    outside every brace and bracket of its LaTeX (a minus sign that opens a
    group or follows an operator is a sign, not a separator)."""
    depth, count, previous = 0, 1, "="
    for ch in tex:
        if ch in "{([":
            depth += 1
        elif ch in "})]":
            depth = max(depth - 1, 0)  # an interval's [0, 1) closes nothing
        elif depth == 0 and ch in "+-=" and previous not in "+-=({[":
            count += 1
        if not ch.isspace():
            previous = ch
    return count


def reading_time(tex: str) -> float:
    """Seconds an equation must stay on screen to be read."""
    return READ_SECONDS + SECONDS_PER_TERM * terms(tex)
