"""Where the jobs run: on this machine, or on a ``dask.distributed`` cluster.

``--executor local`` (the default) runs each scene, or batch of checks, in a
fresh process on this machine (:class:`publishing.processes.FreshProcesses`).
``--executor dask://HOST:PORT`` sends them to a Dask scheduler through
``Client.get_executor(pure=False)`` (with ``pure=True`` Dask would merge two
identical calls into one); Dask schedules, retries a call whose worker died
(``KilledWorker`` once it has killed several) and moves the results.  We add
three things around it:

* **A fresh process per call, on the worker too** (:func:`in_fresh_process`).
  A Dask worker is a long-lived process that runs many calls, on several
  threads.  A scene must render in an interpreter of its own: the cache keys on
  the modules it imports, a chapter edited since an earlier call must not render
  from the copy in ``sys.modules``, and Manim's configuration and the LaTeX
  confinement are process-wide.  A worker killed mid-scene takes its fresh
  process with it (it gets SIGTERM when its parent goes, and cleans up).
* **Liveness**: a scheduler that cannot be reached within
  :data:`CONNECT_SECONDS`, that goes away mid-run, or that has had no worker for
  :data:`NO_WORKER_SECONDS`, fails the calls waiting on it with
  :class:`ClusterError` (one line) instead of leaving the run to hang.
* **Quiet**: the client's own log (tracebacks of lost connections) is held back;
  what went wrong reaches the user as one line per failed call.

The calls take only absolute paths and plain values, so a worker on another
machine runs them as this one would, provided ``-o``, ``--media`` and
``NNBOOK_CACHE`` lie on storage every worker sees at the same path, and nnbook
(with the same code) is installed on every worker.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "CONNECT_SECONDS",
    "ClusterError",
    "code_problem",
    "DaskExecutor",
    "ExecutorSpec",
    "LOCAL",
    "NO_WORKER_SECONDS",
    "in_fresh_process",
    "open_executor",
    "parse_executor",
]

#: seconds to reach the scheduler (and to find a worker there) before giving up
CONNECT_SECONDS = 5.0
#: seconds a run waits while the cluster has no worker at all before its
#: waiting calls fail (workers restarting after a crash come back well within)
NO_WORKER_SECONDS = 60.0

_VALID = "local, or dask://HOST:PORT (a dask.distributed scheduler)"


class ClusterError(RuntimeError):
    """The cluster cannot run the work: unreachable, gone, or without workers.
    The message is one line."""


@dataclass(frozen=True)
class ExecutorSpec:
    """What ``--executor`` names: ``local``, or a Dask scheduler's address."""

    kind: str  # "local" or "dask"
    host: str = ""
    port: int = 0

    @property
    def address(self) -> str:
        """The scheduler's address as Dask writes it (``tcp://HOST:PORT``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    def __str__(self) -> str:
        if self.kind == "local":
            return "local"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"dask://{host}:{self.port}"


LOCAL = ExecutorSpec("local")


def parse_executor(text: str) -> ExecutorSpec:
    """``local`` or ``dask://HOST:PORT``; ValueError (one line, saying what is
    valid) for anything else."""
    text = str(text).strip()
    if text == "local":
        return LOCAL
    bad = ValueError(f"{text!r} is not an executor; valid: {_VALID}")
    if not text.startswith("dask://"):
        raise bad
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port that is not a number, or out of range
        raise bad from None
    if (
        not parts.hostname
        or port is None
        or not 1 <= port <= 65535
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise bad
    return ExecutorSpec("dask", parts.hostname, port)


# -- on a worker -----------------------------------------------------------------
def in_fresh_process(fn, /, *args):
    """On a Dask worker: ``fn(*args)`` in a fresh interpreter of its own, as the
    local executor runs it (see the module's docstring for why)."""
    import multiprocessing

    from .processes import FreshProcesses

    # Dask starts its workers as daemonic processes, and multiprocessing refuses
    # children to those, lest they outlive their parent.  Ours cannot: a fresh
    # process gets SIGTERM when the thread that started it goes (processes.py).
    # The flag is this process's own copy: its nanny still stops it as before.
    me = multiprocessing.current_process()
    if me.daemon:
        me.daemon = False
    with FreshProcesses(1, stdout_to_stderr=True) as pool:
        return pool.submit(fn, *args).result()


# -- in the driver -----------------------------------------------------------------
class DaskExecutor(cf.Executor):
    """A :class:`concurrent.futures.Executor` over a Dask client: each call goes
    through ``client.get_executor(pure=False)`` into :func:`in_fresh_process` on
    a worker.  Its futures fail with :class:`ClusterError` when the scheduler
    goes away or no worker is left for :data:`NO_WORKER_SECONDS`.
    ``slots`` is the number of worker threads when it was opened."""

    def __init__(self, client, address: str, *, no_worker_seconds: float):
        self._client = client
        self._inner = client.get_executor(pure=False)
        self._address = address
        self._lock = threading.Lock()
        self._waiting: set[cf.Future] = set()
        self._closed = threading.Event()
        self._no_worker_seconds = no_worker_seconds
        self.slots = max(1, sum(client.nthreads().values()))
        self._watch = threading.Thread(
            target=self._watch_cluster, daemon=True, name="dask-watch"
        )
        self._watch.start()

    def submit(self, fn, /, *args, **kwargs) -> cf.Future:
        if kwargs:  # in_fresh_process passes positional arguments only
            raise TypeError("DaskExecutor.submit takes positional arguments only")
        outer: cf.Future = cf.Future()
        inner = self._inner.submit(in_fresh_process, fn, *args)
        with self._lock:
            self._waiting.add(outer)

        def settle(f: cf.Future) -> None:
            if f.cancelled():  # by us (terminate), or by Dask (a lost scheduler)
                self._settle(outer, None, self._lost("cancelled"))
                return
            exc = f.exception()
            self._settle(outer, None if exc is not None else f.result(), exc)

        def cancel(o: cf.Future) -> None:
            if o.cancelled():
                inner.cancel()

        inner.add_done_callback(settle)
        outer.add_done_callback(cancel)
        return outer

    def _settle(self, outer: cf.Future, result, exc: BaseException | None) -> None:
        with self._lock:
            self._waiting.discard(outer)
            if outer.done():
                return
            if exc is None:
                outer.set_result(result)
            else:
                outer.set_exception(exc)

    def _lost(self, why: str) -> ClusterError:
        status = getattr(self._client, "status", "")
        if why == "cancelled" and status == "running":
            return ClusterError(f"the Dask scheduler at {self._address} cancelled it")
        return ClusterError(
            f"lost the Dask scheduler at {self._address} mid-run; check that "
            "it is running (dask scheduler) and run again"
        )

    def _fail_waiting(self, error: ClusterError) -> None:
        with self._lock:
            waiting = list(self._waiting)
        for f in waiting:
            self._settle(f, None, error)

    def _watch_cluster(self) -> None:
        """Fail what waits when the scheduler is gone or has had no worker for
        too long: Dask itself would wait for ever."""
        empty_since = None
        while not self._closed.wait(1.0):
            status = getattr(self._client, "status", "")
            if status not in ("running", "newly-created"):
                self._fail_waiting(self._lost("gone"))
                continue
            try:
                workers = len(self._client.scheduler_info()["workers"])
            except Exception:  # noqa: BLE001 - a scheduler going away; next round
                continue
            if workers:
                empty_since = None
            elif empty_since is None:
                empty_since = time.monotonic()
            elif time.monotonic() - empty_since > self._no_worker_seconds:
                self._fail_waiting(
                    ClusterError(
                        f"the Dask scheduler at {self._address} has had no worker "
                        f"for {self._no_worker_seconds:.0f} s; start some "
                        "(dask worker) and run again"
                    )
                )

    def terminate(self) -> None:
        """Cancel every call: those not started never start.  A call already
        running on a worker finishes there (Dask does not interrupt a task);
        what it writes is complete or nothing, so nothing half-written is left."""
        with self._lock:
            waiting = list(self._waiting)
        for f in waiting:
            f.cancel()

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            self.terminate()
        self._closed.set()
        self._inner.shutdown(wait=wait)


@contextmanager
def _client_quiet() -> Iterator[list]:
    """Hold back the Dask client's log (a lost connection logs tracebacks):
    what went wrong reaches the user as one line per failed call.  The block
    appends the client to the list it gets; the log comes back only if that
    client closed: one that lost its scheduler goes on trying to reconnect, in
    its own thread, and would log its failure later, into the command's
    output."""
    loggers = [logging.getLogger(n) for n in ("distributed", "tornado", "asyncio")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    clients: list = []
    try:
        yield clients
    finally:
        if all(getattr(c, "status", "closed") == "closed" for c in clients):
            for lg, level in saved:
                lg.setLevel(level)


@contextmanager
def open_executor(
    spec: ExecutorSpec,
    *,
    connect_seconds: float = CONNECT_SECONDS,
    no_worker_seconds: float = NO_WORKER_SECONDS,
) -> Iterator[DaskExecutor | None]:
    """The executor ``spec`` names, for the block: None for ``local`` (the
    library's own local pool, sized by ``-j``), a :class:`DaskExecutor` for a
    scheduler.  :class:`ClusterError` if the scheduler is not reached, or has
    no worker, within ``connect_seconds``, or if a worker does not run the very
    same nnbook code as this process (workers that join later are not asked)."""
    if spec.kind == "local":
        yield None
        return
    with _client_quiet() as clients:
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - a dependency of nnbook
            raise ClusterError(
                "--executor dask://… needs the distributed package "
                "(pip install distributed)"
            ) from None
        try:
            client = Client(spec.address, timeout=connect_seconds, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {spec} within "
                f"{connect_seconds:g} s ({_first_line(exc)}); start it with "
                "`dask scheduler` or check the address"
            ) from None
        clients.append(client)
        try:
            try:
                client.wait_for_workers(1, timeout=connect_seconds)
            except (OSError, TimeoutError):
                raise ClusterError(
                    f"the Dask scheduler at {spec} has no worker (none joined "
                    f"within {connect_seconds:g} s); start some with "
                    f"`dask worker {spec.address}`"
                ) from None
            _check_same_code(client)
            executor = DaskExecutor(
                client, str(spec), no_worker_seconds=no_worker_seconds
            )
            try:
                yield executor
            finally:
                executor.shutdown(wait=False, cancel_futures=True)
        finally:
            _close(client)


#: what each worker evaluates to say which nnbook it runs: a call of a builtin,
#: so that a worker without nnbook can answer too (with ModuleNotFoundError,
#: where a function of ours would fail to unpickle and take the worker down)
_PROBE = "__import__('publishing.reuse', fromlist=['sources_digest']).sources_digest()"


def code_problem(answer, here: str) -> str:
    """What is wrong with a worker whose :data:`_PROBE` gave ``answer`` (its
    digest of nnbook's sources, or the exception it raised), against ``here``
    (ours); "" if nothing: it runs the very same code."""
    if isinstance(answer, ModuleNotFoundError):
        return f"cannot import nnbook ({_first_line(answer)})"
    if isinstance(answer, BaseException):
        return f"cannot run nnbook ({type(answer).__name__}: {_first_line(answer)})"
    if answer != here:
        return "runs other nnbook code than this machine (its source files differ)"
    return ""


def _check_same_code(client) -> None:
    """Every worker runs this very nnbook: results computed by other code would
    be filed in the cache as this code's."""
    from .reuse import sources_digest

    here = sources_digest()
    answers = client.run(eval, _PROBE, on_error="return")
    for worker, answer in sorted(answers.items()):
        problem = code_problem(answer, here)
        if problem:
            raise ClusterError(
                f"the Dask worker {worker} {problem}; install nnbook, the same "
                "version as here, on every worker"
            )


def _close(client) -> None:
    """Close the client without waiting on a scheduler that is gone."""
    try:
        client.close(timeout=2)
    except Exception:  # noqa: BLE001, S110 - closing anyway; nothing to keep
        pass


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
