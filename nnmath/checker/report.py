"""Verify reports: JSON for machines, JUnit XML for CI dashboards.

A report goes where the user said.  A regular file (or a new one) is written to
a temporary file beside it and moved into place, so it is either complete or the
old one; a symlink is followed and its target written that way, so the link
stays a link; a character device or a pipe (``/dev/stdout``, ``/dev/null``, a
FIFO) is written directly, and ``-`` means standard output.  A new report gets
the usual permissions (0666 less the umask), a replaced one keeps its mode.
:func:`check_destination` refuses a path that cannot be written before the
(long) verification runs, naming the path as the user gave it.
"""

from __future__ import annotations

import json
import os
import platform
import stat
import sys
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from .checks import Check

__all__ = [
    "write_json",
    "write_junit",
    "summary",
    "check_destination",
    "is_stdout",
    "ReportError",
]


class ReportError(OSError):
    """A report that cannot be written; the message names the path as given."""

    def __str__(self) -> str:
        return str(self.args[0])


def _fail(path, why: str) -> ReportError:
    return ReportError(f"cannot write the report to {path}: {why}")


def is_stdout(path) -> bool:
    """``-``, or a path that is this process's standard output (``/dev/stdout``)."""
    if str(path) == "-":
        return True
    try:
        here = os.fstat(sys.stdout.fileno())
        there = os.stat(path)
    except (OSError, ValueError, AttributeError):  # no real stdout (a test runner)
        return False
    return os.path.samestat(here, there)


def _writable_dir(folder: Path, path) -> None:
    """``folder`` exists as a writable directory, or can be made in one."""
    probe = folder
    while not probe.exists():
        if probe.is_symlink():
            raise _fail(path, f"{probe} is a broken symbolic link")
        probe = probe.parent
    if not probe.is_dir():
        raise _fail(path, f"{probe} is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise _fail(path, f"permission denied in {probe}")


def _target(path) -> Path:
    """The file ``path`` names: symlinks followed (a dangling one to the file it
    would create); OSError for a loop."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except (FileNotFoundError, NotADirectoryError):
        return Path(os.path.realpath(path))


def check_destination(path) -> None:
    """Raise :class:`ReportError` now if a report could not be written to ``path``."""
    if str(path) == "":
        raise _fail('""', "an empty path; give a file name, or - for standard output")
    if is_stdout(path):
        return
    try:
        target = _target(path)
        info = os.stat(target) if target.exists() else None
    except OSError as exc:  # a symlink loop, a name too long
        raise _fail(path, exc.strerror or str(exc)) from None
    if info is None:
        _writable_dir(target.parent, path)
    elif stat.S_ISDIR(info.st_mode):
        raise _fail(path, "it is a directory")
    elif stat.S_ISREG(info.st_mode):
        if not os.access(target, os.W_OK):
            raise _fail(path, "permission denied")
        _writable_dir(target.parent, path)
    elif not (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        raise _fail(path, "it is neither a file, a character device nor a pipe")
    elif not os.access(target, os.W_OK):
        raise _fail(path, "permission denied")


def _write(path, text: str) -> None:
    """``text`` to ``path`` as the module docstring says."""
    if is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    check_destination(path)
    try:
        target = _target(path)
        info = os.stat(target) if target.exists() else None
        if info is not None and not stat.S_ISREG(info.st_mode):  # a device or a pipe
            with open(target, "w", encoding="utf-8") as fh:
                fh.write(text)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        _replace(target, text, None if info is None else stat.S_IMODE(info.st_mode))
    except OSError as exc:
        raise _fail(path, exc.strerror or str(exc)) from None


def _replace(target: Path, text: str, mode: int | None) -> None:
    """Write a temporary file beside ``target`` and move it onto ``target``."""
    for attempt in range(100):
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{attempt}.tmp")
        try:  # 0666 less the umask, as any program's new file; O_EXCL: never reuse
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"no free temporary name beside {target}")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def summary(checks: list[Check]) -> dict:
    """Counts; ``ok`` when nothing failed, ``complete`` when nothing was skipped.

    A row that reports something not checked (``checked`` False: an update rule
    that declares no Keras counterpart) and a skipped one (``--no-tf``) are
    neither passed nor failed."""
    skipped = [c for c in checks if c.skipped]
    unchecked = [c for c in checks if c.passed and not c.checked]
    failed = [c for c in checks if not c.passed and not c.skipped]
    return {
        "checks": len(checks),
        "passed": len(checks) - len(failed) - len(skipped) - len(unchecked),
        "failed": len(failed),
        "skipped": len(skipped),
        "not_checked": len(unchecked),
        "ok": not failed,
        "complete": not skipped,
    }


def _finite(x):
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def write_json(path: Path, checks: list[Check], *, chapters: list[str]) -> None:
    rows = []
    for c in checks:
        d = c.as_dict()
        d["max_abs"], d["max_rel"] = _finite(c.max_abs), _finite(c.max_rel)
        d["cases"] = [
            {**k, "max_abs": _finite(k["max_abs"]), "max_rel": _finite(k["max_rel"])}
            for k in c.cases
        ]
        rows.append(d)
    doc = {
        "tool": "nnbook verify",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "python": platform.python_version(),
        "chapters": chapters,
        "summary": summary(checks),
        "checks": rows,
    }
    _write(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def write_junit(path: Path, checks: list[Check], *, chapters: list[str]) -> None:
    s = summary(checks)
    suite = ET.Element(
        "testsuite",
        name="nnbook verify " + " ".join(chapters),
        tests=str(s["checks"]),
        failures=str(s["failed"]),
        errors="0",
        skipped=str(s["skipped"] + s["not_checked"]),
        time=f"{sum(c.seconds for c in checks):.3f}",
    )
    for c in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"nnbook.{c.kind}.{c.subject}",
            name=f"{c.method}[{c.dtype}]",
            time=f"{c.seconds:.3f}",
        )
        if c.skipped or (c.passed and not c.checked):
            ET.SubElement(case, "skipped", message=c.detail)
        elif not c.passed:
            fail = ET.SubElement(case, "failure", message=c.detail)
            fail.text = (
                f"max_abs={c.max_abs} max_rel={c.max_rel} "
                f"rtol={c.rtol} atol={c.atol}\n{c.detail}"
            )
    _write(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
