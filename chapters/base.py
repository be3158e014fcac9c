"""The Chapter model: what a chapter of the book declares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Chapter", "fill_equations"]

#: ``{{formula:NAME}}`` and ``{{claim:NAME}}`` in prose become display equations
PLACEHOLDER = re.compile(r"\{\{(formula|claim):([^}]+)\}\}")


def fill_equations(text: str) -> str:
    """Replace each placeholder by ``$$…$$`` from the formula's or claim's LaTeX,
    so an equation in the prose is the very one the checker verified."""
    from nnmath import registry

    def latex(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2).strip()
        obj = registry.formula(name) if kind == "formula" else registry.claim(name)
        return f"$${obj.latex}$$"

    return PLACEHOLDER.sub(latex, text)


@dataclass(frozen=True, eq=False)
class Chapter:
    """One chapter: prose, the formulas and claims it relies on, a seeded worked
    example, and the names of its Manim scene classes (in ``module``)."""

    number: int
    slug: str
    title: str
    module: str
    formulas: tuple[str, ...]
    claims: tuple[str, ...]
    scenes: tuple[str, ...]
    #: returns the seeded worked-example data the scenes show
    example: Callable[[], dict] = field(repr=False, default=dict)
    prose_file: str = ""
    #: the file of a lecturer's chapter outside the package (set by the loader)
    path: str = ""

    @property
    def id(self) -> str:
        return f"chapter{self.number}"

    @property
    def prose(self) -> str:
        """The chapter's Markdown, with its equations filled in from nnmath."""
        if not self.prose_file:
            return ""
        prose = Path(self.prose_file)
        if self.path and not prose.is_absolute():  # beside a lecturer's chapter file
            prose = Path(self.path).parent / prose
        return fill_equations(prose.read_text(encoding="utf-8"))

    def names(self) -> tuple[str, ...]:
        """Every name that selects this chapter on the command line."""
        return (self.id, str(self.number), self.slug) + ((self.path,) if self.path else ())
