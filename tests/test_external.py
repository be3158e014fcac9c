"""Lecturers' own chapter files: the README's GELU example, right and wrong.

Each run is a subprocess: a chapter file registers formulas, and the planted
error registers a different ``gelu`` under the same name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import chapters

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "gelu.py"
#: the planted error: the sech² term of the derivative written with the wrong sign
RIGHT, WRONG = "(1 - sp.tanh(u) ** 2)", "(1 + sp.tanh(u) ** 2)"


@pytest.fixture
def outside(tmp_path):
    """The example copied out of the repository, as a lecturer would keep it."""
    folder = tmp_path / "my course"
    folder.mkdir()
    for suffix in (".py", ".md"):
        (folder / f"gelu{suffix}").write_text(EXAMPLE.with_suffix(suffix).read_text())
    return folder


def test_readme_shows_the_example_file_verbatim():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert EXAMPLE.read_text() in blocks
    md_blocks = re.findall(r"```markdown\n(.*?)```", readme, re.S)
    assert EXAMPLE.with_suffix(".md").read_text() in md_blocks


def test_chapter_file_errors_are_one_line(tmp_path):
    with pytest.raises(chapters.UnknownChapterError, match="does not exist"):
        chapters.get(str(tmp_path / "nope.py"))
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    with pytest.raises(chapters.ChapterFileError, match=r"bad.py \(line 1\): SyntaxError"):
        chapters.get(str(bad))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(chapters.ChapterFileError, match="defines no CHAPTER"):
        chapters.get(str(empty))


def test_wrong_derivative_in_a_chapter_file_is_caught(outside, nnbook):
    source = (outside / "gelu.py").read_text()
    assert source.count(RIGHT) == 1
    (outside / "gelu.py").write_text(source.replace(RIGHT, WRONG))

    checked = nnbook("verify", "gelu.py", "--no-tf", cwd=outside)
    assert checked.returncode == 1, checked.stdout
    assert "FAILED gelu' [symbolic exact]" in checked.stderr
    assert "FAILED gelu' [finite-differences float64]" in checked.stderr
    assert "FAILED gelu [" not in checked.stderr  # the formula itself is fine

    refused = nnbook("render", "gelu.py", "-o", "media", cwd=outside)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: not rendering chapter101: verification failed")
    assert "gelu' [symbolic exact]" in lines[-1] and "--no-verify" in lines[-1]
    assert not (outside / "media" / "chapter101").exists()

    unbuilt = nnbook("build", "gelu.py", "-o", "site", cwd=outside)
    assert unbuilt.returncode == 1 and "gelu' [symbolic exact]" in unbuilt.stderr
    assert not (outside / "site" / "index.html").exists()


@pytest.mark.tf
def test_the_example_chapter_file_verifies_against_tensorflow(outside, nnbook):
    checked = nnbook("verify", "gelu.py", cwd=outside)
    assert checked.returncode == 0, checked.stderr
    assert "7 passed, 0 failed" in checked.stdout
    # the example's stated tolerance for TensorFlow's float32 0.044715 is the one used
    row = next(ln for ln in checked.stdout.splitlines()
               if ln.startswith("gelu ") and "tensorflow-forward" in ln and "float64" in ln)
    assert "1.00e-07" in row and "pass" in row


@pytest.mark.render
def test_the_example_chapter_file_renders(outside, nnbook):
    done = nnbook("render", "gelu.py", "-o", "media", "--no-verify", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(outside / "media" / "chapter101" / "GeluScene.mp4")]
