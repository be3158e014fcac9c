"""``nnbook doctor``: is everything nnbook needs on this machine?"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import sys
from dataclasses import dataclass

from .tools import REQUIRED_TOOLS

__all__ = ["Finding", "diagnose"]

SETUP = "./run.sh setup"


@dataclass(frozen=True)
class Finding:
    name: str
    found: bool
    detail: str
    fix: str


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _program(name: str, package: str, why: str) -> Finding:
    path = shutil.which(name)
    return Finding(
        name,
        path is not None,
        path or f"not on PATH ({why})",
        f"sudo apt-get install {package}   # or {SETUP}",
    )


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ValueError:  # imported, and replaced itself in sys.modules by an object
        return name in sys.modules  # without __spec__ (manim-slides does)


def _module(name: str, dist: str, why: str, fix: str) -> Finding:
    ok = _importable(name)
    version = _version(dist)
    return Finding(dist, ok, f"{dist} {version}" if ok else f"missing ({why})", fix)


def _revealjs() -> Finding:
    from .slides import REVEALJS_VERSION, SlidesError, revealjs_dir

    try:
        detail, found = f"reveal.js in {revealjs_dir()}", True
    except SlidesError:
        detail, found = "missing (nnbook slides --to html needs it)", False
    return Finding(
        "reveal.js",
        found,
        detail,
        f"{SETUP}   # installs reveal.js {REVEALJS_VERSION}; or set NNBOOK_REVEALJS",
    )


def diagnose() -> list[Finding]:
    """One finding per dependency, with the command that fixes it when missing."""
    py_ok = sys.version_info >= (3, 11)
    pip = f"{sys.executable} -m pip install -e .   # or {SETUP}"
    return [
        Finding(
            "python",
            py_ok,
            f"Python {sys.version.split()[0]}"
            + ("" if py_ok else " (3.11 or newer needed)"),
            "sudo apt-get install python3 python3-venv",
        ),
        _program("latex", REQUIRED_TOOLS["latex"], "typesets every equation"),
        _program(
            "dvisvgm", REQUIRED_TOOLS["dvisvgm"], "turns LaTeX into SVG for Manim"
        ),
        _program("ffmpeg", "ffmpeg", "frame extraction and GIF/WebM conversion"),
        _program("pandoc", "pandoc", "nnbook build --pdf turns the prose into LaTeX"),
        _program("pdflatex", REQUIRED_TOOLS["latex"], "nnbook build --pdf typesets"),
        _module("av", "av", "PyAV encodes Manim's video", pip),
        _module(
            "cairo",
            "pycairo",
            "Cairo draws every frame",
            f"sudo apt-get install libcairo2-dev pkg-config && {pip}",
        ),
        _module(
            "manimpango",
            "manimpango",
            "Pango lays out text",
            f"sudo apt-get install libpango1.0-dev pkg-config && {pip}",
        ),
        _module("manim", "manim", "renders the videos", pip),
        _module("markdown", "Markdown", "nnbook build turns the prose into HTML", pip),
        _module("manim_slides", "manim-slides", "nnbook slides makes the decks", pip),
        _revealjs(),
        _module(
            "tensorflow",
            "tensorflow-cpu" if _version("tensorflow-cpu") else "tensorflow",
            "the oracle nnbook verify checks against",
            pip,
        ),
    ]
