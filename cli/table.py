"""The live table ``nnbook verify`` prints: one row per check."""

from __future__ import annotations

import sys

import click

__all__ = ["CheckTable"]


def _num(x) -> str:
    return "" if x is None else f"{x:.2e}"


class CheckTable:
    """Prints a header, then each check as it completes (so long runs show progress)."""

    COLUMNS = ("subject", "method", "dtype", "max abs err", "max rel err", "rtol", "atol",
               "result")
    WIDTHS = (36, 20, 8, 11, 11, 8, 8, 6)

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self._line(self.COLUMNS)
        self._line(tuple("-" * w for w in self.WIDTHS))

    def _line(self, cells) -> None:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(cells, self.WIDTHS)).rstrip(),
                   file=self.out)

    def add(self, check) -> None:
        result = ("FAIL" if not check.passed else "pass" if check.checked
                  else "none")  # "none": reported, not checked (no Keras counterpart)
        self._line((check.subject, check.method, check.dtype, _num(check.max_abs),
                    _num(check.max_rel), _num(check.rtol), _num(check.atol), result))

    def close(self) -> None:
        self.out.flush()
