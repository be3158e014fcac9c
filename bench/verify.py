"""``nnbook verify`` of the whole library, cold and warm, against ``import tensorflow``.

    .venv/bin/python bench/verify.py [--jobs 2] [--timeout SECONDS]

In one run, each a fresh process, one after the other:

1. ``nnbook verify -j JOBS`` with an empty cache (cold: every check runs);
2. the same command again, nothing changed (warm: every check is reused);

each right after a bare ``python -c "import tensorflow"`` (the unit: what every
verify that needs TensorFlow pays at least once, under the same load).

Prints the wall seconds of each, the ratios cold ÷ import (bar ≤ 5) and warm ÷
import (bar ≤ 0.5), and the peak memory of each: the largest sum of memory
over the command's process tree (it and its workers; proportional set sizes,
so that pages a forked worker shares with its parent count once), sampled
every :data:`SAMPLE_SECONDS` with psutil.  Then the slowest checks of the cold
run, from its JSON report.  The first lines are the machine facts the ratios depend on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

import machine

COLD_BAR, WARM_BAR = 5.0, 0.5
#: how often the memory of the process tree is read: each read of a process's
#: proportional set size costs about 1 ms; every 0.1 s, the reads slowed the
#: cold verify they measured by 0.5-1.2 s (of 20 s, on 2 cores)
SAMPLE_SECONDS = 0.5


def _memory(p: psutil.Process) -> int:
    """Proportional set size where Linux reports it: forked workers share the
    parent's pages, which resident sizes would count once per process."""
    try:
        return p.memory_full_info().pss
    except (AttributeError, psutil.AccessDenied):
        return p.memory_info().rss


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += _memory(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def timed(args: list[str], env: dict) -> tuple[float, int, subprocess.CompletedProcess]:
    """(wall seconds, peak memory of the process tree, the result).  Its
    output goes to files: a pipe nobody reads while it runs would fill and stop it."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        with subprocess.Popen(args, env=env, stdout=out, stderr=err) as popen:
            proc, peak = psutil.Process(popen.pid), 0
            while True:
                try:
                    peak = max(peak, _tree_rss(proc))
                except psutil.NoSuchProcess:
                    pass
                try:  # returns the moment it ends: the wall time is exact
                    popen.wait(timeout=SAMPLE_SECONDS)
                    break
                except subprocess.TimeoutExpired:
                    continue
            seconds = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(
            args, popen.returncode, out.read(), err.read()
        )
    return seconds, peak, done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="each check's limit, passed to verify: on a loaded machine a check "
        "near the 120 s default times out, is not filed, and the warm run "
        "re-runs it",
    )
    args = parser.parse_args()
    machine.describe()
    env = {k: v for k, v in os.environ.items() if k != "NNBOOK_CACHE"}
    ok = True
    with tempfile.TemporaryDirectory(prefix="nnbook-bench-verify-") as tmp:
        media, report = Path(tmp) / "media", Path(tmp) / "cold.json"
        command = [sys.executable, "-m", "cli.main", "verify", "-j", str(args.jobs)]
        command += ["--media", str(media)]
        if args.timeout:
            command += ["--timeout", str(args.timeout)]
        for name, bar, extra in (
            ("cold", COLD_BAR, ["--json", str(report)]),
            ("warm", WARM_BAR, []),
        ):
            # the unit is measured just before each run: on a shared machine
            # the load moves, and a ratio is fair only against the same load
            unit, unit_peak, _ = timed([sys.executable, "-c", "import tensorflow"], env)
            print(
                f"import tensorflow: {unit:.1f} s, peak {unit_peak / 2**20:.0f} MiB "
                f"(load average {os.getloadavg()[0]:.1f})"
            )
            seconds, peak, done = timed(command + extra, env)
            tail = [ln for ln in done.stdout.splitlines() if "reused" in ln]
            if done.returncode != 0:
                print(f"{name}: exit code {done.returncode}\n{done.stderr[-2000:]}")
                ok = False
            ratio = seconds / unit
            verdict = "PASS" if ratio <= bar else "FAIL"
            ok &= ratio <= bar
            print(
                f"{name} verify -j {args.jobs}: {seconds:.1f} s, {ratio:.2f}× the "
                f"import (bar ≤ {bar:g}): {verdict}; peak {peak / 2**20:.0f} MiB; "
                + (tail[0] if tail else "")
            )
        if report.is_file():
            checks = json.loads(report.read_text())["checks"]
            checks.sort(key=lambda c: -c["seconds"])
            total = sum(c["seconds"] for c in checks)
            symbolic = sum(c["seconds"] for c in checks if c["method"] == "symbolic")
            print(
                f"cold: {len(checks)} checks, {total:.0f} s of check time "
                f"({symbolic:.0f} s symbolic); slowest:"
            )
            for c in checks[:8]:
                print(f"  {c['seconds']:6.1f} s  {c['subject']} [{c['method']}]")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
