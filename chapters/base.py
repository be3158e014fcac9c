"""The Chapter model: what a chapter of the book declares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Chapter", "ProseError", "check_prose", "fill_equations"]

#: ``{{formula:NAME}}`` and ``{{claim:NAME}}`` in prose become display equations
PLACEHOLDER = re.compile(r"\{\{(formula|claim):([^}]+)\}\}")
#: ``{{scene:NAME}}`` places a video (see :mod:`publishing.site`)
SCENE = re.compile(r"\{\{scene:([^}]+)\}\}")


class ProseError(ValueError):
    """A chapter's prose that cannot be read, or a placeholder in it that names
    nothing; the message names the chapter, the file and the placeholder."""


def fill_equations(text: str) -> str:
    """Replace each placeholder by ``$$…$$`` from the formula's or claim's LaTeX,
    so an equation in the prose is the very one the checker verified."""
    from nnmath import registry

    def latex(match: re.Match) -> str:
        kind, name = match.group(1), match.group(2).strip()
        obj = registry.formula(name) if kind == "formula" else registry.claim(name)
        return f"$${obj.latex}$$"

    return PLACEHOLDER.sub(latex, text)


def check_prose(chapter: Chapter) -> None:
    """Raise :class:`ProseError` for a prose file that cannot be read or a
    ``{{formula:…}}``, ``{{claim:…}}`` or ``{{scene:…}}`` that names nothing,
    before anything is rendered."""
    from nnmath import registry

    if not chapter.prose_file:
        return
    path = chapter.prose_path
    where = f"{chapter.id} prose {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ProseError(f"{where}: cannot be read ({why})") from None
    formulas, claims = set(registry.names()), None
    for match in PLACEHOLDER.finditer(text):
        kind, name = match.group(1), match.group(2).strip()
        if kind == "formula" and name not in formulas:
            raise ProseError(
                f"{where}: {match.group(0)} names no formula; valid: "
                + ", ".join(sorted(formulas))
            )
        if kind == "claim":
            claims = claims if claims is not None else set(registry.claim_names())
            if name not in claims:
                raise ProseError(
                    f"{where}: {match.group(0)} names no claim; see "
                    "`nnbook list` for the valid ones"
                )
    for match in SCENE.finditer(text):
        if match.group(1).strip() not in chapter.scenes:
            raise ProseError(
                f"{where}: {match.group(0)} names no scene of "
                f"{chapter.id}; valid: {', '.join(chapter.scenes)}"
            )


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
    def prose_path(self) -> Path:
        """The Markdown file: beside a lecturer's chapter file, or as given."""
        prose = Path(self.prose_file)
        if self.path and not prose.is_absolute():
            prose = Path(self.path).parent / prose
        return prose

    @property
    def prose(self) -> str:
        """The chapter's Markdown, with its equations filled in from nnmath."""
        if not self.prose_file:
            return ""
        return fill_equations(self.prose_path.read_text(encoding="utf-8"))

    def names(self) -> tuple[str, ...]:
        """Every name that selects this chapter on the command line."""
        return (self.id, str(self.number), self.slug) + (
            (self.path,) if self.path else ()
        )
