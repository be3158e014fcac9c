"""A time limit for one check: every check of ``nnbook verify`` ends.

SymPy is pure Python, so a signal handler runs between two of its bytecodes and
can stop a proof that would never return (an ``Eq(…, Max(…))`` over unevaluated
maxima once ran for 15 minutes).  The limit is a ``SIGALRM`` timer, which only
the main thread of a process may set: the checks run in the main thread of the
CLI, or of each worker process when a pool runs them.  Elsewhere (a thread, or
a platform without ``SIGALRM``) :func:`time_limit` yields False and the check
runs without a limit, which the caller reports.

Compiled code (a NumPy or TensorFlow kernel) is not interrupted: the timer
fires when it returns to Python, so such a check can overrun by one kernel.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["DEFAULT_SECONDS", "CheckTimeout", "time_limit"]

#: the default limit of one check.  The slowest check of the book takes about
#: 15 s on a 2-core machine (a symbolic proof through the whole perceptron);
#: 8× that margin leaves room for a slower or busier machine.
DEFAULT_SECONDS = 120.0


class CheckTimeout(BaseException):
    """A check ran out of time.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception``
    inside SymPy or inside a check swallows it and runs on.
    """

    def __init__(self, seconds: float):
        super().__init__(seconds)
        self.seconds = seconds

    def __str__(self) -> str:
        return f"timed out after {self.seconds:g} s"


def _can_alarm() -> bool:
    return (
        hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )


@contextmanager
def time_limit(seconds: float | None) -> Iterator[bool]:
    """Raise :class:`CheckTimeout` in the block after ``seconds`` (None or 0:
    no limit).  Yields whether the limit is in force.

    Restores any timer and handler that were set before (an outer limit, or a
    test runner's), with the outer timer's remaining time.
    """
    if not seconds or not _can_alarm():
        yield False
        return

    over = False  # the block has ended: an alarm now is too late to raise

    def on_alarm(signum, frame):
        if not over:
            raise CheckTimeout(seconds)

    start = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer = (0.0, 0.0)
    try:  # armed inside: an alarm due at once still meets the clean-up below
        # re-fires every second, in case a bare ``except:`` swallowed the first
        outer = signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
        yield True
    finally:
        # an alarm due just as the block ends must not interrupt this clean-up:
        # it would leave the re-firing timer armed, and raise in later code
        while True:
            try:
                over = True
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                break
            except CheckTimeout:
                continue
        if outer[0]:  # an outer timer was running: give it what remains
            left = outer[0] - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-3), outer[1])
