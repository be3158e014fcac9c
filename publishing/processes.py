"""A fresh process per call, that stops at once when told to.

:class:`concurrent.futures.ProcessPoolExecutor` is the obvious tool, but not for
work that must stop on Ctrl-C: calls it has already queued for its workers start
on a fresh worker while it shuts down (a render went on for 12–33 s after the
signal, finishing one or two more scenes), and one worker that dies hard (the
OOM killer, a segfault, ``os._exit``) breaks the whole pool with
``BrokenProcessPool``.  :class:`FreshProcesses` starts one spawned interpreter
(or, asked to and where it is safe, a fork of this process) per call, at most
``max_workers`` at a time, so nothing waits inside a worker; a
worker that dies fails only its own call (:class:`WorkerDied`, saying how it
died); and :meth:`FreshProcesses.terminate` cancels every call not yet started
and stops every worker — also one started a moment before, since starting and
stopping take the same lock.

A worker turns SIGTERM into :class:`Stopped`, so its ``finally`` blocks (and
temporary folders) are cleaned up, and it is killed if it has not exited after
``grace`` seconds.  Workers start with SIGINT blocked: Ctrl-C reaches every
process of the terminal's group, and the parent alone decides what stops (a
worker interrupted while its interpreter starts would print a traceback).  It
asks Linux to send it SIGTERM when the thread that started it goes
(``PR_SET_PDEATHSIG``; elsewhere a thread watches the parent process id), so a
worker whose parent was killed outright does not render on.
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import wait

__all__ = [
    "FreshProcesses",
    "RemoteTraceback",
    "Stopped",
    "WorkerDied",
    "signals_held",
]


class WorkerDied(RuntimeError):
    """A call whose process ended without an answer; the message says how."""


class Stopped(BaseException):
    """Raised in a worker by SIGTERM (or its parent's death): stop, clean up, exit."""


class RemoteTraceback(Exception):
    """A worker's traceback, as text: the ``__cause__`` of the error it raised."""

    def __str__(self) -> str:
        return str(self.args[0])


def how_it_ended(exitcode: int | None) -> str:
    """``exit code 3`` or ``killed by SIGKILL (out of memory?)``."""
    if exitcode is None:
        return "still running"
    if exitcode >= 0:
        return f"exit code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:
        name = f"signal {-exitcode}"
    hint = {
        "SIGKILL": " (out of memory, or killed)",
        "SIGSEGV": " (a crash in native code)",
        "SIGABRT": " (a crash in native code)",
    }.get(name, "")
    return f"killed by {name}{hint}"


# -- in the worker ----------------------------------------------------------------
#: what the thread that starts workers blocks, so that they start with it blocked
_HELD = {signal.SIGINT, signal.SIGTERM}


#: set once :class:`Stopped` is raised: the worker is stopping
_stopping = threading.Event()


def _stop_on_sigterm(signum, frame):
    """Raise :class:`Stopped` once.  A second SIGTERM (the parent's, after its own
    death signal, or a repeat) must not interrupt the clean-up the first one
    started: Manim, aborting a scene, logs a traceback for an exception raised
    while it drains its encoders.  ``grace`` seconds later the parent kills."""
    if _stopping.is_set():
        return
    _stopping.set()
    raise Stopped(f"stopped by {signal.Signals(signum).name}")


def _unraisable(hook):
    """``sys.unraisablehook`` for a worker: a :class:`Stopped` raised while Python
    ran a finalizer or a weakref callback is swallowed there; deliver it again a
    moment later (from a thread: not inside the hook), so the worker stops at its
    next line instead of when it is killed."""

    def again(info) -> None:
        if isinstance(info.exc_value, Stopped):
            _stopping.clear()  # swallowed: nothing is stopping yet
            threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGTERM)).start()
            return
        hook(info)

    return again


def _follow_parent(parent: int) -> None:
    """Get SIGTERM when the parent goes, so an orphan does not work on."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0) == 0:
            if os.getppid() != parent:  # the parent went before prctl took effect
                os.kill(os.getpid(), signal.SIGTERM)
            return

    def watch() -> None:  # elsewhere: look every half second
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _fresh_streams() -> None:
    """A forked worker's own standard output and error.  The inherited ones
    carry the state of the parent's at the fork, the lock of each included:
    one that another of the parent's threads held then stays held here for
    good (CPython's issue 84579).  multiprocessing flushes the streams just
    before it forks, which leaves that window narrow; the worker never
    touches them, which closes it."""
    sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115


def _worker(
    conn, parent: int, stdout_to_stderr: bool, forked: bool, fn, args, kwargs
) -> None:
    try:
        if forked:
            _fresh_streams()
        signal.signal(signal.SIGTERM, _stop_on_sigterm)
        sys.unraisablehook = _unraisable(sys.unraisablehook)
        if hasattr(signal, "pthread_sigmask"):  # SIGINT stays blocked (see above)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _follow_parent(parent)
        if stdout_to_stderr:  # what the work prints must not mix into the parent's
            sys.stdout.flush()
            os.dup2(2, 1)
        try:
            message = ("ok", fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - every ending is reported
            message = ("error", exc, traceback.format_exc())
        try:
            conn.send(message)
        except Exception as exc:  # noqa: BLE001 - an answer that does not pickle
            error = message[1] if message[0] == "error" else exc
            conn.send(
                (
                    "error",
                    RuntimeError(f"{type(error).__name__}: {error}"),
                    message[2] if message[0] == "error" else "",
                )
            )
    except BaseException:  # noqa: BLE001, S110 - stopped while answering: nobody listens
        pass
    finally:
        conn.close()
    # the answer is sent and every file closed: skip tearing down the interpreter
    # (Manim, NumPy, SymPy: about half a second), so that a stopped worker is gone
    # at once.  What a multiprocessing child runs at its exit still runs: it
    # releases the semaphores libraries made (tqdm's lock), or the resource
    # tracker warns of them as leaked.
    try:
        from multiprocessing import util

        util._exit_function()
    except BaseException:  # noqa: BLE001, S110 - exiting anyway
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001, S110 - a closed stream has nothing to flush
            pass
    os._exit(0)


# -- in the parent ----------------------------------------------------------------
#: modules that start threads of their own (thread pools in native code), which
#: a forked child would lack while their state says they run
_UNFORKABLE = ("tensorflow", "torch")


def can_fork() -> bool:
    """Whether this process may fork a worker: the platform forks, and no module
    that runs native threads has been imported (TensorFlow's thread pools would
    be copied half-held; a worker that needs TensorFlow imports it itself)."""
    return "fork" in multiprocessing.get_all_start_methods() and not any(
        m in sys.modules for m in _UNFORKABLE
    )


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM (in this thread) for the block: a second Ctrl-C
    must not interrupt the stopping of the workers.  They arrive after it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@dataclass
class _Running:
    future: cf.Future
    process: multiprocessing.process.BaseProcess
    conn: object
    answer: tuple | None = None
    closed: bool = False


@dataclass
class _State:
    queue: deque = field(default_factory=deque)
    running: list = field(default_factory=list)
    closed: bool = False  # no more submissions
    stopping: bool = False  # terminate(): start nothing more


class FreshProcesses(cf.Executor):
    """Each call in a fresh process, at most ``max_workers`` at once.

    ``stdout_to_stderr`` points the workers' standard output at their standard
    error, so what they print never mixes into the parent's output.

    A call runs in a ``spawn``-ed interpreter; with ``fork=True``, in a fork of
    this process where that is safe (see :func:`can_fork`; :attr:`forked`
    says which): a worker then starts in milliseconds with what the parent
    has built (the formula library), not in seconds, so that many small calls
    cost what few large ones do.
    """

    def __init__(
        self,
        max_workers: int = 1,
        *,
        stdout_to_stderr: bool = False,
        grace: float = 1.0,
        fork: bool = False,
    ):
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self._max = max_workers
        self._stdout_to_stderr = stdout_to_stderr
        self.grace = grace
        self.forked = fork and can_fork()
        self._ctx = multiprocessing.get_context("fork" if self.forked else "spawn")
        if self.forked:
            # what exists now is shared with every worker until one writes to
            # it; the collector's full passes would write to all of it (each
            # object's header), copying the parent's whole memory into each.
            # Frozen until every worker has ended (_supervise)
            gc.freeze()
        self._lock = threading.RLock()
        self._state = _State()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        # PR_SET_PDEATHSIG follows the *thread* that started a worker: this one
        # starts them all and outlives them all
        self._thread = threading.Thread(
            target=self._supervise, daemon=True, name="fresh-processes"
        )
        self._thread.start()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        future: cf.Future = cf.Future()
        with self._lock:
            if self._state.closed:
                raise RuntimeError("cannot submit after shutdown")
            self._state.queue.append((future, fn, args, kwargs))
        self._wake()
        return future

    def _wake(self) -> None:
        with self._lock:  # the supervisor closes the pipe under the lock
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except BlockingIOError:
                pass  # already awake

    def _start_queued(self) -> None:
        s = self._state
        while s.queue and len(s.running) < self._max and not s.stopping:
            future, fn, args, kwargs = s.queue.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            here, there = self._ctx.Pipe(duplex=False)
            process = self._ctx.Process(
                target=_worker,
                name="nnbook-worker",
                daemon=True,  # should the parent exit anyway, its atexit stops them
                args=(
                    there,
                    os.getpid(),
                    self._stdout_to_stderr,
                    self.forked,
                    fn,
                    args,
                    kwargs,
                ),
            )
            try:
                process.start()
            except BaseException as exc:  # noqa: BLE001 - the call fails, not the pool
                future.set_exception(exc)
                here.close()
                there.close()
                continue
            there.close()
            s.running.append(_Running(future, process, here))

    def _supervise(self) -> None:
        if hasattr(signal, "pthread_sigmask"):  # this thread's mask only
            signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
        s = self._state
        while True:
            with self._lock:
                self._start_queued()
                if s.closed and not s.queue and not s.running:
                    break
                handles = [self._wake_r]
                for r in s.running:
                    handles.append(r.process.sentinel)
                    if not r.closed:
                        handles.append(r.conn)
            ready = set(wait(handles))
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
            with self._lock:
                for r in list(s.running):
                    if not r.closed and (
                        r.conn in ready or r.process.sentinel in ready
                    ):
                        self._read(r)
                    if r.process.sentinel in ready:
                        r.process.join()
                        self._finish(r)
                        s.running.remove(r)
        with self._lock:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._wake_r = self._wake_w = -1
        if self.forked:
            gc.unfreeze()

    @staticmethod
    def _read(r: _Running) -> None:
        try:
            if r.conn.poll():
                r.answer = r.conn.recv()
        except (EOFError, OSError):
            r.closed = True
        except Exception as exc:  # noqa: BLE001 - an answer that does not unpickle
            r.answer = ("error", exc, "")
            r.closed = True

    def _finish(self, r: _Running) -> None:
        if r.answer is None and not r.closed:
            self._read(r)  # the answer and the exit can arrive together
        r.conn.close()
        if r.future.done():
            return
        if r.answer is None:
            stopped = " after it was told to stop" if self._state.stopping else ""
            r.future.set_exception(
                WorkerDied(
                    f"its process ended without an answer{stopped}: "
                    f"{how_it_ended(r.process.exitcode)}"
                )
            )
        elif r.answer[0] == "ok":
            r.future.set_result(r.answer[1])
        else:
            _, exc, text = r.answer
            if not isinstance(exc, Exception):  # Stopped, SystemExit, Ctrl-C there
                exc = WorkerDied(
                    f"its process was stopped ({type(exc).__name__}: {exc})"
                )
            if text:
                exc.__cause__ = RemoteTraceback(text)
            r.future.set_exception(exc)

    def terminate(self) -> None:
        """Cancel every call not yet started and stop every worker: SIGTERM, then
        SIGKILL after ``grace`` seconds.  Returns when all of them have exited."""
        with self._lock:
            s = self._state
            s.stopping = s.closed = True
            while s.queue:
                s.queue.popleft()[0].cancel()
            processes = [r.process for r in s.running]
        for p in processes:
            if p.exitcode is None:
                p.terminate()
        deadline = time.monotonic() + self.grace
        for p in processes:
            p.join(max(0.0, deadline - time.monotonic()))
        for p in processes:
            if p.exitcode is None:
                p.kill()
        for p in processes:
            p.join()
        self._wake()
        self._thread.join()

    @property
    def pids(self) -> list[int]:
        """The running workers' process ids."""
        with self._lock:
            return [r.process.pid for r in self._state.running]

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._state.closed = True
            if cancel_futures:
                while self._state.queue:
                    self._state.queue.popleft()[0].cancel()
        self._wake()
        if wait:
            self._thread.join()
