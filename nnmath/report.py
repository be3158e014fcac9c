"""Verify reports: JSON for machines, JUnit XML for CI dashboards.

Both are written to a temporary file beside the target and moved into place, so
a report is either complete or absent.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree as ET

from .checks import Check

__all__ = ["write_json", "write_junit", "summary"]


def _atomic_write(path: Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def summary(checks: list[Check]) -> dict:
    """Counts; ``ok`` when nothing failed, ``complete`` when nothing was skipped."""
    skipped = [c for c in checks if c.skipped]
    failed = [c for c in checks if not c.passed and not c.skipped]
    return {"checks": len(checks), "passed": len(checks) - len(failed) - len(skipped),
            "failed": len(failed), "skipped": len(skipped), "ok": not failed,
            "complete": not skipped}


def _finite(x):
    return None if x is None or x != x or x in (float("inf"), float("-inf")) else x


def write_json(path: Path, checks: list[Check], *, chapters: list[str]) -> None:
    rows = []
    for c in checks:
        d = c.as_dict()
        d["max_abs"], d["max_rel"] = _finite(c.max_abs), _finite(c.max_rel)
        d["cases"] = [{**k, "max_abs": _finite(k["max_abs"]), "max_rel": _finite(k["max_rel"])}
                      for k in c.cases]
        rows.append(d)
    doc = {"tool": "nnbook verify", "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "python": platform.python_version(), "chapters": chapters,
           "summary": summary(checks), "checks": rows}
    _atomic_write(path, json.dumps(doc, indent=2, allow_nan=False) + "\n")


def write_junit(path: Path, checks: list[Check], *, chapters: list[str]) -> None:
    s = summary(checks)
    suite = ET.Element("testsuite", name="nnbook verify " + " ".join(chapters),
                       tests=str(s["checks"]), failures=str(s["failed"]), errors="0",
                       skipped=str(s["skipped"]),
                       time=f"{sum(c.seconds for c in checks):.3f}")
    for c in checks:
        case = ET.SubElement(suite, "testcase", classname=f"nnbook.{c.kind}.{c.subject}",
                             name=f"{c.method}[{c.dtype}]", time=f"{c.seconds:.3f}")
        if c.skipped:
            ET.SubElement(case, "skipped", message=c.detail)
        elif not c.passed:
            fail = ET.SubElement(case, "failure", message=c.detail)
            fail.text = (f"max_abs={c.max_abs} max_rel={c.max_rel} "
                         f"rtol={c.rtol} atol={c.atol}\n{c.detail}")
    _atomic_write(path, ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n")
