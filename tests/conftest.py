from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nnmath.kernels import keep_freed_memory

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# the suite evaluates formulas in bulk, as nnbook does: keep freed memory mapped
keep_freed_memory()

#: the real command, as a user runs it, in a process of its own
NNBOOK = (sys.executable, "-m", "cli.main")


@pytest.fixture(scope="session")
def nnbook():
    """``nnbook("render", "gelu.py", cwd=folder)``: the finished command's
    exit code, stdout and stderr."""

    def run(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*NNBOOK, *map(str, args)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    run.command = NNBOOK  # for a test that must start it with Popen
    return run
