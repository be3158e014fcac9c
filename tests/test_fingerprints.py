"""The caches' view of the code: the files a fingerprint covers are found
through the imported packages, cover something, and miss nothing the checker or
a scene imports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from nnmath import registry
from publishing.cache import fingerprinted_root, recorded_dependencies, source_roots
from publishing.gate import engine_files


def _imported_in_a_fresh_process(*modules: str) -> list[Path]:
    """The source files of every module loaded after importing ``modules`` in a
    fresh interpreter (so nothing imported by the tests themselves counts)."""
    probe = (
        "import importlib, json, sys\n"
        f"for m in {list(modules)!r}: importlib.import_module(m)\n"
        "print(json.dumps([getattr(m, '__file__', None) or '' "
        "for m in list(sys.modules.values())]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return [Path(p).resolve() for p in json.loads(done.stdout) if p.endswith(".py")]


def test_the_checkers_fingerprint_covers_every_module_the_checker_imports():
    covered = set(engine_files())
    assert covered, "the checker's fingerprint covers no file"
    nnmath_dir = Path(registry.__file__).resolve().parent
    used = [
        p
        for p in _imported_in_a_fresh_process(
            "nnmath.checker.checks",
            "nnmath.checker.oracle",
            "nnmath.checker.report",
            "publishing.gate",
        )
        if p.is_relative_to(nnmath_dir) and not p.is_relative_to(fingerprinted_root())
    ]
    assert used
    missed = sorted(str(p.relative_to(nnmath_dir)) for p in used if p not in covered)
    assert not missed, f"the checker imports modules its fingerprint misses: {missed}"


def test_a_renders_fingerprint_covers_every_project_module_it_imports():
    roots = source_roots()
    assert {r.name for r in roots} == {"nnmath", "chapters", "publishing"}
    for root in roots:
        assert any(root.rglob("*.py")), f"{root} holds no source file"
    with registry.recording() as used:
        registry.formula("relu")
    deps = {Path(p) for p in recorded_dependencies(used).modules}
    imported = [
        p
        for p in map(
            Path,
            (getattr(m, "__file__", None) or "" for m in list(sys.modules.values())),
        )
        if p.suffix == ".py"
        and any(p.resolve().is_relative_to(r) for r in roots)
        and not p.resolve().is_relative_to(fingerprinted_root())
    ]
    assert imported
    missed = [str(p) for p in imported if p.resolve() not in deps]
    assert not missed, f"a render's fingerprint misses {missed}"
    # each package the scenes run on is covered
    for root in roots:
        assert any(p.is_relative_to(root) for p in deps), f"nothing of {root.name}"


def test_a_fingerprint_is_the_maths_not_the_order_sympy_keeps_it_in():
    import sympy as sp

    from nnmath.fingerprint import _canonical

    a, b, c = sp.symbols("a b c", real=True)
    assert _canonical(sp.Add(a, b * c, evaluate=False)) == _canonical(
        sp.Add(b * c, a, evaluate=False)
    )
    assert _canonical(a - b) != _canonical(b - a)
    assert _canonical(sp.Symbol("a")) != _canonical(a)  # assumptions count
    assert _canonical(sp.exp(a) / b) != _canonical(sp.exp(b) / a)


def test_fingerprints_are_the_same_in_every_interpreter():
    """The caches and the workers of ``verify -j`` compare fingerprints made in
    different processes, each with its own hash seed."""
    probe = (
        "from nnmath import registry\n"
        "from nnmath.fingerprint import fingerprint\n"
        "from nnmath.library.recurrent import networks\n"
        "subjects = [registry.formula(n) for n in registry.names()]\n"
        "subjects += list(registry.claims()) + list(networks())\n"
        "print(' '.join(fingerprint(s) for s in subjects))\n"
    )
    seen = set()
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert done.returncode == 0, done.stderr
        seen.add(done.stdout)
    assert len(seen) == 1
