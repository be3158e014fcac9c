"""The live table ``nnbook verify`` prints: one row per check."""

from __future__ import annotations

import sys
import threading

import click

__all__ = ["CheckTable"]


def _num(x) -> str:
    return "" if x is None else f"{x:.2e}"


class CheckTable:
    """Prints a header, then each check as it completes (so long runs show progress).

    The check that is running is shown too: on a terminal as a line that the
    check's row replaces; elsewhere (a CI log) as a line of its own once it has
    run for ``slow`` seconds, so a slow check is visible while it runs.
    """

    slow = 5.0

    COLUMNS = (
        "subject",
        "method",
        "dtype",
        "max abs err",
        "max rel err",
        "rtol",
        "atol",
        "result",
    )
    WIDTHS = (36, 20, 8, 11, 11, 8, 8, 6)

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._timer: threading.Timer | None = None
        self._shown = False
        self._line(self.COLUMNS)
        self._line(tuple("-" * w for w in self.WIDTHS))

    def start(self, label: str) -> None:
        """A check begins: say so (see the class docstring)."""
        if self.tty:
            click.echo(f"  running: {label} …", file=self.out, nl=False)
            self.out.flush()
            self._shown = True
        else:
            self._timer = threading.Timer(self.slow, self._still_running, (label,))
            self._timer.daemon = True
            self._timer.start()

    def _still_running(self, label: str) -> None:
        click.echo(f"  … still running after {self.slow:g} s: {label}", file=self.out)
        self.out.flush()

    def _end_running(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._shown:  # erase the "running" line on the terminal
            click.echo("\r\033[K", file=self.out, nl=False)
            self._shown = False

    def _line(self, cells) -> None:
        click.echo(
            "  ".join(str(c).ljust(w) for c, w in zip(cells, self.WIDTHS)).rstrip(),
            file=self.out,
        )

    def add(self, check) -> None:
        self._end_running()
        result = (
            "skip"
            if check.skipped
            else "FAIL"
            if not check.passed
            else "pass"
            if check.checked
            else "none"
        )  # "none": reported, not checked (no Keras counterpart)
        self._line(
            (
                check.subject,
                check.method,
                check.dtype,
                _num(check.max_abs),
                _num(check.max_rel),
                _num(check.rtol),
                _num(check.atol),
                result,
            )
        )

    def close(self) -> None:
        self._end_running()
        self.out.flush()
