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

__all__ = [
    "Chapter",
    "get",
    "all_chapters",
    "load_file",
    "load_module",
    "UnknownChapterError",
    "ChapterFileError",
    "ExitInFile",
    "CHAPTER_MODULES",
]

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
    "chapters.chapter9",
    "chapters.chapter10",
    "chapters.chapter11",
    "chapters.chapter12",
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


class ExitInFile(Exception):
    """A chapter file (or its scene) that called ``sys.exit`` while it was run."""


def load_module(module: str, path: str = ""):
    """Import a book chapter by module name, or a chapter file by its path.

    A ``sys.exit(n)`` in the file is an error of the file (:class:`ExitInFile`),
    not the end of the program that loads it.
    """
    if not path:
        return importlib.import_module(module)
    if module in sys.modules:
        return sys.modules[module]
    spec = importlib.util.spec_from_file_location(module, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path} is not a Python file (.py)")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod  # before exec: its CHAPTER names this module
    try:
        spec.loader.exec_module(mod)
    except SystemExit as exc:
        del sys.modules[module]
        raise ExitInFile(
            f"it called sys.exit({exc.code!r}) while loading; a chapter "
            "file only defines its formulas, claims, scenes and "
            "CHAPTER"
        ) from None
    except BaseException:
        del sys.modules[module]
        raise
    return mod


def _names(value) -> bool:
    return isinstance(value, (tuple, list)) and all(isinstance(v, str) for v in value)


def _check_declared(name: str, chapter: Chapter, mod) -> None:
    """One :class:`ChapterFileError` for the first thing wrong in ``CHAPTER``."""
    from nnmath import registry

    number = chapter.number
    if (
        isinstance(number, bool)
        or not isinstance(number, int)
        or not 0 <= number < 10**6
    ):
        raise ChapterFileError(
            f"{name}: CHAPTER.number must be a whole number from 0 "
            f"to 999999, got {number!r}"
        )
    for field in ("slug", "title", "prose_file"):
        if not isinstance(getattr(chapter, field), str):
            raise ChapterFileError(
                f"{name}: CHAPTER.{field} must be a string, got "
                f"{getattr(chapter, field)!r}"
            )
    for field, example in (
        ("formulas", '("sigmoid",)'),
        ("claims", '("sigmoid\'",)'),
        ("scenes", '("MyScene",)'),
    ):
        value = getattr(chapter, field)
        if not _names(value):
            got = f"the string {value!r}" if isinstance(value, str) else repr(value)
            raise ChapterFileError(
                f"{name}: CHAPTER.{field} must be a tuple of names, "
                f"e.g. {field}={example}; got {got}"
            )
    known = set(registry.names())
    for formula in chapter.formulas:
        if formula not in known:
            raise ChapterFileError(
                f"{name}: CHAPTER.formulas names unknown formula "
                f"{formula!r}; valid: {', '.join(sorted(known))}"
            )
        try:  # a builder of the file's own that fails is the file's mistake
            registry.formula(formula)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise ChapterFileError(
                f"{name}: formula {formula!r} cannot be built: "
                f"{type(exc).__name__}: {first}"
            ) from exc
    claims = set(registry.claim_names()) if chapter.claims else set()
    for claim in chapter.claims:
        if claim not in claims:
            raise ChapterFileError(
                f"{name}: CHAPTER.claims names unknown claim "
                f"{claim!r}; see `nnbook list` for the valid ones"
            )
    for scene in chapter.scenes:
        if not scene.isidentifier() or not isinstance(getattr(mod, scene, None), type):
            raise ChapterFileError(
                f"{name}: scene {scene!r} is listed in CHAPTER.scenes "
                "but no class of that name is defined in the file"
            )


def load_file(name: str) -> Chapter:
    """The ``CHAPTER`` a lecturer's file declares, e.g. ``load_file("gelu.py")``.

    Every mistake is one :class:`ChapterFileError` that names the file: not a
    Python file, an error while loading it (``sys.exit`` included), no
    ``CHAPTER``, a name in it that the registry does not know.
    """
    from nnmath import registry

    shown = name if len(name) <= 200 else name[:199] + "…"
    try:
        path = Path(name).expanduser().resolve()
        is_dir, exists = path.is_dir(), path.exists()
    except (OSError, RuntimeError) as exc:  # a name too long, a symlink loop
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ChapterFileError(f"cannot load chapter file {shown}: {why}") from None
    if is_dir:
        raise ChapterFileError(
            f"{name} is a directory; give a chapter file (.py) in it"
        )
    if not exists:
        raise UnknownChapterError(f"no chapter file {shown!r}: {path} does not exist")
    if path.suffix != ".py":
        raise ChapterFileError(
            f"{name} is not a Python file (.py); a chapter file "
            "declares CHAPTER = Chapter(...) in Python"
        )
    if not path.is_file():
        raise ChapterFileError(f"{name} is not a regular file")
    module = _module_name(path)
    try:
        mod = load_module(module, str(path))
        # the file's claims are built now, so a claim registered twice is
        # reported here, naming the file, not in the middle of a later command
        registry.claim_names()
    except ExitInFile as exc:
        raise ChapterFileError(f"cannot load chapter file {name}: {exc}") from None
    except Exception as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) else ""
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ChapterFileError(
            f"cannot load chapter file {name}{where}: {type(exc).__name__}: {first}"
        ) from exc
    chapter = getattr(mod, "CHAPTER", None)
    if not isinstance(chapter, Chapter):
        raise ChapterFileError(
            f"{name} defines no CHAPTER = Chapter(...); see the GELU example in "
            "README.md"
        )
    if chapter.module != module:
        raise ChapterFileError(
            f"{name}: write Chapter(module=__name__, ...) so its scenes can be found"
        )
    try:
        _check_declared(name, chapter, mod)
    except ChapterFileError:
        raise
    except Exception as exc:  # the registry could not build a claim the file added
        raise ChapterFileError(f"{name}: {type(exc).__name__}: {exc}") from exc
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
    try:
        named_a_file = Path(name).exists()  # "examples": a folder, without a slash
    except (OSError, ValueError):  # a name too long for a file, a NUL byte
        named_a_file = False
    if named_a_file:
        return load_file(name)
    valid = ", ".join(f"{c.id} ({c.slug})" for c in all_chapters())
    raise UnknownChapterError(
        f"unknown chapter {name[:200]!r}; valid: {valid}, or a path to a chapter file "
        "(.py)"
    )
