"""``nnbook verify`` does only what changed (publishing.reuse): a check is reused
while its subject's fingerprint, the checker's code and the libraries are
unchanged, exactly as it was measured; a damaged entry is never served."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cli.main import cli
from nnmath import registry
from nnmath.primitives import sigmoid
from publishing.reuse import check_key, needs_tensorflow, verify_reusing


def _subjects():
    formulas = [registry.formula("relu"), registry.formula("sigmoid")]
    claims = [registry.claim("relu'"), registry.claim("sigmoid'")]
    return formulas, claims


def _dicts(checks):
    return [c.as_dict() for c in checks]


def test_a_reused_result_is_the_measured_one(tmp_path):
    formulas, claims = _subjects()
    first = verify_reusing(formulas, claims, tmp_path, oracle=False)
    assert first.reused == 0 and len(first.checks) == 6  # 2 lowerings, 2×(sym, fd)
    started = []
    again = verify_reusing(
        formulas, claims, tmp_path, oracle=False, on_start=started.append
    )
    assert again.reused == len(again.checks) == 6 and started == []
    # the same rows, seconds and per-case errors included, in the same order
    assert _dicts(again.checks) == _dicts(first.checks)


def test_fresh_runs_every_check_again(tmp_path):
    formulas, claims = _subjects()
    verify_reusing(formulas, claims, tmp_path, oracle=False)
    started = []
    run = verify_reusing(
        formulas, claims, tmp_path, oracle=False, fresh=True, on_start=started.append
    )
    assert run.reused == 0 and len(started) == len(run.checks) == 6


def _wrong_sigmoid():
    """sigmoid' about a changed formula: σ(z)·(1 + σ(z)) is not its derivative."""
    good = registry.claim("sigmoid'")
    s = sigmoid(good.formula.var)
    return dataclasses.replace(good, rhs=s * (1 + s))


def test_a_changed_claim_reruns_only_its_own_checks_and_is_caught(tmp_path):
    formulas, claims = _subjects()
    verify_reusing(formulas, claims, tmp_path, oracle=False)
    started = []
    changed = [claims[0], _wrong_sigmoid()]
    run = verify_reusing(
        formulas, changed, tmp_path, oracle=False, on_start=started.append
    )
    assert started == ["sigmoid' symbolic", "sigmoid' finite differences"]
    assert run.reused == 4
    failed = {(c.subject, c.method) for c in run.checks if not c.passed}
    assert failed == {("sigmoid'", "symbolic"), ("sigmoid'", "finite-differences")}
    # the failure is filed too, and reported as measured when reused
    again = verify_reusing(formulas, changed, tmp_path, oracle=False)
    assert again.reused == 6 and _dicts(again.checks) == _dicts(run.checks)


def test_a_changed_formula_reruns_its_checks_and_its_claims(tmp_path):
    formulas, claims = _subjects()
    verify_reusing(formulas, claims, tmp_path, oracle=False)
    f = dataclasses.replace(formulas[1], title=formulas[1].title + " (edited)")
    c = dataclasses.replace(claims[1], formula=f)
    started = []
    run = verify_reusing(
        [formulas[0], f],
        [claims[0], c],
        tmp_path,
        oracle=False,
        on_start=started.append,
    )
    assert sorted(started) == [
        "sigmoid lowering",
        "sigmoid' finite differences",
        "sigmoid' symbolic",
    ]
    assert run.reused == 3 and all(k.passed for k in run.checks)


def test_the_key_is_the_label_the_subject_and_the_checker(tmp_path):
    formulas, claims = _subjects()
    key = check_key("relu lowering", formulas[0], "checker")
    assert key == check_key("relu lowering", registry.formula("relu"), "checker")
    assert key != check_key("relu lowering", formulas[0], "another checker")
    assert key != check_key("relu tf float64", formulas[0], "checker")
    assert key != check_key("relu lowering", formulas[1], "checker")


def test_a_damaged_entry_is_never_served_and_is_healed(tmp_path):
    formulas, claims = _subjects()
    first = verify_reusing(formulas, claims, tmp_path, oracle=False)
    entries = sorted((tmp_path / "verify" / "checks").glob("*.json"))
    assert len(entries) == 6
    truncated, altered, foreign, wrong_form = entries[:4]
    truncated.write_bytes(truncated.read_bytes()[:40])
    doc = json.loads(altered.read_text())  # valid JSON, a number changed
    doc["check"]["passed"] = not doc["check"]["passed"]
    altered.write_text(json.dumps(doc))
    doc = json.loads(foreign.read_text())  # another entry's content
    foreign.write_text(entries[5].read_text())
    wrong_form.write_text(json.dumps({**doc, "check": {"subject": "relu"}}))
    started = []
    run = verify_reusing(
        formulas, claims, tmp_path, oracle=False, on_start=started.append
    )
    assert run.reused == 2 and len(started) == 4
    assert [(c.subject, c.method, c.passed) for c in run.checks] == [
        (c.subject, c.method, c.passed) for c in first.checks
    ]
    healed = verify_reusing(formulas, claims, tmp_path, oracle=False)
    assert healed.reused == 6 and _dicts(healed.checks) == _dicts(run.checks)


def test_a_timed_out_check_is_not_filed(tmp_path):
    formulas, claims = _subjects()
    run = verify_reusing([], claims[1:], tmp_path, oracle=False, timeout=1e-9)
    assert any(c.detail.startswith("timed out after") for c in run.checks)
    again = verify_reusing([], claims[1:], tmp_path, oracle=False)
    timed_out = [c for c in run.checks if c.detail.startswith("timed out after")]
    assert again.reused == len(run.checks) - len(timed_out)


def test_which_checks_need_tensorflow():
    relu, adam = registry.formula("relu"), registry.formula("adam")
    assert needs_tensorflow("relu tf float32", relu)
    assert needs_tensorflow("relu' tf-grad float64", registry.claim("relu'"))
    assert not needs_tensorflow("relu lowering", relu)
    assert not needs_tensorflow("relu' symbolic", registry.claim("relu'"))
    assert needs_tensorflow("adam keras-trajectory", adam)


def test_parallel_checks_equal_the_serial_ones(tmp_path, monkeypatch):
    from publishing.processes import FreshProcesses

    submitted = []
    real_submit = FreshProcesses.submit

    def submit(self, fn, *args, **kwargs):
        submitted.append([label for label, *_ in args[0]])  # a batch's checks
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(FreshProcesses, "submit", submit)
    formulas, claims = _subjects()
    claims = [claims[0], _wrong_sigmoid()]  # a failure comes back as a failure
    serial = verify_reusing(formulas, claims, None, oracle=False)
    seen = []
    parallel = verify_reusing(
        formulas, claims, tmp_path, oracle=False, jobs=2, on_check=seen.append
    )

    def facts(checks):
        return [{**c.as_dict(), "seconds": None} for c in checks]

    assert facts(parallel.checks) == facts(serial.checks)  # in plan order
    assert len(seen) == 6
    # the registered subjects' checks in fresh processes, in batches that hold
    # each once; the changed claim (not in a fresh registry) in this process
    assert len(submitted) > 1
    assert sorted(sum(submitted, [])) == [
        "relu lowering",
        "relu' finite differences",
        "relu' symbolic",
        "sigmoid lowering",
    ]
    again = verify_reusing(formulas, claims, tmp_path, oracle=False, jobs=2)
    assert again.reused == 6 and _dicts(again.checks) == _dicts(parallel.checks)


# -- the command ---------------------------------------------------------------------
def _one_line_error(result, *needles):
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[0]


def test_verify_says_how_many_it_reused_and_fresh_reruns(tmp_path, monkeypatch):
    monkeypatch.delenv("NNBOOK_CACHE", raising=False)
    runner, media = CliRunner(), str(tmp_path / "m")
    report = tmp_path / "r.json"
    args = ["verify", "chapter2", "--no-tf", "--media", media, "--json", str(report)]
    first = runner.invoke(cli, args)
    assert first.exit_code == 3, first.output
    measured = json.loads(report.read_text())["checks"]
    n = sum(not c["skipped"] for c in measured)
    assert f"0 of {n} checks reused" in first.output
    assert all(isinstance(c["seconds"], float) for c in measured)
    slowest = [ln for ln in first.output.splitlines() if ln.startswith("slowest: ")]
    assert len(slowest) == 1 and slowest[0].count(" s") >= 5
    second = runner.invoke(cli, args)
    assert f"{n} of {n} checks reused" in second.output
    assert json.loads(report.read_text())["checks"] == measured  # as measured
    third = runner.invoke(cli, [*args, "--fresh"])
    assert f"0 of {n} checks reused" in third.output


@pytest.mark.parametrize("jobs", ["0", "-1", "two", "65"])
def test_bad_jobs_are_a_usage_error(jobs):
    result = CliRunner().invoke(cli, ["verify", "chapter1", "-j", jobs])
    assert result.exit_code == 2
    _one_line_error(result, "-j")


def test_a_cache_that_cannot_be_written_is_one_line_before_any_check(
    tmp_path, monkeypatch
):
    import publishing.reuse

    def no_work(*a, **kw):
        raise AssertionError("verification started before the cache was checked")

    monkeypatch.setattr(publishing.reuse, "verify_reusing", no_work)
    monkeypatch.delenv("NNBOOK_CACHE", raising=False)
    media = tmp_path / "m"
    media.mkdir()
    (media / ".cache").write_text("a file where the cache should be")
    result = CliRunner().invoke(cli, ["verify", "chapter1", "--media", str(media)])
    assert result.exit_code == 1
    _one_line_error(result, ".cache", "is not a directory")


@pytest.mark.tf
def test_a_warm_verify_does_not_import_tensorflow(tmp_path):
    """Chapter 1 verified once (TensorFlow runs), then again in a fresh process:
    every check is reused, so nothing imports TensorFlow, nor what a lowering
    needs (scipy.special: 0.15 s of a 0.5 s warm run, when it was imported
    with the lowering's module)."""
    code = (
        "import sys\nfrom cli.main import cli\n"
        "try:\n    cli(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
        "print('TF' if 'tensorflow' in sys.modules else 'no TF', code)\n"
        "print('scipy.special' in sys.modules)\n"
    )
    args = [sys.executable, "-c", code, "verify", "chapter1", "--media", str(tmp_path)]

    def last_line():
        out = subprocess.run(args, capture_output=True, text=True, check=True)
        *_, line, special = out.stdout.splitlines()
        return f"{line} {special}", out.stdout

    cold, _ = last_line()
    assert cold == "TF 0 True"  # it did need TensorFlow: the test can fail
    warm, out = last_line()  # the whole run again (publishing.reuse.replay)
    assert warm == "no TF 0 False", out
    assert "15 of 15 checks reused" in out
    runs = tmp_path / ".cache" / "verify" / "runs"
    for entry in runs.glob("*.json"):  # check by check, planning them all
        entry.unlink()
    warm, out = last_line()  # the chapter is loaded: Manim imports scipy
    assert warm.startswith("no TF 0"), out
    assert "15 of 15 checks reused" in out and list(runs.glob("*.json"))


def test_a_limit_that_runs_out_at_once_leaves_no_timer_behind():
    """Regression: an alarm due before the block was entered (or while it was
    cleaned up) escaped the clean-up, leaving a timer that re-fired every
    second and raised CheckTimeout in whatever ran next."""
    import signal

    from nnmath.checker.deadline import CheckTimeout, time_limit

    before = signal.getsignal(signal.SIGALRM)
    for _ in range(300):
        try:
            with time_limit(1e-9):
                sum(range(50))
        except CheckTimeout:
            pass
        assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
        assert signal.getsignal(signal.SIGALRM) is before


def test_a_worker_that_dies_fails_its_checks_by_name_and_files_nothing(
    tmp_path, monkeypatch
):
    """A worker killed mid-check (as the OOM killer would): its checks fail by
    name, the others come back, nothing of the dead batch is filed."""
    import os
    import signal
    import threading
    import time

    from publishing.processes import FreshProcesses

    pools = []
    real_submit = FreshProcesses.submit

    def submit(self, fn, *args, **kwargs):
        pools.append(self)
        return real_submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(FreshProcesses, "submit", submit)

    def kill_first_worker():
        while True:
            pids = [p for p in pools[0].pids if p] if pools else []
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_first_worker, daemon=True)
    killer.start()
    slow = registry.claim("mlp/dW1")  # a proof of seconds: killed while it runs
    run = verify_reusing([], [slow], tmp_path, oracle=False, jobs=2)
    killer.join(timeout=60)
    died = [c for c in run.checks if c.kind == "error"]
    assert died and all(
        "worker failed" in c.detail and "SIGKILL" in c.detail and not c.passed
        for c in died
    ), [c.detail for c in run.checks]
    assert {c.subject for c in run.checks} == {"mlp/dW1"}
    filed = len(list(tmp_path.glob("verify/checks/*.json")))
    assert filed == len(run.checks) - len(died)


def test_a_worker_runs_only_the_subject_the_parent_fingerprinted():
    """Workers look subjects up in their own registry (SymPy trees do not
    survive pickling intact); one whose fingerprint differs is sent back."""
    from nnmath.fingerprint import fingerprint
    from publishing.reuse import _reference, run_batch

    relu = registry.formula("relu")
    ref = _reference(relu)
    assert ref == ("formula", "relu", ())
    assert _reference(_wrong_sigmoid()) is None  # not the registered claim
    assert _reference(registry.claim("multi_head_attention/dx")) == (
        "claim",
        "multi_head_attention/dx",
    )
    ran, refused = run_batch(
        [("relu lowering", ref, fingerprint(relu)), ("relu lowering", ref, "0" * 64)],
        False,
        None,
    )
    assert ran["subject"] == "relu" and ran["passed"] and refused is None


def test_a_whole_run_is_replayed_only_while_nothing_changed(tmp_path, monkeypatch):
    import publishing.reuse as reuse

    formulas, claims = _subjects()
    run = verify_reusing(formulas, claims, tmp_path, oracle=False)
    names = ("chapter2",)
    reuse.remember_run(tmp_path, names, run, ["chapter2"], reuse.sources_digest())
    replayed, ids = reuse.replay(tmp_path, names)
    assert ids == ["chapter2"] and replayed.reused == 6
    assert _dicts(replayed.checks) == _dicts(run.checks)
    assert reuse.replay(tmp_path, ("chapter1",)) is None  # another request
    assert reuse.replay(tmp_path, ("lectures/week3.py",)) is None
    with monkeypatch.context() as m:  # a source file edited since
        m.setattr(reuse, "sources_digest", lambda: "0" * 64)
        assert reuse.replay(tmp_path, names) is None
    entry = next((tmp_path / "verify" / "checks").glob("*.json"))
    entry.write_text(entry.read_text()[:-20])  # one check damaged: not replayed
    assert reuse.replay(tmp_path, names) is None


def test_a_run_whose_sources_changed_while_it_ran_is_not_filed(tmp_path):
    import publishing.reuse as reuse

    formulas, claims = _subjects()
    run = verify_reusing(formulas, claims, tmp_path, oracle=False)
    reuse.remember_run(tmp_path, ("chapter2",), run, ["chapter2"], "0" * 64)
    assert reuse.replay(tmp_path, ("chapter2",)) is None


def test_batches_keep_one_formulas_proofs_together_and_tensorflow_apart():
    from publishing.reuse import _batches

    labels = [
        "attention/dq symbolic",
        "mlp/dW1 symbolic",
        "attention/dk symbolic",
        "mlp/dx symbolic",
        "attention/dv symbolic",
        "mlp lowering",
        "mlp/dW1 finite differences",
        "mlp/dW1 tf-grad float64",
        "attention/dq tf-grad float32",
    ]
    todo = [(i, label, " tf" in label) for i, label in enumerate(labels)]
    batches = _batches(todo, 2, {})
    assert sorted(i for b in batches for i in b) == list(range(len(labels)))
    where = {i: k for k, b in enumerate(batches) for i in b}
    assert where[0] == where[2] == where[4]  # attention's three proofs
    assert where[1] == where[3]  # mlp's two
    # one batch pays TensorFlow's import here (3 s against 0.06 s of its checks)
    assert sum(any(todo[i][2] for i in b) for b in batches) == 1


def test_the_batch_that_imports_tensorflow_also_takes_other_checks_to_balance():
    from publishing.reuse import _batches

    # 10 s of TensorFlow's checks, 30 s of proofs (guessed from the last run)
    todo = [(0, "mlp/dW1 tf-grad float64", True)]
    todo += [(i, f"f{i}/dx symbolic", False) for i in range(1, 7)]
    last = {"mlp/dW1 tf-grad float64": 10.0}
    last |= {f"f{i}/dx symbolic": 5.0 for i in range(1, 7)}
    batches = _batches(todo, 2, last)
    assert len(batches) == 2
    loads = sorted(
        sum(last[todo[i][1]] for i in b) + (3.0 if 0 in b else 0.0) for b in batches
    )
    assert loads == [20.0, 23.0]  # not [10 + 3, 30]


def test_forked_batches_put_tensorflow_first_and_the_rest_longest_first():
    """Forked processes start in milliseconds: the other checks are cut into
    more batches than processes, so that one which is done takes the next."""
    from publishing.reuse import CHEAP_BATCHES, _batches

    todo = [(0, "mlp/dW1 tf-grad float64", True), (1, "mlp/dx tf-grad float64", True)]
    todo += [(i, f"f{i}/dx symbolic", False) for i in range(2, 30)]
    todo += [(30, "f2/dx finite differences", False), (31, "f2 lowering", False)]
    last = {f"f{i}/dx symbolic": float(i) for i in range(2, 30)}
    batches = _batches(todo, 2, last, cheap=True)
    assert sorted(i for b in batches for i in b) == list(range(32))
    assert set(batches[0]) == {0, 1}  # TensorFlow's, one batch, first
    rest = batches[1:]
    assert all(not todo[i][2] for b in rest for i in b)
    assert len(rest) == CHEAP_BATCHES * 2
    loads = [sum(last.get(todo[i][1], 0.06) for i in b) for b in rest]
    assert loads == sorted(loads, reverse=True)
    assert len({k for k, b in enumerate(rest) if {2, 30, 31} & set(b)}) == 1  # f2's
    # spawned processes: one batch each
    assert len(_batches(todo, 2, last)) == 2


def test_a_larger_proof_is_guessed_longer_and_its_batch_goes_first():
    """Proofs take from milliseconds to seconds: a cold run guesses each from
    its size, so that multi-head attention's proofs (5 s) do not start last."""
    from nnmath import claim
    from publishing.reuse import _batches, _guesses

    names = ["multi_head_attention/dW_q", "attention/dv", "sigmoid'", "mse/dyhat"]
    plan = [(f"{n} symbolic", claim(n), None) for n in names]
    guess = _guesses(plan, range(len(plan)))
    seconds = [guess[label] for label, _, _ in plan]
    assert seconds[0] > seconds[1] > max(seconds[2], seconds[3]) > 0
    todo = [(i, label, False) for i, (label, _, _) in enumerate(plan)]
    batches = _batches(todo, 2, guess, cheap=True)
    assert batches[0] == [0]


def test_every_subject_of_the_library_can_be_checked_in_a_worker():
    """A subject a worker cannot find is checked in the parent, after the
    workers and one at a time: the unrolled networks and their BPTT claims
    were (51 and 48 checks, about 15 s of a cold ``verify -j 2``)."""
    import subprocess
    import sys

    # in a fresh interpreter: other tests register lecturers' formulas here
    probe = (
        "from publishing.gate import subjects\n"
        "from publishing.reuse import _reference\n"
        "formulas, claims = subjects([], whole_library=True)\n"
        "print(len(formulas) + len(claims))\n"
        "print([s.name for s in [*formulas, *claims] if _reference(s) is None])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    count, left = done.stdout.splitlines()
    assert int(count) > 150 and left == "[]"


def test_batches_without_tensorflow_are_lists_of_indices():
    from publishing.reuse import _batches

    todo = [(i, f"f{i}/dx symbolic", False) for i in range(5)]
    batches = _batches(todo, 2, {})
    assert len(batches) == 2
    assert sorted(i for b in batches for i in b) == list(range(5))
