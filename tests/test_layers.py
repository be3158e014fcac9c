"""The architecture, held: four layers whose imports run one way (cli ->
publishing -> chapters -> nnmath), no chapter importing another, and the
checker apart from the example runs.  Read from the source, so an import inside
a function counts as much as one at the top."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LAYERS = ("nnmath", "chapters", "publishing", "cli")  # each imports only those before


def _module(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, relative imports made absolute."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append(module)
            found += [f"{module}.{a.name}" for a in node.names]  # from pkg import mod
    return found


def _files(layer: str) -> list[Path]:
    return sorted((REPO / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_run_one_way(layer):
    above = LAYERS[LAYERS.index(layer) + 1 :]
    for path in _files(layer):
        for name in _imports(path):
            top = name.split(".")[0]
            assert top not in above, f"{path.relative_to(REPO)} imports {name}"


def test_nnmath_imports_neither_manim_nor_click():
    for path in _files("nnmath"):
        for name in _imports(path):
            assert name.split(".")[0] not in ("manim", "click"), (
                f"{path.relative_to(REPO)} imports {name}"
            )


def test_no_chapter_imports_another_chapter():
    chapter = re.compile(r"^chapters\.chapter\d+$")
    for path in sorted((REPO / "chapters").rglob("*.py")):
        mine = _module(path)
        for name in _imports(path):
            if chapter.match(name) and name != mine:
                raise AssertionError(f"{path.relative_to(REPO)} imports {name}")


def test_the_checker_imports_no_example_run():
    for path in _files("nnmath/checker"):
        for name in _imports(path):
            assert not name.startswith("nnmath.runs"), (
                f"{path.relative_to(REPO)} imports {name}"
            )


def test_the_lowering_is_only_a_printer():
    """It prints NumPy source; what that source calls lives in nnmath.kernels,
    and the loop oracle it is checked against in nnmath.checker."""
    names = _imports(REPO / "nnmath" / "lowering.py")
    assert not any(n.startswith("nnmath.checker") for n in names)
    assert not {"ctypes", "concurrent.futures", "mpmath"} & set(names)
