"""Rendering: argument checks (fast) and one real low-quality render (marked)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

import chapters
from helpers import video_facts
from publishing import render
from publishing.render import RenderError, render_scene, scene_job

DATA = Path(__file__).parent / "data"


@pytest.fixture
def ch1():
    return chapters.get("neuron")


@pytest.mark.parametrize(
    "kwargs, valid",
    [
        ({"quality": "x"}, "valid: l, m, h, p, k"),
        ({"fmt": "avi"}, "valid: mp4, webm, mov, gif, png"),
    ],
)
def test_bad_quality_or_format_names_the_valid_choices(ch1, kwargs, valid):
    with pytest.raises(ValueError, match=valid):
        scene_job(ch1, "NeuronScene", **kwargs)


def test_unknown_scene_names_the_chapter_scenes(ch1):
    with pytest.raises(ValueError, match="valid: NeuronScene, ForwardPassScene"):
        scene_job(ch1, "NoSuchScene")


def test_job_is_picklable_and_targets_chapter_dir(ch1, tmp_path):
    job = scene_job(ch1, "NeuronScene", quality="m", fmt="gif", out_dir=tmp_path)
    assert pickle.loads(pickle.dumps(job)) == job
    assert Path(job.target) == tmp_path / "chapter1" / "NeuronScene.gif"


def test_missing_latex_is_a_one_line_render_error(monkeypatch):
    from publishing import tools

    monkeypatch.setattr(tools.shutil, "which", lambda tool: None)
    with pytest.raises(RenderError) as info:
        render.check_tools()
    message = str(info.value)
    assert "latex" in message and "dvisvgm" in message and "install" in message
    assert "\n" not in message


@pytest.mark.render
def test_neuron_scene_renders_at_low_quality(ch1, tmp_path):
    path = render_scene(ch1, "NeuronScene", quality="l", out_dir=tmp_path)
    assert path == tmp_path / "chapter1" / "NeuronScene.mp4" and path.is_file()
    width, height, duration, middle = video_facts(path)
    assert (width, height) == (854, 480)
    assert 10 < duration < 25
    assert middle.std() > 20, "the middle frame is blank"
    # nothing but the finished file is left behind
    assert [p.name for p in path.parent.iterdir()] == ["NeuronScene.mp4"]


@pytest.mark.render
def test_manims_latex_reads_no_file_outside_its_folder(tmp_path, nnbook):
    (tmp_path / "prying.py").write_text((DATA / "prying_chapter.py").read_text())
    env = {**os.environ}
    env.pop("NNBOOK_CACHE", None)
    done = nnbook(
        "render", "prying.py", "-o", "media", "--no-verify", cwd=tmp_path, env=env
    )
    assert done.returncode == 1
    assert "Not reading from /etc/hostname (openin_any = p)" in done.stderr
    # the standalone class's harmless probe of /dev/null is not a line per equation
    assert "/dev/null" not in done.stderr
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "Error: 1 of 1 scenes failed: rendering prying.py/Prying failed: "
            "LaTeX could not typeset an equation"
        )
    )
    assert not list((tmp_path / "media").rglob("*.mp4"))
