"""Content-addressed caches: rendered scenes and verification results.

A scene's cache entry is keyed like a compiler's dependency file.  The *request*
(scene, quality, format, library versions) names the entry; the *dependencies*
are recorded while the scene renders, in a fresh process: the SHA-256 of every
project source file it imported, and the fingerprint of every formula and claim
it looked up in the registry.  An entry is reused only while all of them are
unchanged, so editing one formula re-renders exactly the scenes that used it.

Finished files live once, under their own SHA-256, in ``objects/``; the cache
directory can therefore sit on shared storage and serve several machines.
Everything is written to a temporary name and moved into place.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = ["Dependencies", "SceneCache", "cache_root", "file_sha", "atomic_copy",
           "atomic_write", "library_versions", "recorded_dependencies", "ROOT"]

#: bump when the layout of entries changes
LAYOUT = 1
#: the project checkout: its sources are dependencies, its .venv is not
ROOT = Path(__file__).resolve().parent.parent
#: formula definitions are tracked by fingerprint, not by source file; the
#: command line (imported by worker processes as their main module) draws nothing
_LIBRARY = ROOT / "nnmath" / "library"
_CLI = ROOT / "cli"


def cache_root(out_dir: Path) -> Path:
    """``$NNBOOK_CACHE`` if set (e.g. shared storage), else ``OUT_DIR/.cache``."""
    return Path(os.environ.get("NNBOOK_CACHE") or Path(out_dir) / ".cache")


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@contextmanager
def _atomically(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``; moved onto ``path`` only if the block
    finishes, removed in any case: ``path`` is always the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def atomic_write(path: Path, text: str) -> None:
    with _atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


def atomic_copy(src: Path, dst: Path) -> None:
    with _atomically(dst) as partial:
        shutil.copyfile(src, partial)


def library_versions() -> dict[str, str]:
    """Versions of what draws the pixels (read from metadata: imports nothing)."""
    found = {"python": sys.version.split()[0]}
    for dist in ("manim", "numpy", "sympy", "av", "manimpango", "pycairo"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "-"
    return found


# -- dependencies --------------------------------------------------------------
@dataclass
class Dependencies:
    """What one render read: source files and registry entries, with digests."""

    modules: dict[str, str] = field(default_factory=dict)  # path → sha256
    formulas: dict[str, str] = field(default_factory=dict)  # "name|params" → fingerprint
    claims: dict[str, str] = field(default_factory=dict)  # name → fingerprint

    def stale(self) -> str:
        """Why these dependencies no longer hold ("" if they all do)."""
        from nnmath import registry
        from nnmath.fingerprint import fingerprint

        for path, sha in self.modules.items():
            if not Path(path).is_file() or file_sha(Path(path)) != sha:
                return f"{Path(path).name} changed"
        for key, fp in self.formulas.items():
            name, _, params = key.partition("|")
            try:
                now = fingerprint(registry.formula(name, **dict(ast.literal_eval(params))))
            except (KeyError, ValueError):
                return f"formula {name} is gone"
            if now != fp:
                return f"formula {name} changed"
        for name, fp in self.claims.items():
            try:
                if fingerprint(registry.claim(name)) != fp:
                    return f"claim {name} changed"
            except KeyError:
                return f"claim {name} is gone"
        return ""

    def uses(self) -> set[tuple]:
        """The registry lookups these dependencies record, in the form
        :func:`nnmath.registry.recording` collects them."""
        found = {("claim", name, ()) for name in self.claims}
        for key in self.formulas:
            name, _, params = key.partition("|")
            found.add(("formula", name, ast.literal_eval(params)))
        return found


def _project_file(module) -> Path | None:
    path = getattr(module, "__file__", None)
    if not path:
        return None
    p = Path(path).resolve()
    prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    if p.suffix != ".py" or any(p.is_relative_to(x) for x in prefixes):
        return None
    if p.is_relative_to(_LIBRARY) or p.is_relative_to(_CLI) or "site-packages" in p.parts:
        return None
    return p


def recorded_dependencies(used: set, extra_roots: tuple[Path, ...] = ()) -> Dependencies:
    """Dependencies of a render that just ran in this process.

    ``used`` is what :func:`nnmath.registry.recording` collected.  Project source
    files are those imported from this checkout or from ``extra_roots`` (the
    folder of a lecturer's chapter file).
    """
    from nnmath import registry
    from nnmath.fingerprint import fingerprint

    roots = (ROOT, *extra_roots)
    deps = Dependencies()
    for module in list(sys.modules.values()):
        p = _project_file(module)
        if p is not None and any(p.is_relative_to(r) for r in roots):
            deps.modules[str(p)] = file_sha(p)
    for kind, name, params in sorted(used, key=repr):
        if kind == "formula":
            f = registry.formula(name, **dict(params))
            deps.formulas[f"{name}|{params!r}"] = fingerprint(f)
        else:
            deps.claims[name] = fingerprint(registry.claim(name))
    return deps


# -- the scene cache -----------------------------------------------------------
class SceneCache:
    """``entries/<request>.json`` → dependencies and the SHA of the finished file,
    kept in ``objects/<sha>``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @staticmethod
    def request_key(request: dict) -> str:
        body = {"layout": LAYOUT, "versions": library_versions(), **request}
        return text_sha(json.dumps(body, sort_keys=True))

    def _entry(self, key: str) -> Path:
        return self.root / "entries" / f"{key}.json"

    def object(self, sha: str) -> Path:
        return self.root / "objects" / sha

    def lookup(self, request: dict) -> tuple[Path | None, str]:
        """(the cached file, "") on a hit; (None, reason) on a miss."""
        entry = self._entry(self.request_key(request))
        if not entry.is_file():
            return None, "not rendered before"
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
            deps = Dependencies(**data["dependencies"])
            blob = self.object(data["sha256"])
        except (ValueError, KeyError, TypeError):
            return None, "cache entry unreadable"
        reason = deps.stale()
        if reason:
            return None, reason
        if not blob.is_file() or file_sha(blob) != data["sha256"]:
            return None, "cached file missing or damaged"
        return blob, ""

    def recorded(self, request: dict) -> Dependencies | None:
        """The dependencies the request's entry records (None if it has none)."""
        try:
            data = json.loads(self._entry(self.request_key(request)).read_text(
                encoding="utf-8"))
            return Dependencies(**data["dependencies"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def store(self, request: dict, produced: Path, deps: Dependencies,
              seconds: float) -> Path:
        """Keep ``produced`` under its SHA and point the request's entry at it."""
        sha = file_sha(produced)
        blob = self.object(sha)
        if not blob.is_file():
            atomic_copy(produced, blob)
        atomic_write(self._entry(self.request_key(request)), json.dumps({
            "request": request, "sha256": sha, "seconds": round(seconds, 3),
            "dependencies": {"modules": deps.modules, "formulas": deps.formulas,
                             "claims": deps.claims},
        }, indent=1, sort_keys=True))
        return blob
