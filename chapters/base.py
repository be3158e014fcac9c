"""The Chapter model: what a chapter of the book declares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Chapter"]


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

    @property
    def id(self) -> str:
        return f"chapter{self.number}"

    @property
    def prose(self) -> str:
        if not self.prose_file:
            return ""
        return Path(self.prose_file).read_text(encoding="utf-8")

    def names(self) -> tuple[str, ...]:
        """Every name that selects this chapter on the command line."""
        return (self.id, str(self.number), self.slug)
