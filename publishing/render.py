"""Render a chapter's scenes to video files.

Each scene is an independent :class:`SceneJob` run by :func:`run_job`, a plain
function of picklable arguments.  :func:`render_jobs` hands the jobs to an
executor — any :class:`concurrent.futures.Executor` whose workers are processes:
by default a local pool that starts a fresh interpreter per scene; a Dask or Ray
executor can be passed instead without touching the chapters.

A fresh process per scene is what makes the cache exact: while the scene renders,
the registry records every formula and claim it looks up and ``sys.modules``
every source file it imports (see :mod:`publishing.cache`).

Manim renders into a throw-away media directory; the finished file is kept in
the cache (or staged beside its destination under a hidden temporary name), and
only after the gate (:func:`publishing.gate.gate`) has verified what the
chapter declares *and* what its scenes looked up is it moved into place with
``os.replace``: no render reaches ``media/`` ungated, and an interrupted render
never leaves a half-written file where a good one was.  The local executor
(:mod:`publishing.processes`) starts one process per scene and stops them all at
once on Ctrl-C or SIGTERM; a scene whose process dies fails alone, and the
others finish.  What a killed run left
(temporary folders, ``*.partial`` files) is removed by the next.  LaTeX runs
with file access limited to the scene's temporary folder and no shell escape.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import importlib
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chapters import theme as themes
from chapters.base import Chapter

from .cache import (
    CacheError,
    DamagedError,
    SceneCache,
    atomic_copy,
    cache_root,
    file_sha,
    sweep_partials,
    sweep_temp,
    temp_folder,
    writable_cache,
)
from .gate import Verified
from .tools import RenderError, check_tools

__all__ = [
    "FORMATS",
    "MAX_WORKERS",
    "QUALITIES",
    "RenderError",
    "RenderFailed",
    "SceneJob",
    "Rendered",
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
#: the format of a scene rendered for ``nnbook slides``: one video per slide and
#: manim-slides' description of them, packed in one file (see publishing.slides)
SLIDES = "slides"


#: the most scenes rendered at once (each process holds Manim and its frames,
#: a few hundred MB); more is a usage error, not an out-of-memory machine
MAX_WORKERS = 64


class RenderFailed(RenderError):
    """Some scenes failed and the others finished: ``rendered`` holds every result
    (a failed one has ``error`` set), ``failed`` the failed ones."""

    def __init__(self, rendered: list[Rendered]):
        self.rendered = rendered
        self.failed = [r for r in rendered if r.error]
        more = f" (and {len(self.failed) - 1} more)" if len(self.failed) > 1 else ""
        super().__init__(
            f"{len(self.failed)} of {len(rendered)} scenes failed: "
            f"{self.failed[0].error}{more}"
        )


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
    #: the colour theme (:data:`chapters.theme.THEMES`)
    theme: str = themes.DEFAULT

    @property
    def label(self) -> str:
        where = Path(self.path).name if self.path else self.module.rsplit(".", 1)[-1]
        return f"{where}/{self.scene}"

    @property
    def request(self) -> dict:
        """What names this render in the cache (the target folder does not)."""
        return {
            "module": self.module,
            "path": self.path,
            "scene": self.scene,
            "quality": self.quality,
            "format": self.fmt,
            "theme": self.theme,
        }


@dataclass(frozen=True)
class Rendered:
    """A finished job: where its file is, how long it took, whether it was cached."""

    job: SceneJob
    path: Path
    seconds: float
    cached: bool = False
    reason: str = ""  # why it was (re-)rendered
    worker: int = 0  # the process that rendered it
    error: str = ""  # why it failed ("" if it did not); then ``path`` was not written
    note: str = ""  # e.g. why it could not be kept in the cache
    #: what the scene looked up while it rendered: ("formula", name, params) and
    #: ("claim", name, ()), as :func:`nnmath.registry.recording` collects them
    uses: frozenset = frozenset()
    #: where the finished file waits for the gate (a cache object, or a hidden
    #: file beside the target), and its SHA-256; empty once it is in place
    staged: str = ""
    sha: str = ""


def _validate(quality: str, fmt: str, theme: str = themes.DEFAULT) -> None:
    themes.get(theme)  # a ValueError naming the valid themes
    if quality not in QUALITIES:
        raise ValueError(
            f"invalid quality {quality!r}; valid: {', '.join(QUALITIES)} "
            "(low, medium, high, production, 4k)"
        )
    if fmt not in FORMATS and fmt != SLIDES:
        raise ValueError(f"invalid format {fmt!r}; valid: {', '.join(FORMATS)}")


def scene_job(
    chapter: Chapter,
    scene_name: str,
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    cache: bool = True,
    theme: str = themes.DEFAULT,
) -> SceneJob:
    """The job that renders ``scene_name`` to ``out_dir/<chapter id>/<scene>.<fmt>``
    in the colour theme ``theme``."""
    _validate(quality, fmt, theme)
    if scene_name not in chapter.scenes:
        raise ValueError(
            f"{chapter.id} has no scene {scene_name!r}; "
            f"valid: {', '.join(chapter.scenes)}"
        )
    target = Path(out_dir) / chapter.id / f"{scene_name}.{fmt}"
    return SceneJob(
        chapter.module,
        scene_name,
        quality,
        fmt,
        str(target.absolute()),
        chapter.path,
        str(cache_root(out_dir).absolute()) if cache else "",
        theme,
    )


def _scene_class(job: SceneJob):
    from chapters import load_module

    from .processes import Stopped

    try:
        return getattr(load_module(job.module, job.path), job.scene)
    except (KeyboardInterrupt, Stopped):
        raise
    except BaseException as exc:  # the chapter file's own error, or sys.exit in it
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise RenderError(
            f"cannot load scene {job.label}: {type(exc).__name__}: {first}"
        ) from exc


@contextmanager
def _latex_confined(folder: str) -> Iterator[None]:
    """While Manim renders: LaTeX may read and write only in ``folder`` (Manim
    hands it absolute paths there), and may run no shell command."""
    from .texsvg import tex_environment

    confined = tex_environment(Path(folder))
    keys = ("openin_any", "openout_any", "shell_escape", "TEXMFOUTPUT")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update({k: confined[k] for k in keys})
    try:
        with _without_dev_null_notice():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: what TeX says, for every equation, when Manim's template (the standalone
#: class asks whether /dev/null exists, to tell Unix from Windows) meets the
#: confinement: true, harmless, and not worth a line
_DEV_NULL = b"latex: Not reading from /dev/null (openin_any = p)."


@contextmanager
def _without_dev_null_notice() -> Iterator[None]:
    """Standard error (file descriptor 2, which LaTeX inherits) without the
    :data:`_DEV_NULL` notice and the blank line before it; all else passes."""
    sys.stderr.flush()
    read, write = os.pipe()
    real = os.dup(2)
    os.dup2(write, 2)
    os.close(write)

    def pump() -> None:
        blank = False
        with os.fdopen(read, "rb") as lines:
            for line in lines:
                text = line.rstrip(b"\r\n")
                if text == _DEV_NULL:
                    blank = False
                    continue
                if blank:
                    os.write(real, b"\n")
                blank = text == b""
                if not blank:
                    os.write(real, line)
        if blank:
            os.write(real, b"\n")

    thread = threading.Thread(target=pump, daemon=True, name="stderr-filter")
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(real, 2)  # the pipe's last writer closes: the pump reads its end
        thread.join(5)
        os.close(real)


def _manim_render(job: SceneJob, media: str) -> Path:
    """Render with Manim into ``media``; return the file it produced."""
    theme = themes.get(job.theme)
    settings = {
        "background_color": theme.background,
        "verbosity": "ERROR",
        "progress_bar": "none",
        "log_to_file": False,
        "quality": QUALITIES[job.quality],
        "format": "mp4" if job.fmt == SLIDES else job.fmt,
        "media_dir": media,
        "disable_caching": True,
        "preview": False,
        "output_file": job.scene,
    }
    # the theme before the chapter's module is imported: its colours are the
    # theme's roles, looked up as the module and the scene ask
    with themes.using(theme.name):
        return _render_in_theme(job, media, theme, settings)


def _render_in_theme(job: SceneJob, media: str, theme, settings: dict) -> Path:
    from manim import tempconfig  # imported late: Manim is slow to import

    from .processes import Stopped

    with _latex_confined(media):  # also while the chapter's module is imported
        scene_class = _scene_class(job)
    try:
        with tempconfig(settings), _latex_confined(media):
            themes.apply_to_manim(theme)  # what the scene leaves uncoloured
            if job.fmt == SLIDES:
                from .slides import render_slides

                produced = render_slides(scene_class, job.scene, Path(media))
            else:
                scene = scene_class()
                scene.render()
                writer = scene.renderer.file_writer
                produced = (
                    writer.image_file_path
                    if job.fmt == "png"
                    else writer.movie_file_path
                )
    except (KeyboardInterrupt, Stopped, RenderError):
        raise
    except SystemExit as exc:  # sys.exit() in the scene's code
        raise RenderError(
            f"rendering {job.label} failed: the scene called sys.exit({exc.code!r})"
        ) from exc
    except Exception as exc:  # Manim raises anything from ValueError to OSError
        raise RenderError(_explain(job, exc)) from exc
    if not Path(produced).is_file():
        raise RenderError(f"rendering {job.label} produced no file at {produced}")
    return Path(produced)


def _staging(target: Path) -> Path:
    """A hidden name beside ``target`` for a finished file awaiting the gate.

    It carries the host and pid of the process that will place it (the worker's
    parent), so :func:`publishing.cache.sweep_partials` removes it only once that
    process is gone.
    """
    from .cache import _HOST

    return target.with_name(f".{target.name}.staged.{_HOST}.{os.getppid()}.partial")


#: the scenes this process has rendered: after the first, a memo anywhere may
#: hold what a later scene would look up
_RENDERED: list[str] = []


def run_job(job: SceneJob) -> Rendered:
    """Render one scene and keep the result in the cache (or staged beside its
    target, when the cache is off or cannot be written); :func:`render_jobs`
    moves it into place once the gate has verified what the scene looked up.

    Meant to run in a fresh process (see :func:`local_executor`): the formulas,
    claims and source files recorded here become the scene's cache key, and
    what it looked up is what the gate verifies.
    """
    from nnmath import registry
    from nnmath.kernels import keep_freed_memory

    from .cache import recorded_dependencies

    fresh = job.module not in sys.modules and not _RENDERED
    if not fresh and not multiprocessing.current_process().daemon:
        # a reused worker (a process pool's, a cluster's): what importing the
        # chapter looked up, and whatever a memo kept from an earlier scene of
        # any chapter (a trained network), would be missing from this scene's
        # recording; a fresh interpreter records it all
        from .processes import FreshProcesses

        with FreshProcesses(1, stdout_to_stderr=True, grace=GRACE) as fresh_one:
            return fresh_one.submit(run_job, job).result()
    keep_freed_memory()  # a worker evaluates formulas in bulk (chapter 8 trains)
    _validate(job.quality, job.fmt, job.theme)
    check_tools()
    start = time.perf_counter()
    target = Path(job.target)
    note, staged = "", None
    with temp_folder("render") as media:
        with registry.recording() as used:
            _RENDERED.append(job.label)
            produced = _manim_render(job, media)
        if not fresh:  # a daemon cannot start a fresh interpreter: assume
            # the scene looked up everything (the gate then verifies it all)
            used |= {("formula", n, ()) for n in registry.names()}
            used |= {("claim", n, ()) for n in registry.claim_names()}
        sha = file_sha(produced)
        if job.cache:
            extra = (Path(job.path).resolve().parent,) if job.path else ()
            deps = recorded_dependencies(used, extra)
            cache = SceneCache(Path(job.cache))
            try:
                cache.store(job.request, produced, deps, time.perf_counter() - start)
                staged = cache.object(sha)
            except OSError as exc:  # a full disk: keep the render, lose the cache
                note = f"not cached: {exc.strerror or exc}"
        if staged is None:
            staged = _staging(target)
            try:
                atomic_copy(produced, staged, sha=sha)
            except OSError as exc:
                raise RenderError(
                    f"rendering {job.label} failed: cannot write "
                    f"{staged.parent} ({exc.strerror or exc})"
                ) from None
    return Rendered(
        job,
        target,
        time.perf_counter() - start,
        worker=os.getpid(),
        note=note,
        uses=frozenset(used),
        staged=str(staged),
        sha=sha,
    )


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
def local_executor(jobs: int = 1):
    """``jobs`` worker processes, a fresh interpreter per scene (see
    :class:`publishing.processes.FreshProcesses`); what a scene prints goes to
    standard error, never into the command's list of written files."""
    from .processes import FreshProcesses

    _check_workers(jobs)
    return FreshProcesses(jobs, stdout_to_stderr=True, grace=GRACE)


def _check_workers(jobs) -> None:
    if (
        isinstance(jobs, bool)
        or not isinstance(jobs, int)
        or not 1 <= jobs <= MAX_WORKERS
    ):
        raise ValueError(
            f"--jobs must be a whole number from 1 to {MAX_WORKERS}, got {jobs!r}"
        )


def _from_cache(job: SceneJob) -> tuple[Rendered | None, str]:
    start = time.perf_counter()
    cache = SceneCache(Path(job.cache))
    blob, reason = cache.lookup(job.request)
    if blob is None:
        return None, reason
    deps = cache.recorded(job.request)
    return Rendered(
        job,
        Path(job.target),
        time.perf_counter() - start,
        cached=True,
        uses=frozenset(deps.uses()) if deps else frozenset(),
        staged=str(blob),
        sha=blob.name,
    ), ""


def _place(r: Rendered) -> Rendered:
    """Move a gated result into place: copy a cache object (checked against its
    SHA: another machine sharing the cache may have damaged it), or rename a
    staged file, onto the target (atomically either way)."""
    staged, target = Path(r.staged), r.path
    try:
        if staged.parent == target.parent:  # staged beside the target
            os.replace(staged, target)
        elif not target.is_file() or file_sha(target) != r.sha:
            atomic_copy(staged, target, sha=r.sha)
    except DamagedError:
        raise RenderError(
            f"{r.job.label}: the cached file {staged} was damaged after "
            "it was checked (a shared cache?); run again to re-render "
            "it"
        ) from None
    except OSError as exc:  # a full disk, a folder in the way
        raise RenderError(f"cannot write {target} ({exc.strerror or exc})") from None
    return dataclasses.replace(r, staged="")


def _discard(results) -> None:
    """Remove files staged beside their targets (cache objects stay: they are
    valid renders, only not gated into place)."""
    for r in results:
        if r.staged and Path(r.staged).parent == r.path.parent:
            Path(r.staged).unlink(missing_ok=True)


def _chapters_of(jobs: Sequence[SceneJob]) -> dict[tuple[str, str], Chapter]:
    """The chapter of each job's module (a book chapter, or a chapter file)."""
    from chapters import load_file

    found: dict[tuple[str, str], Chapter] = {}
    for job in jobs:
        key = (job.module, job.path)
        if key not in found:
            found[key] = (
                load_file(job.path)
                if job.path
                else importlib.import_module(job.module).CHAPTER
            )
    return found


#: seconds a stopped worker gets to clean up (its temporary folder, its partial
#: file) before it is killed; then the parent cleans up after it
GRACE = 1.0


def _stop(executor: cf.Executor, futures) -> None:
    """Cancel what has not started and stop the workers at once."""
    terminate = getattr(executor, "terminate", None)
    if terminate is not None:
        terminate()
        sweep_temp()  # the folders of workers that had to be killed
    else:
        for f in futures:
            f.cancel()


def _failure(job: SceneJob, exc: BaseException) -> str:
    """One line naming the scene: what went wrong."""
    from .cluster import ClusterError
    from .processes import WorkerDied

    if isinstance(exc, RenderError):
        return str(exc)
    if isinstance(exc, (WorkerDied, ClusterError)):
        return f"rendering {job.label} failed: {exc}"
    if isinstance(exc, cf.BrokenExecutor):  # a foreign pool lost a worker
        return f"rendering {job.label} failed: its worker process died ({exc})"
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"rendering {job.label} failed: {type(exc).__name__}: {first}"


def _sweep(jobs: Sequence[SceneJob]) -> None:
    """Remove what a killed run left: temporary folders, ``*.partial`` files."""
    sweep_temp()
    folders = {Path(j.target).parent for j in jobs}
    for root in {Path(j.cache) for j in jobs if j.cache}:
        folders |= {
            root,
            *(root / sub for sub in ("objects", "entries", "derived", "verify", "tex")),
        }
    for folder in folders:
        sweep_partials(folder)


def _caches_usable(jobs: Sequence[SceneJob]) -> None:
    for root in {j.cache for j in jobs if j.cache}:
        try:
            writable_cache(Path(root))
        except CacheError as exc:
            raise RenderError(f"cannot render: the cache {root} {exc}") from None


#: ``on_progress(rendered, done, total)``, called after each scene (a failed one
#: has ``rendered.error`` set)
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

    The gate (:func:`publishing.gate.gate`) verifies each chapter's
    declared formulas and claims before any scene runs, and then everything its
    scenes looked up (recorded while they rendered, or in their cache entries)
    before any file reaches its target; a failure raises
    :class:`~publishing.gate.GateError` and nothing of that batch is placed.
    ``verify=False`` (``--no-verify``) skips it.  Verifications are cached by
    content, so an unchanged chapter is not verified again.

    ``executor`` is any process-based :class:`concurrent.futures.Executor`
    (:class:`publishing.cluster.DaskExecutor` runs the jobs on a Dask cluster);
    by default a local pool of ``workers`` processes.  An executor passed in is
    left running.  Results come back in job order.  A scene that fails does not
    stop the others; when all have finished, the others are placed and
    :class:`RenderFailed` names the failures.  On an interrupt (Ctrl-C,
    SIGTERM) nothing more starts and every worker is stopped at once.
    """
    from .gate import gate

    if executor is None:
        _check_workers(workers)  # a usage error before any work
    check_tools()  # fail before the first scene, not in the middle
    _caches_usable(jobs)
    _sweep(jobs)
    books = _chapters_of(jobs) if verify else {}
    for key, chapter in books.items():  # the declared maths, before any scene runs
        cache = next(
            (Path(j.cache) for j in jobs if (j.module, j.path) == key and j.cache), None
        )
        gate(chapter, cache, force=force, on_verified=on_verified)
    results = _run(jobs, executor, workers, force, on_progress)
    done = [r for r in results if not r.error]
    try:
        for key, chapter in books.items():  # what the scenes really looked up
            mine = [r for r in done if (r.job.module, r.job.path) == key]
            cache = next((Path(r.job.cache) for r in mine if r.job.cache), None)
            gate(
                chapter,
                cache,
                uses={r.job.scene: r.uses for r in mine},
                force=force,
                on_verified=on_verified,
            )
        placed = [r if r.error else _place(r) for r in results]
    finally:
        _discard(done)
    if any(r.error for r in placed):
        raise RenderFailed(placed)
    return placed


def _run(
    jobs: Sequence[SceneJob],
    executor: cf.Executor | None,
    workers: int,
    force: bool,
    on_progress: Progress | None,
) -> list[Rendered]:
    """Every job's result, from the cache or rendered, not yet in place; a
    failed scene has ``error`` set."""
    results: dict[int, Rendered] = {}
    reasons: dict[int, str] = {}
    done = 0

    def finish(i: int, r: Rendered) -> None:
        nonlocal done
        results[i] = r
        done += 1
        if on_progress:
            on_progress(r, done, len(jobs))

    for i, job in enumerate(jobs):
        if job.cache and not force:
            hit, reason = _from_cache(job)
            if hit is not None:
                finish(i, hit)
                continue
            reasons[i] = reason
        else:
            reasons[i] = "--force" if force else "cache off"
    todo = [i for i in range(len(jobs)) if i not in results]
    if not todo:
        return [results[i] for i in range(len(jobs))]
    own = executor is None
    pool = local_executor(workers) if own else executor
    futures: dict[cf.Future, int] = {}
    try:
        futures = {pool.submit(run_job, jobs[i]): i for i in todo}
        for future in cf.as_completed(futures):
            i = futures[future]
            try:
                r = future.result()
            except Exception as exc:  # this scene failed; the others go on
                finish(
                    i,
                    Rendered(
                        jobs[i],
                        Path(jobs[i].target),
                        0.0,
                        reason=reasons[i],
                        error=_failure(jobs[i], exc),
                    ),
                )
                continue
            finish(i, dataclasses.replace(r, reason=reasons[i]))
    except BaseException:
        from .processes import signals_held

        with signals_held():
            _stop(pool, futures)
            _discard(list(results.values()))
            if own:
                _sweep(jobs)
        raise
    if own:
        pool.shutdown(wait=True)
        sweep_temp()  # the folder of a worker that died hard (OOM, segfault)
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
    theme: str = themes.DEFAULT,
) -> Path:
    """Render one scene of ``chapter`` through the gate; return the path of the
    finished file.

    >>> render_scene(chapters.get("1"), "NeuronScene", quality="l")  # doctest: +SKIP
    PosixPath('.../media/chapter1/NeuronScene.mp4')
    """
    job = scene_job(
        chapter,
        scene_name,
        quality=quality,
        fmt=fmt,
        out_dir=out_dir,
        cache=cache,
        theme=theme,
    )
    return render_jobs([job], verify=verify)[0].path


def render_chapters(
    chapters: Sequence[Chapter],
    *,
    quality: str = "l",
    fmt: str = "mp4",
    out_dir: Path = Path("media"),
    theme: str = themes.DEFAULT,
    **run,
) -> list[Rendered]:
    """Render every scene of ``chapters`` as one batch of jobs (so ``workers``
    run scenes of different chapters side by side), through the gate; ``run``
    goes to :func:`render_jobs` (``verify``, ``on_verified``, ``workers``, …).
    Results are in book order."""
    jobs = [
        scene_job(ch, s, quality=quality, fmt=fmt, out_dir=out_dir, theme=theme)
        for ch in chapters
        for s in ch.scenes
    ]
    return render_jobs(jobs, **run)
