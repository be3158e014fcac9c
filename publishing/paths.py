"""Output directories."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

__all__ = ["OutputDirError", "ensure_writable"]


class OutputDirError(OSError):
    """An output directory that cannot be used; the message says why and what to do."""

    def __str__(self) -> str:
        return str(self.args[0])


def _what(path: Path) -> str:
    """What is at ``path`` instead of a directory."""
    mode = path.stat().st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a pipe"
    return "a file"


def ensure_writable(directory: Path, option: str = "-o DIR") -> Path:
    """Create ``directory`` if needed and prove a file can be written there.

    Raises :class:`OutputDirError` (an OSError) with a one-line message naming
    the directory and the option that chooses another (``option``) otherwise.
    """
    directory = Path(directory)
    problem = ""
    for part in (directory, *directory.parents):
        if part.exists() or part.is_symlink():
            if part.is_dir():
                break
            what = "a broken symbolic link" if not part.exists() else _what(part)
            problem = (
                f"it is {what}, not a directory"
                if part == directory
                else f"{part} is {what}, not a directory"
            )
            break
    if not problem:
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=directory, prefix=".nnbook-write-test-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            problem = f"it is not writable ({exc.strerror or exc})"
    if problem:
        raise OutputDirError(
            f"cannot use output directory {directory}: {problem}; "
            f"choose another with {option}"
        )
    return directory
