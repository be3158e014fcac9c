"""The book's layout rules, checked on a scene while it runs in Manim's dry run.

A lecturer shows these videos at 854×480 to a room; what a student cannot read
there is not taught.  After every ``play`` and ``wait`` the scene is looked at,
and four rules are checked on what it shows (the numbers are the style's,
:mod:`chapters.blocks.style`):

``small``
    In every text and equation a digit is at least ``MIN_DIGIT_PIXELS`` tall at
    480p (Manim's font size after every scaling, by the points-to-pixels
    measured for MathTex and for Text: MathTex 20, Text 15).
``overlap``
    No two texts or equations overlap by more than :data:`OVERLAP` (scene units,
    in both directions at once: about 2 px at 480p), a label written over
    another, or a number left under its replacement.
``plain-maths``
    No maths in plain text (Greek, sub- and superscripts, ∂, √, ≤ ...): the
    labels' font draws them from a fallback sans beside LaTeX's serif.  Code
    and verify's output, quoted in the monospace font, are exempt.
``offframe``
    Nothing drawn reaches past the frame's edge (see :mod:`publishing.dryrun`).
``brief``
    Each equation (a typeset relation: ``=``, ``\\leq``, ``\\approx``, ...)
    stays on screen, after the play that shows it, at least
    ``READ_SECONDS`` plus ``SECONDS_PER_TERM`` per term: a term is what a
    ``+``, ``-`` or ``=`` outside its LaTeX's braces and brackets separates.

A violation names the scene, the time and the mobject.  ``nnbook lint`` prints
one line per violation.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from chapters.blocks.panels import MONO
from chapters.blocks.style import (
    MIN_DIGIT_PIXELS,
    RELATIONS,
    digit_pixels,
    plain_maths,
    reading_time,
    terms,
)

__all__ = ["OVERLAP", "Layout", "Violation"]

#: how far two texts may overlap (scene units, in both directions at once)
OVERLAP = 0.03


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (scene, seconds into it), which rule, what."""

    scene: str
    time: float
    rule: str
    what: str

    def __str__(self) -> str:
        return f"{self.scene} at {self.time:.1f} s: {self.rule}: {self.what}"

    @property
    def key(self) -> str:
        """The violation without its time: what a baseline lists."""
        return f"{self.scene}: {self.rule}: {self.what}"


def _is_text(m) -> bool:
    from manim import DecimalNumber, MarkupText, Paragraph, SingleStringMathTex, Text

    return isinstance(m, Text | MarkupText | Paragraph | SingleStringMathTex) or (
        isinstance(m, DecimalNumber)
    )


def _is_typeset(m) -> bool:
    """Whether LaTeX set ``m`` (a MathTex, or a number of MathTex digits)."""
    from manim import DecimalNumber, SingleStringMathTex

    return isinstance(m, SingleStringMathTex | DecimalNumber)


def _is_equation(m) -> bool:
    from manim import DecimalNumber, MathTex, SingleStringMathTex, Tex

    return (
        isinstance(m, MathTex | SingleStringMathTex)
        and not isinstance(m, DecimalNumber | Tex)  # Tex: a label, in words
        and any(r in _source(m) for r in RELATIONS)
    )


def _visible(m) -> bool:
    """Whether any glyph of ``m`` is painted."""
    return any(
        s.has_points() and (s.get_fill_opacity() > 0 or s.get_stroke_opacity() > 0)
        for s in m.get_family()
    )


def texts(mobjects: Iterable) -> Iterator:
    """The visible texts and equations among ``mobjects`` and their families,
    each whole (a number's digits, an equation's parts are not texts of their own)."""
    stack = list(mobjects)[::-1]
    while stack:
        m = stack.pop()
        if _is_text(m):
            if _visible(m):
                yield m
            continue
        stack.extend(m.submobjects[::-1])


def _source(m) -> str:
    for attr in ("tex_string", "original_text", "text"):
        text = getattr(m, attr, None)
        if isinstance(text, str) and text.strip():
            return " ".join(text.split())
    number = getattr(m, "number", None)
    return "" if number is None else str(number)


def name(m) -> str:
    """A text as a violation names it: its kind and its source, shortened."""
    text = _source(m)
    short = text if len(text) <= 40 else text[:39] + "…"
    return f"{type(m).__name__} {short!r}"


def _box(m) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate([s.points for s in m.get_family() if s.has_points()])
    return points.min(axis=0)[:2], points.max(axis=0)[:2]


def _whole_texts(m) -> list:
    """The texts in ``m``'s family, each whole, shown or not."""
    if _is_text(m):
        return [m]
    return [t for s in m.submobjects for t in _whole_texts(s)]


#: what a text takes from the text it was transformed into: what it reads and
#: the size it was made at (Manim's font_size is height ÷ initial_height)
_TAKEN = ("initial_height", "_font_size", "tex_string", "original_text", "text")


def morphs(animations: Iterable) -> Iterator[tuple]:
    """(text, the text it now shows) for each text a Transform among
    ``animations`` (animation groups opened) turned into another.  Manim's
    Transform keeps the mobject and replaces only its points: its font_size and
    its source still describe what it was.  (``.animate`` and a Transform into a
    copy change no text: not morphs.)"""
    from manim import AnimationGroup, Transform

    stack = list(animations)
    while stack:
        a = stack.pop()
        if isinstance(a, AnimationGroup):
            stack.extend(a.animations)
            continue
        if not isinstance(a, Transform) or a.replace_mobject_with_target_in_scene:
            continue  # a ReplacementTransform puts the target itself in the scene
        pairs = list(zip(_whole_texts(a.mobject), _whole_texts(a.target_mobject)))
        if len(pairs) == len(_whole_texts(a.mobject)):
            yield from ((m, t) for m, t in pairs if _source(m) != _source(t))


@dataclass
class Layout:
    """The rules, checked scene-moment by scene-moment (call :meth:`morphed` for
    each text a play transformed and :meth:`look` after each play with the
    scene's time before and after it, then :meth:`end`)."""

    scene: str
    violations: list[Violation] = field(default_factory=list)
    _shown: dict[int, tuple[float, object]] = field(default_factory=dict)
    _seen: set[str] = field(default_factory=set)

    def report(self, time: float, rule: str, what: str) -> None:
        v = Violation(self.scene, time, rule, what)
        if v.key not in self._seen:  # once per scene: not at every later play
            self._seen.add(v.key)
            self.violations.append(v)

    def morphed(self, m, target, at: float) -> None:
        """``m`` shows ``target`` since the play that began at ``at``: what it
        showed before was on screen until then, and it is read from now as
        ``target`` is, at ``target``'s size."""
        if id(m) in self._shown:
            self._gone(id(m), at)
        for attr in _TAKEN:
            if hasattr(target, attr):
                setattr(m, attr, getattr(target, attr))

    def look(self, mobjects: list, started: float, now: float) -> None:
        shown = list(texts(mobjects))
        for m in shown:
            size = getattr(m, "font_size", None)
            quoted = getattr(m, "font", "") == MONO  # code or output, as printed
            maths = "" if _is_typeset(m) or quoted else plain_maths(_source(m))
            if maths:
                self.report(now, "plain-maths", f"{name(m)} sets {maths} as text")
            if size is None:
                continue
            px = digit_pixels(size, typeset=_is_typeset(m))
            if px < MIN_DIGIT_PIXELS - 0.05:
                self.report(
                    now,
                    "small",
                    f"{name(m)} at font size {size:.1f}: digits {px:.1f} px tall "
                    f"at 480p, the least is {MIN_DIGIT_PIXELS}",
                )
        if len(shown) > 1:
            boxes = np.array([_box(m) for m in shown])  # n × (lo, hi) × (x, y)
            lo, hi = boxes[:, 0], boxes[:, 1]
            depth = np.minimum(hi[:, None], hi[None]) - np.maximum(
                lo[:, None], lo[None]
            )
            hit = (depth > OVERLAP).all(axis=2)
            for i, j in zip(*np.nonzero(np.triu(hit, k=1)), strict=True):
                a, b = sorted((name(shown[i]), name(shown[j])))
                self.report(now, "overlap", f"{a} overlaps {b}")
        equations = {id(m): m for m in shown if _is_equation(m)}
        for key in list(self._shown):
            if key not in equations:
                self._gone(key, started)
        for key, m in equations.items():
            self._shown.setdefault(key, (now, m))

    def _gone(self, key: int, at: float) -> None:
        since, m = self._shown.pop(key)
        need = reading_time(_source(m))
        if at - since < need - 1e-9:
            self.report(
                since,
                "brief",
                f"{name(m)} is on screen {at - since:.1f} s after it is shown; "
                f"{terms(_source(m))} terms need {need:.1f} s",
            )

    def end(self, now: float) -> None:
        for key in list(self._shown):
            self._gone(key, now)
