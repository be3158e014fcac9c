"""The render cache and parallel jobs: what makes a scene stale, and real renders."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import shutil
from pathlib import Path

import pytest

import chapters
from nnmath import registry
from nnmath.fingerprint import fingerprint
from publishing.cache import Dependencies, recorded_dependencies
from publishing.render import render_chapters, render_jobs, scene_job

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
    assert fingerprint(c) != fingerprint(
        dataclasses.replace(c, formula=registry.formula("tanh"))
    )


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
    assert (
        Dependencies({str(tmp_path / "gone.py"): "0"}, {}, {}).stale()
        == "gone.py changed"
    )
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
    for pkg in ("nnmath", "chapters", "publishing", "cli"):
        shutil.copytree(
            REPO / pkg, copy / pkg, ignore=shutil.ignore_patterns("__pycache__")
        )
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
    assert (
        "SigmoidScene: cached" in again.stderr and "TanhScene: cached" in again.stderr
    )

    lib = copy / "nnmath" / "library" / "activations.py"
    lib.write_text(
        lib.read_text().replace('"Logistic sigmoid"', '"The logistic sigmoid"')
    )
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
    jobs = [
        scene_job(ch, s, out_dir=tmp_path / "other", cache=False) for s in ch.scenes
    ]
    with cf.ProcessPoolExecutor(
        1, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        again = render_jobs(jobs, executor=pool)
        assert all(r.path.is_file() and not r.cached for r in again)
        # the pool's one process rendered both: the second scene's recording is
        # still what it looked up (it was every formula and claim, and the gate
        # verified the whole library behind a two-line scene)
        assert [{n for _, n, _ in r.uses} for r in again] == [{"sigmoid"}, {"tanh"}]
        assert pool.submit(abs, -1).result() == 1  # an executor passed in stays open
        # a scene of another chapter after those: its module is new to the
        # process, but a memo of an earlier scene's (a trained network) may
        # hold what it looks up, so it too runs in a fresh interpreter (it ran
        # in the pool's process, its recording short by whatever was memoised)
        other = chapters.load_file(str(DATA / "pdf_chapter.py"))
        job = scene_job(other, "Value_Scene", out_dir=tmp_path / "third", cache=False)
        pool_pid = pool.submit(os.getpid).result()
        (third,) = render_jobs([job], executor=pool)
        assert third.path.is_file() and third.worker != pool_pid


# -- a cache that heals (issue 11) ------------------------------------------------
def _video(path: Path, seed: int) -> Path:
    """A stand-in for a rendered file: 64 kB that differ by seed."""
    import numpy as np

    path.write_bytes(np.random.default_rng(seed).bytes(1 << 16))
    return path


REQUEST = {"module": "m", "path": "", "scene": "S", "quality": "l", "format": "mp4"}


def test_a_damaged_object_is_a_miss_and_the_fresh_render_replaces_it(tmp_path):
    from publishing.cache import SceneCache, file_sha

    cache = SceneCache(tmp_path / "cache")
    produced = _video(tmp_path / "fresh.mp4", 1)
    sha = cache.store(REQUEST, produced, Dependencies(), 1.0)
    assert cache.lookup(REQUEST)[0] == cache.object(sha)
    with open(cache.object(sha), "r+b") as f:  # a full disk, a crash: truncated
        f.truncate(1000)
    assert cache.lookup(REQUEST) == (None, "cached file missing or damaged")
    # the next render stores the same content: the damaged object must not stay
    cache.store(REQUEST, produced, Dependencies(), 1.0)
    assert file_sha(cache.object(sha)) == sha
    assert cache.lookup(REQUEST)[0] == cache.object(sha)


def test_an_object_damaged_after_its_check_is_not_copied_to_the_output(
    tmp_path, monkeypatch
):
    from publishing import render
    from publishing.cache import SceneCache

    cache = SceneCache(tmp_path / "shared")  # e.g. NNBOOK_CACHE on another machine
    target = tmp_path / "media" / "S.mp4"
    job = render.SceneJob("m", "S", "l", "mp4", str(target), "", str(cache.root))
    sha = cache.store(
        job.request, _video(tmp_path / "fresh.mp4", 2), Dependencies(), 1.0
    )
    target.parent.mkdir()
    good = _video(target, 3).read_bytes()
    real = SceneCache.lookup

    def damaged_meanwhile(self, request):
        found = real(self, request)
        cache.object(sha).write_bytes(b"\0" * 1000)  # between the check and the copy
        return found

    monkeypatch.setattr(SceneCache, "lookup", damaged_meanwhile)
    hit, _ = render._from_cache(job)  # checked, then damaged before the gate places it
    with pytest.raises(render.RenderError, match="damaged after it was checked"):
        render._place(hit)
    assert target.read_bytes() == good
    assert not list(target.parent.glob(".*.partial"))


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "5",
        '"x"',
        "null",
        "{}",
        '{"sha256": 5}',
        (
            '{"sha256": "../../../../etc/passwd", "dependencies": '
            '{"modules": {}, "formulas": {}, "claims": {}}}'
        ),
        '{"sha256": "' + "a" * 64 + '", "dependencies": []}',
        '{"sha256": "'
        + "a" * 64
        + '", "dependencies": {"modules": [], "formulas": {}, '
        '"claims": {}}}',
        '{"sha256": "' + "a" * 64 + '", "dependencies": {"modules": {"x": 1}, '
        '"formulas": {}, "claims": {}}}',
        '{"sha256": "' + "a" * 64 + '", "dependencies": {"modules": {}, '
        '"formulas": {"relu|((": "0"}, "claims": {}}}',
        '{"sha256": "' + "a" * 64 + '", "dependencies": {"modules": {}, '
        '"formulas": {"relu|5": "0"}, "claims": {}}}',
        '{"sha256": "' + "a" * 64 + '", "dependencies": {"modules": {}, '
        '"formulas": {"conv2d|((\'stride\', True),)": "0"}, "claims": {}}}',
        '{"sha256": "'
        + "a" * 64
        + '", "dependencies": {"modules": {"a\\u0000b": "0"}, '
        '"formulas": {}, "claims": {}}}',
        "[" * 100000 + "]" * 100000,
        "\xff\xfe not utf-8",
    ],
)
def test_a_cache_entry_of_an_unexpected_form_is_a_miss(tmp_path, text):
    from publishing.cache import SceneCache

    cache = SceneCache(tmp_path)
    entry = cache._entry(cache.request_key(REQUEST))
    entry.parent.mkdir(parents=True)
    entry.write_text(text, encoding="latin-1")
    blob, reason = cache.lookup(REQUEST)
    assert blob is None and reason in (
        "cache entry unreadable",
        "formula relu is gone",
        "formula conv2d is gone",
        "a\x00b changed",
    )


def test_a_verification_that_parses_but_is_wrong_does_not_pass_the_gate(tmp_path):
    import json

    from chapters import Chapter
    from publishing.gate import cached_verification, subjects, verification_key

    ch = Chapter(
        number=99,
        slug="t",
        title="t",
        module="t",
        formulas=("relu",),
        claims=("relu'",),
        scenes=(),
    )
    f, c = subjects([ch])
    path = tmp_path / "verify" / f"{verification_key(f, c, oracle=False)}.json"
    checks, cached = cached_verification([ch], tmp_path, oracle=False)
    assert not cached and {k.subject for k in checks} == {"relu", "relu'"}
    good = json.loads(path.read_text())
    one = good["checks"][0]
    for wrong in (
        [],
        {},
        {**good, "checks": []},
        {**good, "checks": [x for x in good["checks"] if x["subject"] == "relu"]},
        {**good, "key": "0" * 64},
        {**good, "checks": [{**one, "passed": "yes"}]},
        {**good, "checks": [{**one, "extra": 1}]},
        [one],
    ):
        path.write_text(json.dumps(wrong))
        again, cached = cached_verification([ch], tmp_path, oracle=False)
        assert not cached, wrong  # checked again, not "0 checks passed"
        assert {k.subject for k in again} == {"relu", "relu'"}
    assert cached_verification([ch], tmp_path, oracle=False)[1]  # and filed again


def test_damaged_derived_files_are_made_again_not_served(tmp_path):
    import subprocess

    import av

    from publishing.bundle import bundle_scene
    from publishing.cache import file_sha

    mp4 = tmp_path / "media" / "Scene.mp4"
    mp4.parent.mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10:duration=1",
            "-pix_fmt",
            "yuv420p",
            str(mp4),
        ],
        check=True,
    )
    cache = tmp_path / "cache"
    first = bundle_scene(mp4, gif=True, cache=cache)
    made = {p: p.stat().st_size for p in (first.webm, first.poster, first.gif)}

    def damage_everything_cached():
        for p in cache.rglob("*"):
            if p.is_file() and p.stat().st_size > 1000:
                with open(p, "r+b") as f:
                    f.truncate(1000)

    for force in (False, True):
        damage_everything_cached()
        for p in made:
            p.unlink()
        again = bundle_scene(mp4, gif=True, cache=cache, force=force)
        for p in (again.webm, again.poster, again.gif):
            assert p.stat().st_size > 1000, p  # not the damaged 1000 bytes
        with av.open(str(again.webm)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 10
        # a damaged file in the output folder is replaced as well
        with open(again.webm, "r+b") as f:
            f.truncate(1000)
        bundle_scene(mp4, gif=True, cache=cache)
        assert again.webm.stat().st_size > 1000
        assert file_sha(again.webm) != "0"


def test_damaged_typeset_equations_are_typeset_again(tmp_path):
    from publishing.cache import file_sha
    from publishing.texsvg import typeset

    svg = typeset([("x^2", False)], tmp_path)[("x^2", False)]
    good = svg.path.read_bytes()
    svg.path.write_bytes(good[:100])
    again = typeset([("x^2", False)], tmp_path)[("x^2", False)]
    assert again.path.read_bytes() == good and file_sha(again.path) == again.sha
    for meta in ("[]", "{}", '{"sha256": 1, "width": "a"}', "not json"):
        (tmp_path / f"{svg.path.stem}.json").write_text(meta)
        assert (
            typeset([("x^2", False)], tmp_path)[("x^2", False)].path.read_bytes()
            == good
        )


def test_stale_partials_of_dead_processes_are_swept_and_live_ones_kept(tmp_path):
    import subprocess

    from publishing.cache import _HOST, sweep_partials

    gone = subprocess.Popen(["true"])  # a process id that is gone
    gone.wait()
    stale = tmp_path / f".S.mp4.{_HOST}.{gone.pid}.partial"
    mine = tmp_path / f".S.mp4.{_HOST}.{os.getpid()}.partial"
    other_host = tmp_path / f".S.mp4.elsewhere.{gone.pid}.partial"
    for p in (stale, mine, other_host):
        p.write_bytes(b"x")
    sweep_partials(tmp_path)
    assert not stale.exists() and mine.exists() and other_host.exists()


@pytest.mark.render
def test_a_truncated_object_is_rendered_again_and_healed_not_served(tmp_path, nnbook):
    """The issue's reproduction: render, truncate every cached object, render again
    (into another folder sharing the cache, as another machine would): the output
    is the good video, and so is the cache."""
    from publishing.cache import file_sha

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATA / "tiny_chapter.py", work / "tiny.py")
    env = {**os.environ, "NNBOOK_CACHE": str(tmp_path / "shared")}
    (tmp_path / "shared").mkdir()
    first = nnbook("render", "tiny.py", "-o", "one", "--no-verify", cwd=work, env=env)
    assert first.returncode == 0, first.stderr
    good = {p.name: file_sha(p) for p in (work / "one" / "chapter90").iterdir()}
    objects = list((tmp_path / "shared" / "objects").iterdir())
    assert len(objects) == 2
    for args in (("-o", "two"), ("-o", "two", "--force"), ("-o", "one")):
        for p in objects:
            with open(p, "r+b") as f:
                f.truncate(1000)
        done = nnbook("render", "tiny.py", *args, "--no-verify", cwd=work, env=env)
        assert done.returncode == 0, done.stderr
        out = work / args[1] / "chapter90"
        assert {p.name: file_sha(p) for p in out.iterdir()} == good, args
        assert all(file_sha(p) == p.name for p in objects), "the cache was not healed"
