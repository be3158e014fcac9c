"""``--executor dask://HOST:PORT``: the same work on a real dask.distributed
cluster (a LocalCluster of two worker processes on this machine) as locally,
and clean endings when a worker or the scheduler goes away."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import chapters
from helpers import video_facts
from publishing.cluster import (
    ClusterError,
    ExecutorSpec,
    open_executor,
    parse_executor,
)

DATA = Path(__file__).parent / "data"
REPO = DATA.parent.parent
TINY = DATA / "tiny_chapter.py"


# -- the option (fast: no cluster) ------------------------------------------------
@pytest.mark.parametrize(
    "text, spec",
    [
        ("local", ExecutorSpec("local")),
        ("dask://127.0.0.1:8786", ExecutorSpec("dask", "127.0.0.1", 8786)),
        ("dask://scheduler.lan:1", ExecutorSpec("dask", "scheduler.lan", 1)),
        ("dask://[::1]:8786", ExecutorSpec("dask", "::1", 8786)),
    ],
)
def test_an_executor_is_local_or_a_dask_scheduler_address(text, spec):
    assert parse_executor(text) == spec
    assert str(spec) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Local",
        "dask",
        "dask://",
        "dask://host",  # no port
        "dask://host:",
        "dask://host:0",
        "dask://host:65536",
        "dask://host:port",
        "dask://host:8786/path",
        "dask://host:8786?x=1",
        "dask://user@host:8786",
        "tcp://host:8786",  # Dask's own spelling: ours says which engine
        "ray://host:10001",
    ],
)
def test_anything_else_is_refused_saying_what_is_valid(text):
    with pytest.raises(ValueError, match="valid: local, or dask://HOST:PORT"):
        parse_executor(text)


def test_a_bad_executor_is_a_usage_error_in_one_line(nnbook, tmp_path):
    for command in ("render", "build", "slides", "verify"):
        args = [command, "--executor", "dask://host", "1"]
        r = nnbook(*args, cwd=tmp_path)
        assert r.returncode == 2, (command, r.stderr)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert "valid: local, or dask://HOST:PORT" in r.stderr
    assert not list(tmp_path.iterdir())  # nothing was started, nothing written


def test_jobs_with_a_cluster_is_a_usage_error(nnbook, tmp_path):
    r = nnbook("verify", "1", "-j", "2", "--executor", "dask://h:1", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "dask worker --nthreads" in r.stderr


def test_no_jobs_is_a_usage_error(nnbook, tmp_path):
    for command in ("render", "build", "slides", "verify", "lint"):
        r = nnbook(command, "1", "-j", "0", cwd=tmp_path)
        assert r.returncode == 2, (command, r.stderr)
        assert r.stderr.count("\n") == 1 and "0 is not in the range" in r.stderr


def test_the_option_imports_no_dask_until_a_cluster_is_used():
    code = (
        "import sys\nfrom cli.main import cli\ntry:\n"
        "    cli(['render', '--executor', 'dask://h:1', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "--executor local|dask://HOST:PORT" in out
    assert out.strip().endswith("[]")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_fails_in_one_line_within_the_timeout(
    nnbook, tmp_path
):
    from publishing.cluster import CONNECT_SECONDS

    address = f"dask://127.0.0.1:{_closed_port()}"
    start = time.monotonic()
    r = nnbook("verify", "1", "--executor", address, cwd=tmp_path, timeout=60)
    took = time.monotonic() - start
    assert r.returncode == 1, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"cannot reach the Dask scheduler at {address} within" in r.stderr
    assert r.stdout == ""  # no table was started
    # the timeout, plus starting Python and loading the chapter
    assert CONNECT_SECONDS <= took < CONNECT_SECONDS + 20


# -- on a real cluster --------------------------------------------------------------
def _local_cluster(n_workers: int):
    from distributed import LocalCluster

    return LocalCluster(
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        n_workers=n_workers,
        threads_per_worker=1,
        silence_logs=logging.ERROR,
    )


@pytest.fixture(scope="module")
def cluster():
    with _local_cluster(2) as c:
        yield c


def _spec(cluster) -> ExecutorSpec:
    return parse_executor(cluster.scheduler_address.replace("tcp://", "dask://"))


def _probe(path: Path) -> dict:
    """ffprobe's facts of a video: size, frames, rate, codec, duration."""
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,pix_fmt,r_frame_rate,nb_read_frames"
            ":format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    facts = json.loads(out)
    return {**facts["streams"][0], **facts["format"]}


@pytest.mark.cluster
@pytest.mark.render
def test_a_site_built_on_the_cluster_is_the_one_built_locally(
    cluster, nnbook, tmp_path
):
    spec = _spec(cluster)
    on_cluster = nnbook(
        "build",
        TINY,
        "--executor",
        str(spec),
        "-o",
        tmp_path / "site-c",
        "--media",
        tmp_path / "media-c",
        cwd=tmp_path,
    )
    assert on_cluster.returncode == 0, on_cluster.stderr
    local = nnbook(
        "build",
        TINY,
        "-j",
        "2",
        "-o",
        tmp_path / "site-l",
        "--media",
        tmp_path / "media-l",
        cwd=tmp_path,
    )
    assert local.returncode == 0, local.stderr
    for r in (on_cluster, local):  # the same progress display, a line per scene
        lines = [ln for ln in r.stderr.splitlines() if ln.startswith("[")]
        assert len(lines) == 2, r.stderr
        assert {ln.split(" ")[0] for ln in lines} == {"[1/2]", "[2/2]"}
        assert {ln.split(" ")[1] for ln in lines} == {
            "tiny_chapter.py/SigmoidScene:",
            "tiny_chapter.py/TanhScene:",
        }
        assert all("rendered, not rendered before" in ln for ln in lines)
    assert (tmp_path / "site-c" / "index.html").is_file()
    for scene in ("SigmoidScene", "TanhScene"):
        c = tmp_path / "media-c" / "chapter90" / f"{scene}.mp4"
        h = tmp_path / "media-l" / "chapter90" / f"{scene}.mp4"
        assert _probe(c) == _probe(h)
        assert int(_probe(c)["nb_read_frames"]) > 1
        *size_c, frame_c = video_facts(c)
        *size_l, frame_l = video_facts(h)
        assert size_c == size_l and np.array_equal(frame_c, frame_l)
        site = tmp_path / "site-c" / "media" / "chapter90" / f"{scene}.mp4"
        assert site.read_bytes() == c.read_bytes()
    for page in ("index.html", "chapter90.html"):
        assert (tmp_path / "site-c" / page).read_text() == (
            tmp_path / "site-l" / page
        ).read_text()


@pytest.mark.cluster
@pytest.mark.render
def test_slides_made_on_the_cluster_are_the_ones_made_locally(
    cluster, nnbook, tmp_path
):
    import zipfile

    decks = {}
    for where, how in (("c", ["--executor", str(_spec(cluster))]), ("l", [])):
        r = nnbook(
            "slides",
            TINY,
            "--to",
            "pptx",
            *how,
            "-o",
            tmp_path / f"slides-{where}",
            "--media",
            tmp_path / f"media-{where}",
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        assert r.stderr.count("rendered, not rendered before") == 2
        decks[where] = zipfile.ZipFile(tmp_path / f"slides-{where}" / "chapter90.pptx")
    names = decks["c"].namelist()
    assert names == decks["l"].namelist()
    assert sum(n.endswith(".mp4") for n in names) == 2  # a video per scene
    for n in names:  # the same slides, videos and posters: only zip dates differ
        assert decks["c"].read(n) == decks["l"].read(n), n


@pytest.mark.cluster
@pytest.mark.render
def test_render_jobs_run_on_the_cluster_workers(cluster, tmp_path):
    """The scenes really run over there: in processes whose parents are the
    cluster's workers, not this one's."""
    from publishing.render import render_chapters

    ch = chapters.load_file(str(TINY))
    with open_executor(_spec(cluster)) as executor:
        workers = set(executor._client.run(os.getpid).values())
        parents: dict[str, int] = {}

        def seen(r, done, total):
            parents[r.job.scene] = r.worker

        rendered = render_chapters(
            [ch], out_dir=tmp_path, executor=executor, on_progress=seen
        )
    assert [r.path.name for r in rendered] == ["SigmoidScene.mp4", "TanhScene.mp4"]
    assert all(r.path.is_file() and not r.cached for r in rendered)
    # each scene ran in a fresh process: neither a worker nor this process
    assert set(parents) == {"SigmoidScene", "TanhScene"}
    assert not set(parents.values()) & (workers | {os.getpid()})


@pytest.mark.cluster
def test_verify_on_the_cluster_gives_the_local_results(cluster, tmp_path):
    from publishing.gate import verify_chapters

    ch = chapters.get("chapter1")
    started: list[str] = []
    with open_executor(_spec(cluster)) as executor:
        remote = verify_chapters(
            [ch],
            tmp_path / "c",
            oracle=False,
            fresh=True,
            executor=executor,
            on_start=started.append,
        )
    assert started == []  # every check ran on the cluster, none here
    local = verify_chapters([ch], tmp_path / "l", oracle=False, fresh=True)

    def results(run):
        return [{**c.as_dict(), "seconds": None} for c in run.checks]

    assert len(remote.checks) > 3 and any(c.checked for c in remote.checks)
    assert results(remote) == results(local)
    assert remote.reused == local.reused == 0


def _temp_folders(pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"nnbook-render-*-{pid}-*"))


def _kill_a_worker_mid_scene(cluster, out: Path) -> dict:
    """Render the tiny chapter on ``cluster`` and SIGKILL the worker of the
    first scene seen writing its movie; return the outcome (``rendered`` or
    ``failed``) once the run has ended, after checking the run did end and the
    scene's own process went with its worker, cleaning up."""
    import psutil

    from publishing.render import RenderFailed, render_chapters

    ch = chapters.load_file(str(TINY))
    outcome: dict = {}
    with open_executor(_spec(cluster)) as executor:
        workers = executor._client.run(os.getpid)

        def render() -> None:
            try:
                outcome["rendered"] = render_chapters(
                    [ch], out_dir=out, executor=executor
                )
            except RenderFailed as exc:
                outcome["failed"] = exc

        thread = threading.Thread(target=render)
        thread.start()
        victim = scene_process = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            for pid in workers.values():  # Manim is writing a scene's movie
                for child in psutil.Process(pid).children():
                    folders = _temp_folders(child.pid)
                    if folders and any(folders[0].rglob("*.mp4")):
                        victim, scene_process = pid, child
            time.sleep(0.01)
        assert victim is not None, "no scene was seen rendering on the cluster"
        os.kill(victim, signal.SIGKILL)
        scene_process.wait(timeout=10)  # it goes with its worker
        thread.join(timeout=180)
        assert not thread.is_alive(), "the run hung after a worker was killed"
    assert not _temp_folders(scene_process.pid)  # it cleaned up as it stopped
    assert not list(out.rglob("*.partial"))
    return outcome


@pytest.mark.cluster
@pytest.mark.render
def test_a_scene_whose_worker_is_killed_is_retried_on_another(cluster, tmp_path):
    outcome = _kill_a_worker_mid_scene(cluster, tmp_path)
    assert "rendered" in outcome, outcome["failed"]
    for r in outcome["rendered"]:
        assert int(_probe(r.path)["nb_read_frames"]) > 1


@pytest.mark.cluster
@pytest.mark.render
def test_a_scene_whose_workers_keep_dying_fails_by_name(tmp_path):
    """With no retry allowed (Dask's allowed-failures 0), the killed scene fails
    by name, no file where it failed, and the other scene is placed."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        strict = _local_cluster(2)
    with strict:
        outcome = _kill_a_worker_mid_scene(strict, tmp_path)
    assert "failed" in outcome
    (failed,) = outcome["failed"].failed
    assert failed.error.startswith(f"rendering {failed.job.label} failed: ")
    assert "KilledWorker" in failed.error
    assert not failed.path.exists()
    (done,) = [r for r in outcome["failed"].rendered if not r.error]
    assert int(_probe(done.path)["nb_read_frames"]) > 1


@pytest.mark.cluster
def test_a_cluster_without_workers_is_one_error_not_a_wait():
    with _local_cluster(0) as empty:
        start = time.monotonic()
        with pytest.raises(ClusterError, match="has no worker"):
            with open_executor(_spec(empty), connect_seconds=1):
                pass
        assert time.monotonic() - start < 10


@pytest.mark.cluster
def test_a_scheduler_that_goes_away_fails_what_waits_on_it():
    with _local_cluster(1) as doomed:
        with open_executor(_spec(doomed)) as executor:
            running = executor.submit(time.sleep, 60)
            queued = executor.submit(time.sleep, 60)  # one thread: this waits
            time.sleep(2)
            doomed.close()
            start = time.monotonic()
            for f in (running, queued):
                exc = f.exception(timeout=20)
                assert isinstance(exc, ClusterError)
                assert "lost the Dask scheduler" in str(exc)
            assert time.monotonic() - start < 15


@pytest.mark.cluster
def test_a_cluster_left_without_workers_fails_what_waits_on_it():
    with _local_cluster(1) as emptied:
        with open_executor(_spec(emptied), no_worker_seconds=2) as executor:
            waiting = executor.submit(time.sleep, 60)
            time.sleep(2)
            start = time.monotonic()
            emptied.scale(0)  # its task goes back to wait for a worker
            exc = waiting.exception(timeout=30)
            assert isinstance(exc, ClusterError), exc
            assert "has had no worker for 2 s" in str(exc)
            assert time.monotonic() - start < 20


@pytest.mark.cluster
def test_terminate_cancels_every_call_quietly(cluster, caplog):
    """What render_jobs does on Ctrl-C: every call cancelled, none left to
    wait on, and no callback error logged (there was one, into stdout)."""
    with open_executor(_spec(cluster)) as executor:
        calls = [executor.submit(time.sleep, 2) for _ in range(3)]  # one queued
        time.sleep(1)
        executor.terminate()
        for f in calls:
            assert f.cancelled()
        time.sleep(0.5)  # Dask's own cancellation arrives in its thread
    assert "exception calling callback" not in caplog.text


@pytest.mark.cluster
@pytest.mark.render
def test_sigterm_stops_a_cluster_render_at_once_and_cleanly(cluster, nnbook, tmp_path):
    proc = subprocess.Popen(
        [*nnbook.command, "render", TINY, "--force", "--executor", str(_spec(cluster))],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    for line in proc.stderr:  # the gate passed: the scenes are on the cluster
        seen.append(line)
        if "checks passed" in line:
            break
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    start = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    # about 1 s on an idle machine; 5.3 s once at load average 5 on 2 cores
    # (the Dask client's close after the cancels), so 10 s, not a hang
    assert time.monotonic() - start < 10
    assert out == ""  # nothing placed, and no log line in the file list
    assert err.strip() == (
        "Interrupted; finished files are intact, none is half-written."
    )
    assert not list(tmp_path.rglob("*.partial"))
    assert not (tmp_path / "media" / "chapter90").exists()


def test_a_worker_without_this_very_nnbook_is_named():
    from publishing.cluster import code_problem

    assert code_problem("abc", "abc") == ""
    assert code_problem("abd", "abc") == (
        "runs other nnbook code than this machine (its source files differ)"
    )
    missing = ModuleNotFoundError("No module named 'publishing'", name="publishing")
    assert code_problem(missing, "abc") == (
        "cannot import nnbook (No module named 'publishing')"
    )
    assert code_problem(OSError("disk gone"), "abc") == (
        "cannot run nnbook (OSError: disk gone)"
    )


@pytest.mark.cluster
def test_a_worker_running_other_nnbook_code_is_refused(tmp_path):
    """A worker whose nnbook differs by one comment: refused before any work
    (its results would be filed in the cache as this code's)."""
    from distributed import LocalCluster

    other = tmp_path / "other"
    for package in ("nnmath", "chapters", "publishing", "cli"):
        shutil.copytree(
            REPO / package, other / package, ignore=shutil.ignore_patterns("*.pyc")
        )
    with open(other / "nnmath" / "__init__.py", "a") as f:
        f.write("# another version\n")
    env = {**os.environ, "PYTHONPATH": str(other)}
    with LocalCluster(
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        n_workers=0,
        silence_logs=logging.ERROR,
    ) as c:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                c.scheduler_address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
            ],
            cwd=other,
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            start = time.monotonic()
            with pytest.raises(ClusterError) as caught:
                with open_executor(_spec(c), connect_seconds=30):
                    pass
            assert time.monotonic() - start < 35
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    assert str(caught.value).startswith("the Dask worker tcp://127.0.0.1:")
    assert str(caught.value).endswith(
        " runs other nnbook code than this machine (its source files differ); "
        "install nnbook, the same version as here, on every worker"
    )
