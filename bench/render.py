"""What rendering costs: one scene of each chapter at -ql and -qh, and the whole
book built from nothing and rebuilt unchanged.  Figures to track, not bars.

    .venv/bin/python bench/render.py [chapter1 chapter5 …] [--quality l h]
                                     [--scene first|last] [--no-book | --book-only]

Each scene is rendered by the real pipeline (``publishing.render``: a fresh
worker process, Manim, LaTeX, the encoder) with the render cache off and the
verification gate off, so the figure is the render alone; it is reported as
wall seconds per second of video (ffprobe's duration of the file written).
The book is the real command, ``nnbook build -o <fresh folder>`` with a fresh
``NNBOOK_CACHE``, then the same command again with nothing changed: the first
verifies every chapter's claims and renders every scene at -ql, the second
finds all of it in the caches.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import chapters
import machine
from publishing.render import render_jobs, scene_job


def video_seconds(path: Path) -> float:
    """The duration of a rendered video, as ffprobe reads it."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def scene_costs(names: list[str], qualities: list[str], pick: str) -> None:
    print(
        f"\none scene per chapter ({pick}), cache and gate off: "
        "wall seconds per second of video"
    )
    print(
        f"{'chapter':10s} {'scene':28s} "
        + " ".join(f"{'-q' + q:>16s}" for q in qualities)
    )
    with tempfile.TemporaryDirectory(prefix="nnbook-bench-") as tmp:
        for name in names:
            ch = chapters.get(name)
            scene = ch.scenes[0] if pick == "first" else ch.scenes[-1]
            cells = []
            for q in qualities:
                job = scene_job(
                    ch, scene, quality=q, out_dir=Path(tmp) / q, cache=False
                )
                (done,) = render_jobs([job], verify=False, force=True)
                if done.error:
                    sys.exit(f"{ch.id} {scene} at -q{q} failed: {done.error}")
                length = video_seconds(done.path)
                cells.append(
                    f"{done.seconds / length:5.1f} ({done.seconds:5.1f}/{length:4.1f})"
                )
            print(f"{ch.id:10s} {scene:28s} " + " ".join(f"{c:>16s}" for c in cells))


def _build(out: Path, cache: Path) -> float:
    env = {**os.environ, "NNBOOK_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", "build", "-o", str(out)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"nnbook build failed: {done.stderr.strip().splitlines()[-1:]}")
    return seconds


def book_costs() -> None:
    with tempfile.TemporaryDirectory(prefix="nnbook-bench-") as tmp:
        out, cache = Path(tmp) / "site", Path(tmp) / "cache"
        cache.mkdir()  # NNBOOK_CACHE must exist (a shared one is never created)
        first = _build(out, cache)
        again = _build(out, cache)
    scenes = sum(len(ch.scenes) for ch in chapters.all_chapters())
    print(
        f"\nthe whole book ({len(chapters.all_chapters())} chapters, {scenes} scenes, "
        f"-ql): first build {first:.0f} s (verify + render everything), "
        f"unchanged rebuild {again:.1f} s ({again / first:.3f} of the first)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapters", nargs="*", help="chapter ids (default: every chapter)")
    ap.add_argument("--quality", nargs="+", default=["l", "h"], choices=list("lmhpk"))
    ap.add_argument("--scene", choices=["first", "last"], default="first")
    ap.add_argument("--no-book", action="store_true", help="skip the whole-book build")
    ap.add_argument("--book-only", action="store_true", help="only the book build")
    args = ap.parse_args()
    names = args.chapters or [ch.id for ch in chapters.all_chapters()]
    if not args.book_only:
        scene_costs(names, args.quality, args.scene)
    if not args.no_book:
        book_costs()


if __name__ == "__main__":
    machine.describe()
    main()
