"""The book's chapters.  ``get("chapter1")``, ``get("1")`` and ``get(slug)`` agree."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from .base import Chapter

__all__ = ["Chapter", "get", "all_chapters", "load_file", "load_module",
           "UnknownChapterError", "ChapterFileError", "CHAPTER_MODULES"]

#: chapter modules in book order; each defines ``CHAPTER``
CHAPTER_MODULES = (
    "chapters.chapter1",
    "chapters.chapter2",
    "chapters.chapter3",
    "chapters.chapter4",
    "chapters.chapter5",
    "chapters.chapter6",
    "chapters.chapter7",
    "chapters.chapter8",
)


class UnknownChapterError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class ChapterFileError(ValueError):
    """A lecturer's chapter file that does not load or declares no usable CHAPTER."""


def all_chapters() -> list[Chapter]:
    return [importlib.import_module(m).CHAPTER for m in CHAPTER_MODULES]


def is_chapter_file(name: str) -> bool:
    """A name that means a lecturer's own chapter file rather than a book chapter."""
    return name.endswith(".py") or os.sep in name


def _module_name(path: Path) -> str:
    """A stable module name for a chapter file, the same in every process."""
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    return f"nnbook_chapter_{stem}_{digest}"


def load_module(module: str, path: str = ""):
    """Import a book chapter by module name, or a chapter file by its path."""
    if not path:
        return importlib.import_module(module)
    if module in sys.modules:
        return sys.modules[module]
    spec = importlib.util.spec_from_file_location(module, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod  # before exec: its CHAPTER names this module
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        del sys.modules[module]
        raise
    return mod


def load_file(name: str) -> Chapter:
    """The ``CHAPTER`` a lecturer's file declares, e.g. ``load_file("gelu.py")``."""
    from nnmath import registry

    path = Path(name).expanduser().resolve()
    if not path.is_file():
        raise UnknownChapterError(f"no chapter file {name!r}: {path} does not exist")
    module = _module_name(path)
    try:
        mod = load_module(module, str(path))
        # the file's claims are built now, so a claim registered twice is
        # reported here, naming the file, not in the middle of a later command
        registry.claim_names()
    except Exception as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        raise ChapterFileError(
            f"cannot load chapter file {name}{where}: {type(exc).__name__}: {exc}") from exc
    chapter = getattr(mod, "CHAPTER", None)
    if not isinstance(chapter, Chapter):
        raise ChapterFileError(
            f"{name} defines no CHAPTER = Chapter(...); see the GELU example in README.md")
    if chapter.module != module:
        raise ChapterFileError(f"{name}: write Chapter(module=__name__, ...) so its "
                               "scenes can be found")
    for scene in chapter.scenes:
        if not hasattr(mod, scene):
            raise ChapterFileError(f"{name}: scene {scene!r} is listed in CHAPTER.scenes "
                                   "but not defined in the file")
    return dataclasses.replace(chapter, path=str(path))


def get(name: str) -> Chapter:
    """A book chapter by id, number or slug, or a chapter file by its path."""
    if is_chapter_file(name):
        return load_file(name)
    direct = f"chapters.chapter{name.removeprefix('chapter')}"
    if direct in CHAPTER_MODULES:  # "chapter3" or "3": import that module only
        return importlib.import_module(direct).CHAPTER
    for ch in all_chapters():
        if name in ch.names():
            return ch
    valid = ", ".join(f"{c.id} ({c.slug})" for c in all_chapters())
    raise UnknownChapterError(
        f"unknown chapter {name!r}; valid: {valid}, or a path to a chapter file (.py)")
