"""The book's chapters.  ``get("chapter1")``, ``get("1")`` and ``get(slug)`` agree."""

from __future__ import annotations

import importlib

from .base import Chapter

__all__ = ["Chapter", "get", "all_chapters", "UnknownChapterError", "CHAPTER_MODULES"]

#: chapter modules in book order; each defines ``CHAPTER``
CHAPTER_MODULES = (
    "chapters.chapter1",
    "chapters.chapter2",
)


class UnknownChapterError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def all_chapters() -> list[Chapter]:
    return [importlib.import_module(m).CHAPTER for m in CHAPTER_MODULES]


def get(name: str) -> Chapter:
    for ch in all_chapters():
        if name in ch.names():
            return ch
    valid = ", ".join(f"{c.id} ({c.slug})" for c in all_chapters())
    raise UnknownChapterError(f"unknown chapter {name!r}; valid: {valid}")
