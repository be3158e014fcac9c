"""The executor behind ``render -j N``: one fresh process per call, stopped at once.

The calls are small standard-library functions (and two helpers here), so these
tests need no Manim: about a second each, spent starting interpreters.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers import run_python
from publishing.processes import FreshProcesses, RemoteTraceback, WorkerDied


def _stubborn(seconds: float) -> None:
    """Ignores being told to stop (a scene that catches everything)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            time.sleep(0.05)
        except BaseException:  # noqa: BLE001, S110 - deliberately deaf
            pass


def _cleans_up(marker: str) -> None:
    """Works until stopped, then takes a second to clean up (a scene whose
    renderer drains its encoders)."""
    try:
        Path(marker + ".started").touch()
        time.sleep(60)
    finally:
        Path(marker + ".stopping").touch()
        time.sleep(1.0)
        Path(marker + ".clean").touch()


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def _pid() -> int:
    return os.getpid()


def test_results_errors_and_each_call_in_its_own_process():
    pool = FreshProcesses(2)
    try:
        pids = [pool.submit(_pid) for _ in range(3)]
        failing = pool.submit(divmod, 1, 0)
        assert len({f.result(timeout=60) for f in pids} | {os.getpid()}) == 4
        with pytest.raises(ZeroDivisionError) as info:
            failing.result(timeout=60)
        assert isinstance(info.value.__cause__, RemoteTraceback)
        assert "ZeroDivisionError" in str(info.value.__cause__)
    finally:
        pool.shutdown()


def test_a_process_that_dies_fails_its_call_alone():
    pool = FreshProcesses(1)
    try:
        dead, fine = pool.submit(os._exit, 3), pool.submit(abs, -2)
        with pytest.raises(WorkerDied, match="ended without an answer: exit code 3"):
            dead.result(timeout=60)
        assert fine.result(timeout=60) == 2  # the pool is not broken
    finally:
        pool.shutdown()


def test_terminate_cancels_the_queue_and_stops_every_worker_at_once():
    pool = FreshProcesses(2, grace=0.5)
    running = [pool.submit(time.sleep, 60), pool.submit(_stubborn, 60)]
    queued = [pool.submit(time.sleep, 60) for _ in range(3)]
    deadline = time.monotonic() + 60
    while len(pool.pids) < 2:  # both started
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(1.0)  # past the workers' start-up: in the calls
    pids = pool.pids
    start = time.monotonic()
    pool.terminate()
    took = time.monotonic() - start
    assert took < 1.5, took  # SIGTERM; the deaf one SIGKILLed after the grace
    assert all(f.cancelled() for f in queued)
    for f in running:
        with pytest.raises(WorkerDied):
            f.result(timeout=1)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(abs, 1)


def test_what_a_call_prints_can_go_to_standard_error(capfd):
    pool = FreshProcesses(1, stdout_to_stderr=True)
    try:
        pool.submit(print, "printed by a worker").result(timeout=60)
    finally:
        pool.shutdown()
    out, err = capfd.readouterr()
    assert "printed by a worker" in err and "printed by a worker" not in out


def test_shutdown_waits_for_every_call():
    pool = FreshProcesses(2)
    futures = [pool.submit(time.sleep, 0.2) for _ in range(3)]
    pool.shutdown(wait=True)
    assert all(f.done() and f.exception() is None for f in futures)
    assert cf.wait(futures, timeout=0).not_done == set()


def test_a_second_sigterm_does_not_interrupt_the_clean_up_of_the_first(tmp_path):
    # CI caught Manim logging a traceback: a second SIGTERM raised Stopped inside
    # the abort that the first one started.
    marker = str(tmp_path / "call")
    pool = FreshProcesses(1)
    try:
        future = pool.submit(_cleans_up, marker)
        _wait_for(Path(marker + ".started"))
        (pid,) = pool.pids
        os.kill(pid, signal.SIGTERM)
        _wait_for(Path(marker + ".stopping"))
        os.kill(pid, signal.SIGTERM)
        with pytest.raises(WorkerDied, match="Stopped: stopped by SIGTERM"):
            future.result(timeout=60)
        assert Path(marker + ".clean").exists()
    finally:
        pool.shutdown()


# -- forked workers (verify -j): each scenario in a fresh interpreter, so that
# no module this test process imported earlier (TensorFlow) forbids the fork
_FORKED = r"""
import os, sys, time
from publishing.processes import FreshProcesses, WorkerDied

def whose():
    print("said by a worker")
    return (os.getpid(), LIBRARY)

LIBRARY = "built by the parent"
print("written by the parent before the fork", end="")  # pending in the buffer
pool = FreshProcesses(2, stdout_to_stderr=True, fork=True)
assert pool.forked
pids = {pool.submit(whose).result(timeout=60) for _ in range(3)}
assert len({p for p, _ in pids} | {os.getpid()}) == 4, pids
assert {what for _, what in pids} == {LIBRARY}
try:
    pool.submit(os._exit, 3).result(timeout=60)
    raise AssertionError("a worker that exits must fail its call")
except WorkerDied as exc:
    assert "exit code 3" in str(exc), exc
running = pool.submit(time.sleep, 60)
while not pool.pids:
    time.sleep(0.01)
start = time.monotonic()
pool.terminate()
assert time.monotonic() - start < 1.5
try:
    running.result(timeout=1)
    raise AssertionError("a stopped worker must fail its call")
except WorkerDied:
    pass
import gc
assert gc.get_freeze_count() == 0  # the parent's objects collectable again
print()
"""


def test_forked_workers_answer_die_and_stop_as_spawned_ones_do():
    """A forked worker sees what the parent built, fails its call alone when it
    dies and stops at once when told; what the parent had not yet written is
    written once, by the parent, not again by each worker."""
    done = run_python(_FORKED)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("written by the parent before the fork") == 1
    assert done.stderr.count("said by a worker") == 3


def test_no_fork_once_a_module_with_threads_of_its_own_is_loaded(monkeypatch):
    import publishing.processes as processes

    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not processes.can_fork()
    pool = FreshProcesses(1, fork=True)
    try:
        assert not pool.forked
        assert pool.submit(abs, -2).result(timeout=60) == 2
    finally:
        pool.shutdown()
