"""The render cache and parallel jobs: what makes a scene stale, and real renders."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

import chapters
from chapters.cache import Dependencies, recorded_dependencies
from chapters.render import render_chapters, render_jobs, scene_job
from nnmath import registry
from nnmath.fingerprint import fingerprint

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).resolve().parent.parent


# -- what a render depends on (fast) ------------------------------------------
def test_recording_collects_formulas_and_claims_looked_up_and_nothing_else():
    registry.claim_names()  # claim building looks formulas up: not a use
    with registry.recording() as used:
        registry.formula("tanh")
        registry.claim("sigmoid'")
    assert used == {("formula", "tanh", ()), ("claim", "sigmoid'", ())}


def test_fingerprint_changes_with_the_maths_and_only_with_it():
    import dataclasses

    import sympy as sp

    f = registry.formula("sigmoid")
    assert fingerprint(f) == fingerprint(dataclasses.replace(f))
    assert fingerprint(f) != fingerprint(dataclasses.replace(f, expr=f.expr + 1))
    assert fingerprint(f) != fingerprint(dataclasses.replace(f, tf="tf.math.tanh(z)"))
    c = registry.claim("sigmoid'")
    z = f.var
    assert fingerprint(c) != fingerprint(dataclasses.replace(c, rhs=sp.exp(-z)))
    # a claim's fingerprint covers its formula too
    assert fingerprint(c) != fingerprint(dataclasses.replace(c, formula=registry.formula("tanh")))


def test_recorded_dependencies_hold_until_a_file_or_formula_changes(tmp_path):
    with registry.recording() as used:
        registry.formula("relu")
    deps = recorded_dependencies(used)
    assert deps.stale() == ""
    assert any(p.endswith("nnmath/registry.py") for p in deps.modules)
    # the formula library is covered by fingerprints, not by its source files
    assert not any("library" in Path(p).parts for p in deps.modules)
    assert list(deps.formulas) == ["relu|()"]

    changed = Dependencies(deps.modules, {"relu|()": "0" * 64}, {})
    assert changed.stale() == "formula relu changed"
    src = tmp_path / "helper.py"
    src.write_text("x = 1\n")
    edited = Dependencies({str(src): "0" * 64}, {}, {})
    assert edited.stale() == "helper.py changed"
    assert Dependencies({str(tmp_path / "gone.py"): "0"}, {}, {}).stale() == "gone.py changed"
    assert Dependencies({}, {"nope|()": "0"}, {}).stale() == "formula nope is gone"


def test_chapter_modules_are_named_after_their_number():
    for module in chapters.CHAPTER_MODULES:
        ch = chapters.get(module.rsplit(".", 1)[-1])
        assert ch.module == module


# -- real renders ---------------------------------------------------------------
@pytest.mark.render
def test_changing_one_formula_rerenders_only_the_scene_that_uses_it(tmp_path, nnbook):
    # a private copy of the code, so that a formula can really be edited
    copy = tmp_path / "repo"
    for pkg in ("nnmath", "chapters", "cli"):
        shutil.copytree(REPO / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATA / "tiny_chapter.py", work / "tiny.py")
    env = {**os.environ, "PYTHONPATH": str(copy)}
    env.pop("NNBOOK_CACHE", None)
    args = ["render", "tiny.py", "-o", "out", "--no-verify"]

    first = nnbook(*args, cwd=work, env=env)
    assert first.returncode == 0, first.stderr
    assert "SigmoidScene: rendered, not rendered before" in first.stderr
    assert "TanhScene: rendered, not rendered before" in first.stderr
    entries = list((work / "out" / ".cache" / "entries").glob("*.json"))
    assert len(entries) == 2 and all(str(copy) in e.read_text() for e in entries)

    again = nnbook(*args, cwd=work, env=env)
    assert "SigmoidScene: cached" in again.stderr and "TanhScene: cached" in again.stderr

    lib = copy / "nnmath" / "library" / "activations.py"
    lib.write_text(lib.read_text().replace('"Logistic sigmoid"', '"The logistic sigmoid"'))
    edited = nnbook(*args, cwd=work, env=env)
    assert edited.returncode == 0, edited.stderr
    assert "SigmoidScene: rendered, formula sigmoid changed" in edited.stderr
    assert "TanhScene: cached" in edited.stderr

    forced = nnbook(*args, "--force", cwd=work, env=env)
    assert forced.stderr.count("rendered, --force") == 2


@pytest.mark.render
def test_jobs_render_in_separate_processes_and_executor_is_a_parameter(tmp_path):
    ch = chapters.load_file(str(DATA / "tiny_chapter.py"))
    rendered = render_chapters([ch], out_dir=tmp_path, workers=2)
    assert [r.path.name for r in rendered] == ["SigmoidScene.mp4", "TanhScene.mp4"]
    workers = {r.worker for r in rendered}
    assert len(workers) == 2 and os.getpid() not in workers

    # any process-based concurrent.futures executor will do (Dask's and Ray's too)
    jobs = [scene_job(ch, s, out_dir=tmp_path / "other", cache=False) for s in ch.scenes]
    with cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        again = render_jobs(jobs, executor=pool)
        assert all(r.path.is_file() and not r.cached for r in again)
        assert pool.submit(abs, -1).result() == 1  # an executor passed in stays open
