"""An interrupted render leaves no partial file, and the next run completes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def _default_sigint():
    # a shell's background job (CI runners, nohup-like harnesses) starts with SIGINT
    # ignored, and Python keeps it ignored; a terminal's Ctrl-C is what is tested
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(command, args, cwd, env):
    return subprocess.Popen(
        [*command, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=_default_sigint,
    )


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.render
@pytest.mark.parametrize(
    "sig, how, code",
    [
        (signal.SIGINT, "group", 130),  # Ctrl-C: the terminal signals every process
        (signal.SIGTERM, "parent", 143),  # kill PID: only the nnbook process
    ],
)
def test_interrupted_render_leaves_nothing_and_next_run_completes(
    tmp_path, nnbook, sig, how, code
):
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    (work / "slow.py").write_text((DATA / "slow_chapter.py").read_text())
    marker = tmp_path / "mid-render"
    env = {**os.environ, "NNBOOK_TEST_MARKER": str(marker), "TMPDIR": str(tmp)}
    env.pop("NNBOOK_CACHE", None)
    args = ["render", "slow.py", "-o", "media", "--no-verify"]

    proc = _start(nnbook.command, args, work, env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the scene never started rendering"
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the ~6 s of frames
    assert proc.poll() is None, "the render finished before it could be interrupted"
    if how == "group":
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == code, err
    assert "Interrupted" in err and "Traceback" not in err
    media = work / "media"
    left = (
        [f for f in _files(media) if not f.startswith(".cache/verify")]
        if media.exists()
        else []
    )
    assert left == [], f"files left after the interrupt: {left}"
    assert _files(tmp) == [], "Manim's temporary files were left behind"
    time.sleep(2)  # the workers are gone, not rendering on in the background
    assert not (media / "chapter91" / "SlowScene.mp4").exists()

    env.pop("NNBOOK_TEST_MARKER")
    done = nnbook(*args, cwd=work, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    video = media / "chapter91" / "SlowScene.mp4"
    assert done.stdout.split() == [str(video)]
    import av

    with av.open(str(video)) as container:
        assert float(container.duration) / av.time_base > 7.5
    assert not [f for f in _files(media) if f.endswith(".partial")]


# -- issue 11: several scenes, one worker or two; orphans; hard deaths -------------
def _group_gone(pgid: int, within: float) -> bool:
    """Whether every process of the group has exited within ``within`` seconds (a
    zombie has exited: multiprocessing's resource tracker, reparented to init,
    may wait a moment to be reaped)."""

    def running() -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                pids.append(int(stat.parent.name))
        return pids

    deadline = time.monotonic() + within
    while running():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _slow_render(tmp_path, nnbook, jobs: int):
    work, tmp = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    tmp.mkdir()
    (work / "slow3.py").write_text((DATA / "slow_scenes.py").read_text())
    marker = tmp_path / "marker"
    env = {**os.environ, "NNBOOK_TEST_MARKER": str(marker), "TMPDIR": str(tmp)}
    env.pop("NNBOOK_CACHE", None)
    args = ["render", "slow3.py", "-o", "media", "--no-verify", "-j", str(jobs)]
    proc = _start(nnbook.command, args, work, env)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("marker.*")):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no scene started rendering"
        time.sleep(0.1)
    time.sleep(1.0)  # well inside the first scenes' ~6 s of frames
    assert proc.poll() is None, "the render finished before it could be interrupted"
    return proc, work, tmp, {p.name for p in tmp_path.glob("marker.*")}


@pytest.mark.render
@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize(
    "sig, how, code",
    [
        (signal.SIGINT, "group", 130),
        (signal.SIGTERM, "parent", 143),
    ],
)
def test_a_signal_stops_every_scene_at_once(tmp_path, nnbook, jobs, sig, how, code):
    proc, work, tmp, started = _slow_render(tmp_path, nnbook, jobs)
    assert len(started) == jobs  # -j 2: two scenes render side by side
    signalled = time.monotonic()
    if how == "group":
        os.killpg(proc.pid, sig)
    else:
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - signalled
    assert proc.returncode == code, err
    assert took < 2.0, f"took {took:.1f} s to exit"
    assert "Interrupted" in err and "Traceback" not in err, err
    # nothing but the one line (a stopped worker warns of nothing, prints nothing)
    assert err.strip().splitlines() == [
        "Interrupted; finished files are intact, none is half-written."
    ], err
    assert _group_gone(proc.pid, 0.5), "a worker outlived the command"
    time.sleep(3)  # nothing goes on in the background
    assert {p.name for p in tmp_path.glob("marker.*")} == started, (
        "a scene started late"
    )
    media = work / "media"
    left = [f for f in _files(media) if not f.startswith(".cache/verify")]
    assert left == [], f"files written after the signal: {left}"
    assert _files(tmp) == [], "temporary folders were left behind"


@pytest.mark.render
def test_orphaned_workers_stop_and_the_next_run_sweeps_what_was_left(tmp_path, nnbook):
    proc, work, tmp, started = _slow_render(tmp_path, nnbook, 2)
    os.kill(proc.pid, signal.SIGKILL)  # the command dies outright: nothing cleans up
    proc.communicate(timeout=60)
    # its workers notice (PR_SET_PDEATHSIG) and stop rendering at once
    assert _group_gone(proc.pid, 2.0), "orphaned workers went on rendering"
    time.sleep(2)
    assert {p.name for p in tmp_path.glob("marker.*")} == started
    assert not list((work / "media").rglob("*.mp4"))

    # what a SIGKILL leaves: a worker's temporary folder, a cache write's partial
    import socket

    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())
    gone = subprocess.Popen(["true"])
    gone.wait()
    left = tmp / f"nnbook-render-{host[:40]}-{gone.pid}-abc123_x"
    (left / "videos").mkdir(parents=True)
    (left / "videos" / "partial_movie.mp4").write_bytes(b"x" * 1000)
    objects = work / "media" / ".cache" / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    partial = objects / f".{'0' * 64}.{host[:40]}.{gone.pid}.partial"
    partial.write_bytes(b"x" * 1000)
    live = tmp / f"nnbook-render-{host[:40]}-{os.getpid()}-abc123_y"  # still running
    live.mkdir()

    env = {**os.environ, "TMPDIR": str(tmp)}
    env.pop("NNBOOK_CACHE", None)
    (work / "tiny.py").write_text((DATA / "tiny_chapter.py").read_text())
    done = nnbook("render", "tiny.py", "-o", "media", "--no-verify", cwd=work, env=env)
    assert done.returncode == 0, done.stderr
    assert not left.exists() and not partial.exists()
    assert live.is_dir()


@pytest.mark.render
def test_a_scene_whose_process_dies_fails_alone_in_one_line(tmp_path, nnbook):
    (tmp_path / "crash.py").write_text((DATA / "crashing_chapter.py").read_text())
    env = {**os.environ}
    env.pop("NNBOOK_CACHE", None)
    done = nnbook(
        "render",
        "crash.py",
        "-o",
        "media",
        "--no-verify",
        "-j",
        "2",
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "BrokenProcessPool" not in done.stderr
    media = tmp_path / "media" / "chapter93"
    # the good scenes finished, and only the files written are on stdout (what the
    # chapter file and its scenes print goes to stderr)
    assert done.stdout.splitlines() == [
        str(media / "Good.mp4"),
        str(media / "AlsoGood.mp4"),
    ]
    assert "a scene that prints while it renders" in done.stderr
    lines = done.stderr.splitlines()
    assert any(
        ln.startswith("[")
        and "crash.py/HardExit: FAILED: its process ended "
        "without an answer: exit code 3"
        in ln
        for ln in lines
    ), done.stderr
    assert any(
        "crash.py/Segfault: FAILED: its process ended without an answer: "
        "killed by SIGSEGV" in ln
        for ln in lines
    ), done.stderr
    assert any(
        "crash.py/Exits: FAILED: the scene called sys.exit(3)" in ln for ln in lines
    ), done.stderr
    assert lines[-1].startswith(
        "Error: 3 of 5 scenes failed: rendering crash.py/HardExit failed"
    )
    assert sorted(p.name for p in media.iterdir()) == ["AlsoGood.mp4", "Good.mp4"]


STUCK = """
import os
import time
from pathlib import Path

from manim import Scene
from chapters import Chapter


class StuckScene(Scene):
    # deaf to Ctrl-C for two minutes (as a LaTeX run it waits on can be)
    def construct(self):
        Path(os.environ["NNBOOK_TEST_MARKER"]).touch()
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass


CHAPTER = Chapter(number=97, slug="stuck", title="Stuck", module=__name__,
                  formulas=(), claims=(), scenes=("StuckScene",))
"""


def test_ctrl_c_stops_a_lint_and_its_workers_at_once(tmp_path, nnbook):
    # lint's workers were a ProcessPoolExecutor's: after Ctrl-C the command
    # waited for a scene deaf to it to finish (a lint of chapter 4 went on)
    (tmp_path / "stuck.py").write_text(STUCK)
    marker = tmp_path / "in-construct"
    env = {**os.environ, "NNBOOK_TEST_MARKER": str(marker)}
    proc = _start(nnbook.command, ["lint", "stuck.py"], tmp_path, env)
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the scene never started"
        time.sleep(0.1)
    start = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    took = time.monotonic() - start
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    assert took < 5, took
    # no worker is left (the resource tracker ends a moment after the parent)
    assert _group_gone(proc.pid, 5.0), "a worker outlived the lint"
