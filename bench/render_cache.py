"""A chapter rendered from nothing, then again with nothing changed, in one run.

    .venv/bin/python bench/render_cache.py [chapter1] [--jobs 1]

Both runs are the real command, ``nnbook render CHAPTER -o <fresh folder>``,
including the verification gate: the first verifies and renders every scene, the
second should find the verification and every scene in the cache.  Prints both
wall times and the ratio; the bar is 5%.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine

BAR = 0.05


def _render(chapter: str, out: Path, jobs: int) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if k != "NNBOOK_CACHE"}
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "render",
            chapter,
            "-o",
            str(out),
            "--jobs",
            str(jobs),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"nnbook render {chapter} failed: {done.stderr.strip()}")
    return seconds, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapter", nargs="?", default="chapter1")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="nnbook-bench-") as tmp:
        out = Path(tmp) / "media"
        first, _ = _render(args.chapter, out, args.jobs)
        second, log = _render(args.chapter, out, args.jobs)
    cached = [line for line in log.splitlines() if ": cached (" in line]
    ratio = second / first
    print(
        f"{args.chapter}: first render {first:.1f} s (verify + every scene), "
        f"unchanged re-run {second:.2f} s ({len(cached)} scenes from the cache)"
    )
    print(
        f"re-run / first = {ratio:.3f}   bar <= {BAR:.2f}   "
        f"{'PASS' if ratio <= BAR else 'FAIL'}"
    )


if __name__ == "__main__":
    machine.describe()
    main()
