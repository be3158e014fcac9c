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
    with pytest.raises(
        chapters.ChapterFileError, match=r"bad.py \(line 1\): SyntaxError"
    ):
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
    row = next(
        ln
        for ln in checked.stdout.splitlines()
        if ln.startswith("gelu ") and "tensorflow-forward" in ln and "float64" in ln
    )
    assert "1.00e-07" in row and "pass" in row


@pytest.mark.render
def test_the_example_chapter_file_renders(outside, nnbook):
    done = nnbook("render", "gelu.py", "-o", "media", "--no-verify", cwd=outside)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        str(outside / "media" / "chapter101" / "GeluScene.mp4")
    ]


# -- issue 11: a chapter file's mistakes are one line naming the file, exit 1 ---------
HEAD = "from chapters import Chapter\n"


def _chapter(**fields) -> str:
    declared = {
        "number": "96",
        "slug": '"mine"',
        "title": '"Mine"',
        "module": "__name__",
        "formulas": "()",
        "claims": "()",
        "scenes": "()",
        **fields,
    }
    return (
        HEAD
        + "CHAPTER = Chapter("
        + ", ".join(f"{k}={v}" for k, v in declared.items())
        + ")\n"
    )


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (
            _chapter(formulas='("nosuch",)'),
            ("CHAPTER.formulas names unknown formula 'nosuch'; valid: "),
        ),
        (
            _chapter(claims='("nosuch\'",)'),
            'CHAPTER.claims names unknown claim "nosuch\'"',
        ),
        (
            _chapter(formulas='"sigmoid"'),
            (
                "CHAPTER.formulas must be a tuple of names, e.g. "
                "formulas=(\"sigmoid\",); got the string 'sigmoid'"
            ),
        ),
        (_chapter(scenes='"Scene"'), "CHAPTER.scenes must be a tuple of names"),
        (
            _chapter(number='"7"'),
            ("CHAPTER.number must be a whole number from 0 to 999999, got '7'"),
        ),
        (_chapter(number="10**300"), "CHAPTER.number must be a whole number from 0 to"),
        (
            "from nnmath.registry import register\nfrom nnmath.params import Real\n"
            "@register('mine_f', params={'a': Real()})\ndef _f(a=1.0):\n"
            "    raise ValueError('no such thing')\n"
            + _chapter(formulas='("mine_f",)'),
            "formula 'mine_f' cannot be built: ValueError: no such thing",
        ),
        (
            "from nnmath.registry import register\n@register('mine_g')\n"
            "def _g(a=1.0):\n    pass\n" + _chapter(),
            (
                "TypeError: formula 'mine_g': every parameter of its "
                "builder needs a spec"
            ),
        ),
        (
            _chapter(scenes='("Missing",)'),
            ("scene 'Missing' is listed in CHAPTER.scenes but no class"),
        ),
        (
            "import sys\nsys.exit(3)\n" + _chapter(),
            "it called sys.exit(3) while loading",
        ),
        ("raise SystemExit\n", "it called sys.exit(None) while loading"),
    ],
)
def test_a_chapter_file_mistake_is_one_line_naming_the_file(
    tmp_path, monkeypatch, source, needle
):
    from click.testing import CliRunner

    from cli.main import cli

    (tmp_path / "mine.py").write_text(source)
    monkeypatch.chdir(tmp_path)
    for command in ("verify", "render", "build"):
        flag = "--no-tf" if command == "verify" else "--no-verify"
        done = CliRunner().invoke(cli, [command, "mine.py", flag])
        assert done.exit_code == 1, done.output
        lines = done.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), done.output
        assert "mine.py" in lines[0] and needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("folder", "folder is a directory; give a chapter file (.py) in it"),
        ("folder/", "folder/ is a directory"),
        ("notes.md", "notes.md is not a Python file (.py)"),
        ("./notes.md", "./notes.md is not a Python file (.py)"),
    ],
)
def test_a_folder_or_a_file_that_is_not_python_is_named_as_such(
    tmp_path, nnbook, name, needle
):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "gelu.py").write_text(EXAMPLE.read_text())
    (tmp_path / "notes.md").write_text("# notes\n")
    done = nnbook("verify", name, "--no-tf", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == f"Error: {needle}" or needle in done.stderr.strip()
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_prose_placeholders_are_checked_before_anything_renders(outside, nnbook):
    prose = (outside / "gelu.md").read_text()
    (outside / "gelu.md").write_text(prose + "\n{{formula:nosuch}}\n")
    done = nnbook("build", "gelu.py", "-o", "site", "--media", "media", cwd=outside)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: chapter101 prose {outside / 'gelu.md'}: "
        "{{formula:nosuch}} names no formula; valid: "
        + done.stderr.split("valid: ", 1)[1].strip()
    ]
    assert not (outside / "media").exists() and not (outside / "site").exists()
    for bad, needle in (
        ("{{claim:gelu''}}", "{{claim:gelu''}} names no claim"),
        (
            "{{scene:NoScene}}",
            ("{{scene:NoScene}} names no scene of chapter101; valid: GeluScene"),
        ),
    ):
        (outside / "gelu.md").write_text(prose + bad)
        done = nnbook("build", "gelu.py", "-o", "site", cwd=outside)
        assert done.returncode == 1 and needle in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
