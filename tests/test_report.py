"""``verify --json PATH`` and ``--junit PATH`` write where the user said (issue 11):
a regular file atomically, through a symlink to its target, a device or a pipe
directly, ``-`` to standard output; with the usual permissions; and a path that
cannot be written is refused before the checks run."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from nnmath.checker.checks import Check
from nnmath.checker.report import (
    ReportError,
    check_destination,
    write_json,
    write_junit,
)

CHECKS = [Check("relu", "formula", "lowering", "float64", True, 0.0, 0.0, 1e-10, 1e-12)]
#: a chapter file with one formula and one claim: a verify of a few seconds
SMALL = """from chapters import Chapter
print("a chapter file that prints")
CHAPTER = Chapter(number=95, slug="small", title="Small", module=__name__,
                  formulas=("relu",), claims=("relu'",), scenes=())
"""


def _doc(text: str) -> dict:
    doc = json.loads(text)
    assert doc["checks"][0]["subject"] == "relu"
    return doc


def test_a_symlink_stays_a_link_and_its_target_is_written(tmp_path):
    target = tmp_path / "reports" / "verify.json"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "latest.json"
    link.symlink_to(target)
    write_json(link, CHECKS, chapters=["chapter2"])
    assert link.is_symlink() and os.readlink(link) == str(target)
    _doc(target.read_text())
    # a dangling link is followed too: its target is created
    (tmp_path / "dangling.xml").symlink_to(tmp_path / "new" / "junit.xml")
    write_junit(tmp_path / "dangling.xml", CHECKS, chapters=["chapter2"])
    assert (tmp_path / "dangling.xml").is_symlink()
    assert (tmp_path / "new" / "junit.xml").read_text().startswith("<?xml")


def test_a_character_device_is_written_directly_not_replaced(tmp_path):
    device = tmp_path / "null"
    # a private /dev/null (major 1, minor 3), so nothing of the machine's is at risk
    try:
        os.mknod(device, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError:
        device = Path("/dev/null")
    write_json(device, CHECKS, chapters=[])
    write_junit(device, CHECKS, chapters=[])
    assert stat.S_ISCHR(device.stat().st_mode)
    assert not list(tmp_path.glob(".null*"))


def test_a_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()), daemon=True)
    reader.start()
    write_json(fifo, CHECKS, chapters=[])
    reader.join(10)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    _doc(got[0])


def test_reports_get_the_usual_permissions_and_a_replaced_one_keeps_its_mode(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "new.json", CHECKS, chapters=[])
        existing = tmp_path / "shared.json"
        existing.write_text("{}")
        existing.chmod(0o664)
        write_json(existing, CHECKS, chapters=[])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644
    assert stat.S_IMODE(existing.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.json", "shared.json"]


@pytest.mark.parametrize("where", ["dir", "under-a-file", "loop"])
def test_an_unwritable_path_is_refused_naming_the_path_given(tmp_path, where):
    (tmp_path / "a-file").write_text("x")
    if where == "loop":
        (tmp_path / "loop").symlink_to(tmp_path / "loop")
    path = {
        "dir": tmp_path,
        "under-a-file": tmp_path / "a-file" / "r.json",
        "loop": tmp_path / "loop",
    }[where]
    with pytest.raises(ReportError) as info:
        check_destination(path)
    message = str(info.value)
    assert message.startswith(f"cannot write the report to {path}: ")
    assert ".tmp" not in message and "[Errno" not in message
    with pytest.raises(ReportError):
        write_json(path, CHECKS, chapters=[])


@pytest.fixture
def small(tmp_path):
    (tmp_path / "small.py").write_text(SMALL)
    return tmp_path


def test_verify_refuses_an_unwritable_report_before_checking_anything(small, nnbook):
    (small / "a-file").write_text("x")
    done = nnbook(
        "verify", "small.py", "--no-tf", "--json", "a-file/verify.json", cwd=small
    )
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"Error: cannot write the report to a-file/verify.json: {small / 'a-file'} is "
        "not a directory"
    )
    assert "relu" not in done.stdout  # no check ran


# /dev/fd/1 is /dev/stdout by another name: a broken implementation that replaces
# the path (as the old one did) fails on it without replacing the machine's
# /dev/stdout, which it did when this test named it
@pytest.mark.parametrize("path", ["-", "/dev/fd/1"])
def test_a_report_to_standard_output_is_all_that_goes_there(small, nnbook, path):
    done = nnbook("verify", "small.py", "--no-tf", "--json", path, cwd=small)
    assert done.returncode == 3, done.stderr  # --no-tf: not a full verification
    _doc(done.stdout)  # the whole of stdout is the report
    assert "finite-differences" in done.stderr and "passed, 0 failed" in done.stderr
    done = nnbook("verify", "small.py", "--no-tf", "--junit", path, cwd=small)
    assert done.stdout.startswith("<?xml") and done.returncode == 3


def test_both_reports_to_standard_output_is_a_usage_error(small, nnbook):
    done = nnbook("verify", "small.py", "--json", "-", "--junit", "-", cwd=small)
    assert done.returncode == 2
    assert done.stderr.strip().startswith("Error: --json and --junit cannot both")


def test_an_empty_report_path_is_a_usage_error(small, nnbook):
    done = nnbook("verify", "small.py", "--json", "", cwd=small)
    assert done.returncode == 2 and "empty path" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_json_and_junit_to_one_file_is_a_usage_error(small, nnbook):
    (small / "link.json").symlink_to(small / "r.json")
    done = nnbook(
        "verify", "small.py", "--json", "r.json", "--junit", "link.json", cwd=small
    )
    assert done.returncode == 2 and "name the same file" in done.stderr


def test_a_full_device_is_one_error_naming_it_and_stays_a_device(tmp_path):
    full = tmp_path / "full"
    try:  # a private /dev/full (major 1, minor 7): a broken writer replaces only it
        os.mknod(full, stat.S_IFCHR | 0o666, os.makedev(1, 7))
    except PermissionError:
        full = Path("/dev/full")
    with pytest.raises(ReportError) as info:
        write_json(full, CHECKS, chapters=[])
    assert str(info.value) == (
        f"cannot write the report to {full}: No space left on device"
    )
    assert stat.S_ISCHR(full.stat().st_mode)


def test_a_report_path_that_names_a_folder_is_a_usage_error(small, nnbook):
    done = nnbook("verify", "small.py", "--json", "reports/", cwd=small)
    assert done.returncode == 2 and "reports/ names a folder" in done.stderr
    assert not (small / "reports").exists()
