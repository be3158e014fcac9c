"""Output directories."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["ensure_writable"]


def ensure_writable(directory: Path) -> Path:
    """Create ``directory`` if needed and prove a file can be written there.

    Raises OSError with a one-line message naming the directory otherwise.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".nnbook-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OSError(exc.errno, f"output directory {directory} is not writable "
                      f"({exc.strerror}); choose another with -o DIR") from None
    return directory
