"""The programs rendering and typesetting need, checked before any work, and
the one error of a render that cannot run.

MathTex and the site's equations run ``latex`` and ``dvisvgm``; Manim encodes
video with PyAV's bundled FFmpeg.  A missing one is one line naming it and the
command that installs it (``nnbook doctor`` lists them all).
"""

from __future__ import annotations

import shutil

__all__ = ["REQUIRED_TOOLS", "RenderError", "check_latex", "check_tools"]

#: programs MathTex needs, and how to get them (Debian/Ubuntu package names)
REQUIRED_TOOLS = {
    "latex": "texlive-latex-base texlive-latex-extra texlive-fonts-recommended "
    "texlive-science cm-super-minimal",
    "dvisvgm": "dvisvgm",
}


class RenderError(RuntimeError):
    """A render that cannot run or failed; the message says what to do."""


def check_latex(doing: str = "render") -> None:
    """Raise :class:`RenderError` if ``latex`` or ``dvisvgm`` is missing: every
    equation, in a video or on a web page, goes through them."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(REQUIRED_TOOLS[t] for t in missing)
        raise RenderError(
            f"cannot {doing}: {', '.join(missing)} not found on PATH; "
            f"install it (apt-get install {packages}, or ./run.sh setup)"
        )


def check_tools() -> None:
    """Raise :class:`RenderError` if a program or library rendering needs is missing."""
    check_latex()
    try:  # Manim encodes video with PyAV's bundled FFmpeg, not an ffmpeg program
        import av  # noqa: F401
    except ImportError as exc:
        raise RenderError(
            f"cannot render: the video encoder PyAV (av) does not import "
            f"({exc}); reinstall it with ./run.sh setup"
        ) from None
