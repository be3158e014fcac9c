"""Render a chapter's scenes to video files.

Each scene is an independent :class:`SceneJob` run by :func:`run_job`, a plain
function of picklable arguments.  :func:`render_jobs` hands the jobs to an
executor — any :class:`concurrent.futures.Executor` whose workers are processes:
by default a local pool that starts a fresh interpreter per scene; a Dask or Ray
executor can be passed instead without touching the chapters.

A fresh process per scene is what makes the cache exact: while the scene renders,
the registry records every formula and claim it looks up and ``sys.modules``
every source file it imports (see :mod:`chapters.cache`).

Manim renders into a throw-away media directory; the finished file is kept in
the cache (or staged beside its destination under a hidden temporary name), and
only after the gate (:func:`chapters.verification.gate`) has verified what the
chapter declares *and* what its scenes looked up is it moved into place with
``os.replace``: no render reaches ``media/`` ungated, and an interrupted render
never leaves a half-written file where a good one was.  Workers turn SIGTERM
into an exception so that clean-up runs.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .base import Chapter
from .cache import SceneCache, atomic_copy, cache_root, file_sha
from .verification import Verified

__all__ = [
    "FORMATS",
    "QUALITIES",
    "REQUIRED_TOOLS",
    "RenderError",
    "SceneJob",
    "Rendered",
    "check_latex",
    "check_tools",
    "local_executor",
    "render_chapters",
    "render_jobs",
    "render_scene",
    "run_job",
    "scene_job",
]

#: quality letter (Manim's) → Manim's quality name
QUALITIES = {
    "l": "low_quality",  # 854x480 at 15 fps
    "m": "medium_quality",  # 1280x720 at 30 fps
    "h": "high_quality",  # 1920x1080 at 60 fps
    "p": "production_quality",  # 2560x1440 at 60 fps
    "k": "fourk_quality",  # 3840x2160 at 60 fps
}
#: output formats, named as Manim names them; png is the scene's last frame
FORMATS = ("mp4", "webm", "mov", "gif", "png")
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
    #: the file of a chapter that lives outside the package ("" for the book's own)
    path: str = ""
    #: the cache directory ("" for none)
    cache: str = ""

    @property
    def label(self) -> str:
        where = Path(self.path).name if self.path else self.module.rsplit(".", 1)[-1]
        return f"{where}/{self.scene}"

    @property
    def request(self) -> dict:
        """What names this render in the cache (the target folder does not)."""
        return {"module": self.module, "path": self.path, "scene": self.scene,
                "quality": self.quality, "format": self.fmt}


@dataclass(frozen=True)
class Rendered:
    """A finished job: where its file is, how long it took, whether it was cached."""

    job: SceneJob
    path: Path
    seconds: float
    cached: bool = False
    reason: str = ""  # why it was (re-)rendered
    worker: int = 0  # the process that rendered it
    #: what the scene looked up while it rendered: ("formula", name, params) and
    #: ("claim", name, ()), as :func:`nnmath.registry.recording` collects them
    uses: frozenset = frozenset()
    #: where the finished file waits for the gate (a cache object, or a hidden
    #: file beside the target); empty once it is in place
    staged: str = ""


def _validate(quality: str, fmt: str) -> None:
    if quality not in QUALITIES:
        raise ValueError(
            f"invalid quality {quality!r}; valid: {', '.join(QUALITIES)} "
            "(low, medium, high, production, 4k)"
        )
    if fmt not in FORMATS:
        raise ValueError(f"invalid format {fmt!r}; valid: {', '.join(FORMATS)}")


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


def scene_job(
    chapter: Chapter,
    scene_name: str,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    cache: bool = True,
) -> SceneJob:
    """The job that renders ``scene_name`` to ``out_dir/<chapter id>/<scene>.<fmt>``."""
    _validate(quality, fmt)
    if scene_name not in chapter.scenes:
        raise ValueError(
            f"{chapter.id} has no scene {scene_name!r}; "
            f"valid: {', '.join(chapter.scenes)}"
        )
    target = Path(out_dir) / chapter.id / f"{scene_name}.{fmt}"
    return SceneJob(chapter.module, scene_name, quality, fmt, str(target.absolute()),
                    chapter.path, str(cache_root(out_dir).absolute()) if cache else "")


def _scene_class(job: SceneJob):
    from . import load_module

    try:
        return getattr(load_module(job.module, job.path), job.scene)
    except (ImportError, AttributeError) as exc:
        raise RenderError(f"cannot load scene {job.label}: {exc}") from exc


def _manim_render(job: SceneJob, media: str) -> Path:
    """Render with Manim into ``media``; return the file it produced."""
    from manim import tempconfig  # imported late: Manim is slow to import

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
    scene_class = _scene_class(job)
    try:
        with tempconfig(settings):
            scene = scene_class()
            scene.render()
            writer = scene.renderer.file_writer
            produced = writer.image_file_path if job.fmt == "png" else writer.movie_file_path
    except (KeyboardInterrupt, SystemExit, RenderError):
        raise
    except Exception as exc:  # Manim raises anything from ValueError to OSError
        raise RenderError(_explain(job, exc)) from exc
    if not Path(produced).is_file():
        raise RenderError(f"rendering {job.label} produced no file at {produced}")
    return Path(produced)


def _staging(target: Path) -> Path:
    """A hidden name beside ``target`` for a finished file awaiting the gate.

    It carries the pid of the process that will place it (the worker's parent),
    so :func:`_sweep_partials` removes it only once that process is gone.
    """
    return target.with_name(f".{target.name}.staged.{os.getppid()}.partial")


def run_job(job: SceneJob) -> Rendered:
    """Render one scene and keep the result in the cache (or staged beside its
    target, when the cache is off); :func:`render_jobs` moves it into place
    once the gate has verified what the scene looked up.

    Meant to run in a fresh process (see :func:`local_executor`): the formulas,
    claims and source files recorded here become the scene's cache key, and
    what it looked up is what the gate verifies.
    """
    from nnmath import registry

    from .cache import recorded_dependencies

    _validate(job.quality, job.fmt)
    check_tools()
    start = time.perf_counter()
    fresh = job.module not in sys.modules
    target = Path(job.target)
    with tempfile.TemporaryDirectory(prefix="nnbook-render-") as media:
        with registry.recording() as used:
            produced = _manim_render(job, media)
        if not fresh:  # imported earlier in this process: lookups may be missed
            used |= {("formula", n, ()) for n in registry.names()}
            used |= {("claim", n, ()) for n in registry.claim_names()}
        if job.cache:
            extra = (Path(job.path).resolve().parent,) if job.path else ()
            deps = recorded_dependencies(used, extra)
            staged = SceneCache(Path(job.cache)).store(
                job.request, produced, deps, time.perf_counter() - start)
        else:
            staged = _staging(target)
            atomic_copy(produced, staged)
    return Rendered(job, target, time.perf_counter() - start, worker=os.getpid(),
                    uses=frozenset(used), staged=str(staged))


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


# -- running many jobs ---------------------------------------------------------
def _exit_on_sigterm() -> None:
    """Worker initializer: SIGTERM raises SystemExit, so ``finally`` blocks run."""

    def handler(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def local_executor(jobs: int = 1) -> cf.ProcessPoolExecutor:
    """``jobs`` worker processes, each a fresh interpreter that renders one scene."""
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    return cf.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
        max_tasks_per_child=1, initializer=_exit_on_sigterm)


def _sweep_partials(jobs: Sequence[SceneJob]) -> None:
    """Remove temporary files left by a render that was killed outright (SIGKILL)."""
    for folder in {Path(j.target).parent for j in jobs}:
        for p in folder.glob(".*.partial") if folder.is_dir() else ():
            pid = p.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not _alive(int(pid)):
                p.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _from_cache(job: SceneJob) -> tuple[Rendered | None, str]:
    start = time.perf_counter()
    cache = SceneCache(Path(job.cache))
    blob, reason = cache.lookup(job.request)
    if blob is None:
        return None, reason
    deps = cache.recorded(job.request)
    return Rendered(job, Path(job.target), time.perf_counter() - start, cached=True,
                    uses=frozenset(deps.uses()) if deps else frozenset(),
                    staged=str(blob)), ""


def _place(r: Rendered) -> Rendered:
    """Move a gated result into place: copy a cache object, or rename a staged
    file, onto the target (atomically either way)."""
    staged, target = Path(r.staged), r.path
    if staged.parent == target.parent:  # staged beside the target: the cache is off
        os.replace(staged, target)
    elif not target.is_file() or file_sha(target) != staged.name:
        atomic_copy(staged, target)
    return dataclasses.replace(r, staged="")


def _discard(results: Sequence[Rendered]) -> None:
    """Remove files staged beside their targets (cache objects stay: they are
    valid renders, only not gated into place)."""
    for r in results:
        if r.staged and Path(r.staged).parent == r.path.parent:
            Path(r.staged).unlink(missing_ok=True)


def _chapters_of(jobs: Sequence[SceneJob]) -> dict[tuple[str, str], Chapter]:
    """The chapter of each job's module (a book chapter, or a chapter file)."""
    from . import load_file

    found: dict[tuple[str, str], Chapter] = {}
    for job in jobs:
        key = (job.module, job.path)
        if key not in found:
            found[key] = (load_file(job.path) if job.path
                          else importlib.import_module(job.module).CHAPTER)
    return found


#: seconds a stopped worker gets to clean up before it is killed
GRACE = 10.0


def _stop(executor: cf.Executor) -> None:
    """Cancel what has not started and stop the workers.

    Each worker turns SIGTERM into SystemExit, so its ``finally`` blocks remove
    its temporary files.  A worker that then hangs while handing its exception
    back to a pool that no longer reads it is killed after :data:`GRACE`.
    """
    from multiprocessing.connection import wait

    processes = [p for p in getattr(executor, "_processes", {}).values() if p.is_alive()]
    for p in processes:
        p.terminate()
    wait([p.sentinel for p in processes], timeout=GRACE)
    for p in processes:
        if p.is_alive():
            p.kill()
    executor.shutdown(wait=True, cancel_futures=True)


#: ``on_progress(rendered, done, total)``, called after each scene
Progress = Callable[[Rendered, int, int], None]


def render_jobs(
    jobs: Sequence[SceneJob],
    *,
    executor: cf.Executor | None = None,
    workers: int = 1,
    force: bool = False,
    on_progress: Progress | None = None,
    verify: bool = True,
    on_verified: Verified | None = None,
) -> list[Rendered]:
    """Run ``jobs``: cached ones are taken from the cache, the rest are rendered,
    and everything passes the gate before it is moved into place.

    The gate (:func:`chapters.verification.gate`) verifies each chapter's
    declared formulas and claims before any scene runs, and then everything its
    scenes looked up (recorded while they rendered, or in their cache entries)
    before any file reaches its target; a failure raises
    :class:`~chapters.verification.GateError` and nothing of that batch is placed.
    ``verify=False`` (``--no-verify``) skips it.  Verifications are cached by
    content, so an unchanged chapter is not verified again.

    ``executor`` is any process-based :class:`concurrent.futures.Executor`
    (Dask's ``client.get_executor()`` qualifies); by default a local pool of
    ``workers`` processes.  An executor passed in is left running.  Results come
    back in job order; on an error or interrupt the remaining jobs are cancelled.
    """
    from .verification import gate

    check_tools()  # fail before the first scene, not in the middle
    _sweep_partials(jobs)
    books = _chapters_of(jobs) if verify else {}
    for key, chapter in books.items():  # the declared maths, before any scene runs
        cache = next((Path(j.cache) for j in jobs
                      if (j.module, j.path) == key and j.cache), None)
        gate(chapter, cache, force=force, on_verified=on_verified)
    results = _run(jobs, executor, workers, force, on_progress)
    try:
        for key, chapter in books.items():  # what the scenes really looked up
            mine = [r for r in results if (r.job.module, r.job.path) == key]
            cache = next((Path(r.job.cache) for r in mine if r.job.cache), None)
            gate(chapter, cache, uses={r.job.scene: r.uses for r in mine}, force=force,
                 on_verified=on_verified)
        return [_place(r) for r in results]
    finally:
        _discard(results)


def _run(jobs: Sequence[SceneJob], executor: cf.Executor | None, workers: int,
         force: bool, on_progress: Progress | None) -> list[Rendered]:
    """Every job's result, from the cache or rendered, not yet in place."""
    results: dict[int, Rendered] = {}
    reasons: dict[int, str] = {}
    done = 0
    for i, job in enumerate(jobs):
        if job.cache and not force:
            hit, reason = _from_cache(job)
            if hit is not None:
                results[i] = hit
                done += 1
                if on_progress:
                    on_progress(hit, done, len(jobs))
                continue
            reasons[i] = reason
        else:
            reasons[i] = "--force" if force else "cache off"
    todo = [i for i in range(len(jobs)) if i not in results]
    if not todo:
        return [results[i] for i in range(len(jobs))]
    own = executor is None
    pool = local_executor(workers) if own else executor
    try:
        futures = {pool.submit(run_job, jobs[i]): i for i in todo}
        for future in cf.as_completed(futures):
            i = futures[future]
            results[i] = dataclasses.replace(future.result(), reason=reasons[i])
            done += 1
            if on_progress:
                on_progress(results[i], done, len(jobs))
    except BaseException:
        if own:
            _stop(pool)
        else:
            for f in futures:
                f.cancel()
        _discard(list(results.values()))
        raise
    if own:
        pool.shutdown(wait=True)
    return [results[i] for i in range(len(jobs))]


def render_scene(
    chapter: Chapter,
    scene_name: str,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    cache: bool = True,
    verify: bool = True,
) -> Path:
    """Render one scene of ``chapter`` through the gate; return the path of the
    finished file.

    >>> render_scene(chapters.get("1"), "NeuronScene", quality="l")  # doctest: +SKIP
    PosixPath('.../media/chapter1/NeuronScene.mp4')
    """
    job = scene_job(chapter, scene_name, quality=quality, fmt=fmt, out_dir=out_dir,
                    cache=cache)
    return render_jobs([job], verify=verify)[0].path


def render_chapters(
    chapters: Sequence[Chapter],
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    **run,
) -> list[Rendered]:
    """Render every scene of ``chapters`` as one batch of jobs (so ``workers``
    run scenes of different chapters side by side), through the gate; ``run``
    goes to :func:`render_jobs` (``verify``, ``on_verified``, ``workers``, …).
    Results are in book order."""
    jobs = [scene_job(ch, s, quality=quality, fmt=fmt, out_dir=out_dir)
            for ch in chapters for s in ch.scenes]
    return render_jobs(jobs, **run)
