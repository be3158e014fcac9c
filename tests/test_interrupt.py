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
    return subprocess.Popen([*command, *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.render
@pytest.mark.parametrize("sig, how, code", [
    (signal.SIGINT, "group", 130),  # Ctrl-C: the terminal signals every process
    (signal.SIGTERM, "parent", 143),  # kill PID: only the nnbook process
])
def test_interrupted_render_leaves_nothing_and_next_run_completes(tmp_path, nnbook, sig, how,
                                                                  code):
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
    left = [f for f in _files(media) if not f.startswith(".cache/verify")] if media.exists() else []
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
