"""``nnbook new PATH`` (issue 17 §4): a lecturer's chapter that verifies,
lints and renders as written, and never a file overwritten."""

from __future__ import annotations

import os

import pytest

from chapters.skeleton import SkeletonError, write_skeleton


def test_it_writes_a_chapter_and_its_prose_that_name_each_other(tmp_path):
    py, md = write_skeleton(tmp_path / "week3.py")
    assert (py.name, md.name) == ("week3.py", "week3.md")
    text = py.read_text()
    assert '@register("week3_silu")' in text and 'prose_file="week3.md"' in text
    assert "number=100," in text
    prose = md.read_text()
    for placeholder in ("{{formula:week3_silu}}", "{{claim:week3_silu'}}"):
        assert placeholder in prose
    assert "{{scene:SiluScene}}" in prose and "class SiluScene(Scene)" in text
    compile(text, str(py), "exec")
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".partial")]


def test_a_second_chapter_in_the_folder_takes_the_next_number_and_own_names(
    tmp_path,
):
    write_skeleton(tmp_path / "week3.py")
    py, _ = write_skeleton(tmp_path / "week-4.py")
    text = py.read_text()
    assert "number=101," in text and '@register("week_4_silu")' in text


@pytest.mark.parametrize(
    "name, message",
    [
        ("notes.txt", "give a name ending in .py"),
        ('we"ek.py', "letters, digits, _ and - only"),
        ("missing/week3.py", "is not a folder; create it first"),
    ],
)
def test_a_name_it_cannot_use_is_refused_and_nothing_is_written(
    tmp_path, name, message
):
    with pytest.raises(SkeletonError, match=message):
        write_skeleton(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", ["week3.py", "week3.md"])
def test_an_existing_file_or_link_is_never_overwritten(tmp_path, existing):
    (tmp_path / "elsewhere.txt").write_text("mine")
    (tmp_path / existing).symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(SkeletonError, match="exists; nnbook new never overwrites"):
        write_skeleton(tmp_path / "week3.py")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere.txt", existing]
    assert (tmp_path / "elsewhere.txt").read_text() == "mine"


def test_a_folder_it_cannot_write_is_one_line_exit_1(nnbook, tmp_path):
    # /sys refuses new files even to root (the CI runs as root)
    done = nnbook("new", "/sys/week3.py", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "Error: cannot write /sys/week3.py: Permission denied"
    ]


def test_the_cli_refuses_to_overwrite_with_one_line_and_exit_1(tmp_path, nnbook):
    first = nnbook("new", "week3.py", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["week3.py", "week3.md"]
    before = (tmp_path / "week3.py").read_text()
    again = nnbook("new", "week3.py", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        "Error: week3.py exists; nnbook new never overwrites a file"
    ]
    assert (tmp_path / "week3.py").read_text() == before


@pytest.mark.tf
@pytest.mark.render
def test_the_new_chapter_verifies_lints_and_renders_as_written(tmp_path, nnbook):
    assert nnbook("new", "week3.py", cwd=tmp_path).returncode == 0
    verify = nnbook("verify", "week3.py", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "7 passed, 0 failed" in verify.stdout + verify.stderr
    lint = nnbook("lint", "week3.py", cwd=tmp_path)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    render = nnbook("render", "week3.py", "-q", "l", "-o", "media", cwd=tmp_path)
    assert render.returncode == 0, render.stderr
    assert render.stdout.split() == [str(tmp_path / "media/chapter100/SiluScene.mp4")]
