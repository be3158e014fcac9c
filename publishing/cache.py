"""Content-addressed caches: rendered scenes and verification results.

A scene's cache entry is keyed like a compiler's dependency file.  The *request*
(scene, quality, format, colour theme, library versions) names the entry; the
*dependencies* are recorded while the scene renders, in a fresh process: the
SHA-256 of every project source file it imported, and the fingerprint of every
formula and claim it looked up in the registry.  An entry is reused only while
all of them are unchanged, so editing one formula re-renders exactly the scenes
that used it.

Finished files live once, under their own SHA-256, in ``objects/``; the cache
directory can therefore sit on shared storage and serve several machines.  An
object is hashed again before every use: a damaged one (truncated by a full
disk, a crash, another machine) is a miss, and the fresh render replaces it, so
it never reaches an output folder.  An entry in an unexpected form is a miss
too.  Everything is written to a temporary name and moved into place; the name
carries the host and process, so a later run can remove what a killed one left.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = [
    "CacheError",
    "DamagedError",
    "Dependencies",
    "SceneCache",
    "atomic_copy",
    "atomic_write",
    "cache_root",
    "file_sha",
    "fingerprinted_root",
    "is_sha",
    "library_versions",
    "open_cache",
    "package_dir",
    "recorded_dependencies",
    "source_roots",
    "sweep_partials",
    "sweep_temp",
    "temp_folder",
    "writable_cache",
]

#: bump when the layout of entries changes
LAYOUT = 1


def package_dir(package) -> Path:
    """The folder an imported package's code lives in: code is found through the
    packages Python imported, wherever they are installed, never through paths
    written here (a package that moves is still found)."""
    return Path(package.__file__).resolve().parent


def source_roots() -> tuple[Path, ...]:
    """The folders whose source files a render depends on: the packages that
    compute and draw it (nnmath, chapters, publishing).  The command line is
    not one of them: it draws nothing."""
    import chapters
    import nnmath
    import publishing

    return tuple(package_dir(p) for p in (nnmath, chapters, publishing))


def fingerprinted_root() -> Path:
    """The formula library: its definitions are tracked by the fingerprints of
    the formulas and claims a render looked up, not by their source files."""
    import nnmath.library

    return package_dir(nnmath.library)


#: a SHA-256 as the cache writes it: the only names an entry may point to
_SHA = re.compile(r"[0-9a-f]{64}")


def is_sha(value) -> bool:
    """A SHA-256 in hex, as the cache names objects (an entry may name no other)."""
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


class CacheError(OSError):
    """A cache directory that cannot be used; the message says which and why."""

    def __str__(self) -> str:
        return str(self.args[0])


class DamagedError(OSError):
    """A cached file whose content no longer matches its SHA-256."""


def cache_root(out_dir: Path) -> Path:
    """``$NNBOOK_CACHE`` if set (e.g. shared storage), else ``OUT_DIR/.cache``."""
    return Path(os.environ.get("NNBOOK_CACHE") or Path(out_dir) / ".cache")


def writable_cache(root: Path, *, create: bool = True) -> Path:
    """``root``, proved writable by writing a file there; :class:`CacheError` if not.

    With ``create=False`` a missing ``root`` is an error (shared storage that is
    not mounted should not be replaced by an empty local folder)."""
    root = Path(root)
    try:
        if not root.is_dir():
            if not create or root.exists():
                raise CacheError(
                    "does not exist" if not root.exists() else "is not a directory"
                )
            root.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=root, prefix=".nnbook-write-test-")
        os.close(fd)
        os.unlink(probe)
    except CacheError as exc:
        raise CacheError(str(exc)) from None
    except OSError as exc:
        raise CacheError(f"is not writable ({exc.strerror or exc})") from None
    return root


def open_cache(out_dir: Path) -> Path:
    """The cache for ``out_dir`` (see :func:`cache_root`), checked before any work:
    :class:`CacheError` in one line if ``$NNBOOK_CACHE`` is missing or either
    cache cannot be written."""
    shared = os.environ.get("NNBOOK_CACHE")
    root = cache_root(out_dir)
    try:
        return writable_cache(root, create=not shared)
    except CacheError as exc:
        if shared:
            raise CacheError(
                f"the cache NNBOOK_CACHE={shared} {exc}; create it or make it "
                "writable, or unset NNBOOK_CACHE to cache in "
                f"{Path(out_dir) / '.cache'}"
            ) from None
        raise CacheError(
            f"the cache {root} {exc}; choose another output folder "
            "or set NNBOOK_CACHE to a writable folder"
        ) from None


def file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


#: this machine, in the names of temporary files (a shared cache is written by
#: several machines, whose process ids mean nothing here)
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"


@contextmanager
def _atomically(path: Path) -> Iterator[Path]:
    """A temporary name beside ``path``; moved onto ``path`` only if the block
    finishes, removed in any case: ``path`` is always the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.partial")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def atomic_write(path: Path, text: str) -> None:
    with _atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


def atomic_copy(src: Path, dst: Path, *, sha: str | None = None) -> None:
    """Copy ``src`` onto ``dst`` atomically; with ``sha``, only if the copy hashes
    to it (:class:`DamagedError` otherwise, and ``dst`` is left as it was)."""
    with _atomically(dst) as partial:
        shutil.copyfile(src, partial)
        if sha is not None and file_sha(partial) != sha:
            raise DamagedError(f"{src} does not match its SHA-256 {sha[:12]}…")


def sweep_partials(folder: Path) -> None:
    """Remove this machine's temporary files in ``folder`` whose process is gone
    (left by a render or a cache write killed outright)."""
    if not Path(folder).is_dir():
        return
    for p in Path(folder).glob(".*.partial"):
        parts = p.name.rsplit(".", 3)
        mine = len(parts) == 4 and parts[1] == _HOST and parts[2].isdigit()
        if mine and not _alive(int(parts[2])):
            p.unlink(missing_ok=True)


def temp_folder(kind: str) -> tempfile.TemporaryDirectory:
    """A temporary folder named for this host and process
    (``nnbook-render-HOST-PID-…``), so that :func:`sweep_temp` can tell when its
    process is gone."""
    return tempfile.TemporaryDirectory(prefix=f"nnbook-{kind}-{_HOST}-{os.getpid()}-")


def sweep_temp(pids: set[int] | None = None) -> list[Path]:
    """Remove this host's nnbook temporary folders whose process is gone (or is one
    of ``pids``, just stopped); return them.  A render or a worker killed outright
    (SIGKILL, the OOM killer) leaves its folder behind; the next run removes it."""
    pattern = re.compile(rf"nnbook-[a-z]+-{re.escape(_HOST)}-(\d+)-[a-z0-9_]+")
    removed = []
    try:
        found = list(Path(tempfile.gettempdir()).iterdir())
    except OSError:
        return removed
    for folder in found:
        m = pattern.fullmatch(folder.name)
        if m and folder.is_dir() and not folder.is_symlink():
            pid = int(m.group(1))
            if (pids is not None and pid in pids) or not _alive(pid):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except OverflowError:
        return False
    return True


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
    formulas: dict[str, str] = field(
        default_factory=dict
    )  # "name|params" → fingerprint
    claims: dict[str, str] = field(default_factory=dict)  # name → fingerprint

    def stale(self) -> str:
        """Why these dependencies no longer hold ("" if they all do)."""
        from nnmath import registry
        from nnmath.fingerprint import fingerprint

        for path, sha in self.modules.items():
            try:
                if not Path(path).is_file() or file_sha(Path(path)) != sha:
                    return f"{Path(path).name} changed"
            except (OSError, ValueError):  # unreadable, or a name with a NUL byte
                return f"{Path(path).name} changed"
        for key, fp in self.formulas.items():
            name, _, params = key.partition("|")
            try:
                if len(params) > 1000:  # the cache writes a short tuple of pairs
                    raise ValueError("parameters too long")
                now = fingerprint(
                    registry.formula(name, **dict(ast.literal_eval(params)))
                )
            except (
                KeyError,
                ValueError,
                TypeError,
                SyntaxError,
                MemoryError,
                RecursionError,
            ):
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
            try:
                found.add(("formula", name, ast.literal_eval(params)))
            except (ValueError, SyntaxError, RecursionError, MemoryError):
                found.add(("formula", name, ()))  # unreadable: verify the default
        return found


def _source_file(
    module, roots: tuple[Path, ...], extra: tuple[Path, ...]
) -> Path | None:
    """The module's source file if a render depends on it: a ``.py`` file of the
    project's packages (``roots``) outside the formula library, or of a
    lecturer's folder (``extra``) outside any Python installation."""
    path = getattr(module, "__file__", None)
    if not path or getattr(module, "__name__", "") in ("__main__", "__mp_main__"):
        return None  # the process's main program (the command line) draws nothing
    p = Path(path).resolve()
    if p.suffix != ".py" or p.is_relative_to(fingerprinted_root()):
        return None
    if any(p.is_relative_to(r) for r in roots):
        return p
    installed = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    if any(p.is_relative_to(x) for x in installed) or "site-packages" in p.parts:
        return None
    return p if any(p.is_relative_to(r) for r in extra) else None


def recorded_dependencies(
    used: set, extra_roots: tuple[Path, ...] = ()
) -> Dependencies:
    """Dependencies of a render that just ran in this process.

    ``used`` is what :func:`nnmath.registry.recording` collected.  Project source
    files are those imported from the project's packages (:func:`source_roots`)
    or from ``extra_roots`` (the folder of a lecturer's chapter file).
    """
    from nnmath import registry
    from nnmath.fingerprint import fingerprint

    roots, extra = source_roots(), tuple(Path(r).resolve() for r in extra_roots)
    deps = Dependencies()
    for module in list(sys.modules.values()):
        p = _source_file(module, roots, extra)
        if p is not None:
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

    def verified(self, sha: str) -> Path | None:
        """The object ``sha`` if its content still hashes to ``sha``, else None."""
        blob = self.object(sha)
        try:
            return blob if blob.is_file() and file_sha(blob) == sha else None
        except OSError:
            return None

    def keep(self, produced: Path) -> str:
        """Store ``produced`` as an object; return its SHA.  An existing object of
        that name is kept only if it is intact: a damaged one is replaced."""
        sha = file_sha(produced)
        if self.verified(sha) is None:
            atomic_copy(produced, self.object(sha), sha=sha)
        return sha

    def read_json(self, path: Path):
        """A JSON file of the cache, or None if it is missing or unreadable."""
        try:
            if path.stat().st_size > 1 << 24:  # no entry is this large
                return None
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None

    def lookup(self, request: dict) -> tuple[Path | None, str]:
        """(the cached file, "") on a hit; (None, reason) on a miss."""
        entry = self._entry(self.request_key(request))
        if not entry.is_file():
            return None, "not rendered before"
        parsed = _entry(self.read_json(entry))
        if parsed is None:
            return None, "cache entry unreadable"
        sha, deps = parsed
        reason = deps.stale()
        if reason:
            return None, reason
        blob = self.verified(sha)
        if blob is None:
            return None, "cached file missing or damaged"
        return blob, ""

    def recorded(self, request: dict) -> Dependencies | None:
        """The dependencies the request's entry records (None if it has none)."""
        parsed = _entry(self.read_json(self._entry(self.request_key(request))))
        return None if parsed is None else parsed[1]

    def store(
        self, request: dict, produced: Path, deps: Dependencies, seconds: float
    ) -> str:
        """Keep ``produced`` under its SHA and point the request's entry at it;
        return the SHA."""
        sha = self.keep(produced)
        atomic_write(
            self._entry(self.request_key(request)),
            json.dumps(
                {
                    "request": request,
                    "sha256": sha,
                    "seconds": round(seconds, 3),
                    "dependencies": {
                        "modules": deps.modules,
                        "formulas": deps.formulas,
                        "claims": deps.claims,
                    },
                },
                indent=1,
                sort_keys=True,
            ),
        )
        return sha


def _entry(data) -> tuple[str, Dependencies] | None:
    """(object SHA, dependencies) of an entry's JSON, or None for any other form."""
    if not isinstance(data, dict) or not is_sha(data.get("sha256")):
        return None
    deps = data.get("dependencies")
    if not isinstance(deps, dict):
        return None
    tables = [deps.get(k) for k in ("modules", "formulas", "claims")]
    if set(deps) != {"modules", "formulas", "claims"} or not all(
        isinstance(t, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items())
        for t in tables
    ):
        return None
    return data["sha256"], Dependencies(*tables)
