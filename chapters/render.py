"""Render a chapter's scenes to video files.

Each scene is an independent :class:`SceneJob` run by :func:`run_job`, a plain
function of picklable arguments, so a process pool (or later a cluster executor)
can run jobs without change.  Manim renders into a throw-away media directory;
the finished file is copied next to its destination under a temporary name and
moved into place with ``os.replace``, so an interrupted render never leaves a
half-written file where a good one was.
"""

from __future__ import annotations

import importlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .base import Chapter

__all__ = [
    "FORMATS",
    "QUALITIES",
    "REQUIRED_TOOLS",
    "RenderError",
    "SceneJob",
    "check_tools",
    "render_chapter",
    "render_scene",
    "run_job",
    "scene_job",
]

#: quality letter → Manim's quality name (854x480@15, 1280x720@30, 1920x1080@60, 4K@60)
QUALITIES = {
    "l": "low_quality",
    "m": "medium_quality",
    "h": "high_quality",
    "k": "fourk_quality",
}
#: output formats; png is the scene's last frame
FORMATS = ("mp4", "gif", "webm", "png")
#: programs MathTex needs, and how to get them (Debian/Ubuntu package names)
REQUIRED_TOOLS = {
    "latex": "texlive-latex-base texlive-latex-extra texlive-fonts-recommended "
    "texlive-science cm-super-minimal",
    "dvisvgm": "dvisvgm",
}


class RenderError(RuntimeError):
    """A render that cannot run or failed; the message says what to do."""


@dataclass(frozen=True)
class SceneJob:
    """Everything one render needs, as plain picklable values."""

    module: str
    scene: str
    quality: str
    fmt: str
    target: str

    @property
    def label(self) -> str:
        return f"{self.module.rsplit('.', 1)[-1]}/{self.scene}"


def _validate(quality: str, fmt: str) -> None:
    if quality not in QUALITIES:
        raise ValueError(
            f"invalid quality {quality!r}; valid: {', '.join(QUALITIES)} "
            "(low, medium, high, 4k)"
        )
    if fmt not in FORMATS:
        raise ValueError(f"invalid format {fmt!r}; valid: {', '.join(FORMATS)}")


def check_tools() -> None:
    """Raise :class:`RenderError` if a program or library rendering needs is missing."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        packages = " ".join(REQUIRED_TOOLS[t] for t in missing)
        raise RenderError(
            f"cannot render: {', '.join(missing)} not found on PATH; "
            f"install it (apt-get install {packages}, or ./run.sh setup)"
        )
    try:  # Manim encodes video with PyAV's bundled FFmpeg, not an ffmpeg program
        import av  # noqa: F401
    except ImportError as exc:
        raise RenderError(
            f"cannot render: the video encoder PyAV (av) does not import "
            f"({exc}); reinstall it with ./run.sh setup"
        ) from None


def scene_job(
    chapter: Chapter,
    scene_name: str,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
) -> SceneJob:
    """The job that renders ``scene_name`` to ``out_dir/<chapter id>/<scene>.<fmt>``."""
    _validate(quality, fmt)
    if scene_name not in chapter.scenes:
        raise ValueError(
            f"{chapter.id} has no scene {scene_name!r}; "
            f"valid: {', '.join(chapter.scenes)}"
        )
    target = Path(out_dir) / chapter.id / f"{scene_name}.{fmt}"
    return SceneJob(chapter.module, scene_name, quality, fmt, str(target.absolute()))


def run_job(job: SceneJob) -> Path:
    """Render one scene and move the result atomically to ``job.target``."""
    _validate(job.quality, job.fmt)
    check_tools()
    from manim import tempconfig  # imported late: Manim is slow to import

    try:
        scene_class = getattr(importlib.import_module(job.module), job.scene)
    except (ImportError, AttributeError) as exc:
        raise RenderError(f"cannot load scene {job.label}: {exc}") from exc

    target = Path(job.target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    with tempfile.TemporaryDirectory(prefix="nnbook-render-") as media:
        settings = {
            "verbosity": "ERROR",
            "progress_bar": "none",
            "log_to_file": False,
            "quality": QUALITIES[job.quality],
            "format": job.fmt,
            "media_dir": media,
            "disable_caching": True,
            "preview": False,
            "output_file": job.scene,
        }
        try:
            with tempconfig(settings):
                scene = scene_class()
                scene.render()
                writer = scene.renderer.file_writer
                produced = (
                    writer.image_file_path
                    if job.fmt == "png"
                    else writer.movie_file_path
                )
        except (KeyboardInterrupt, RenderError):
            raise
        except Exception as exc:  # Manim raises anything from ValueError to OSError
            raise RenderError(_explain(job, exc)) from exc
        if not Path(produced).is_file():
            raise RenderError(f"rendering {job.label} produced no file at {produced}")
        try:
            shutil.copyfile(
                produced, partial
            )  # same directory as target: replace is atomic
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    return target


def _explain(job: SceneJob, exc: Exception) -> str:
    """One line: what failed and what to do about it."""
    first = (str(exc).strip().splitlines() or [""])[0]
    if "latex" in first.lower() or "dvi" in first.lower():
        # Manim has already logged LaTeX's own complaint; its log file is gone
        # with the temporary media directory.
        return (
            f"rendering {job.label} failed: LaTeX could not typeset an equation "
            "(its error is printed above); fix that equation, or check the LaTeX "
            "installation with `nnbook doctor`"
        )
    return (
        f"rendering {job.label} failed: {type(exc).__name__}: {first} "
        "(an error in the scene's code; its traceback is this error's __cause__)"
    )


def render_scene(
    chapter: Chapter,
    scene_name: str,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
) -> Path:
    """Render one scene of ``chapter``; return the path of the finished file.

    >>> render_scene(chapters.get("1"), "NeuronScene", quality="l")  # doctest: +SKIP
    PosixPath('.../media/chapter1/NeuronScene.mp4')
    """
    return run_job(
        scene_job(chapter, scene_name, quality=quality, fmt=fmt, out_dir=out_dir)
    )


#: ``on_progress(scene_name, done, total, path, seconds)``, called after each scene
Progress = Callable[[str, int, int, Path, float], None]


def render_chapter(
    chapter: Chapter,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    on_progress: Progress | None = None,
) -> list[Path]:
    """Render every scene of ``chapter`` in order; return the finished files."""
    jobs = [
        scene_job(chapter, s, quality=quality, fmt=fmt, out_dir=out_dir)
        for s in chapter.scenes
    ]
    check_tools()  # fail before the first scene, not in the middle
    paths = []
    for done, job in enumerate(jobs, start=1):
        start = time.perf_counter()
        path = run_job(job)
        paths.append(path)
        if on_progress is not None:
            on_progress(job.scene, done, len(jobs), path, time.perf_counter() - start)
    return paths
