"""Lecture slides: a chapter's scenes as a presentation that advances on a click.

manim-slides does the work: each scene class is rendered mixed with its
``Slide`` base, so the scene's :func:`chapters.blocks.teaching_pause` calls
become ``next_slide()`` (one slide per step of the story; in a plain render the
same calls do nothing).  A scene's slides (a video per slide and manim-slides'
JSON description) are packed into one file, ``<scene>.slides``, so that they go
through the same render cache and verification gate as a video
(:func:`publishing.render.render_jobs`).  Then manim-slides' converters write
the deck: reveal.js HTML or PowerPoint.

The HTML works offline from ``file://``: reveal.js is copied beside it from a
local copy (``NNBOOK_REVEALJS``, or ``share/reveal.js`` in the virtual
environment, which ``./run.sh setup`` installs); nothing is fetched when the
deck is built or viewed.  A deck is written under a hidden name and renamed into
place, so an interrupted run leaves no half-written deck where a good one was.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

from chapters import theme as themes
from chapters.base import Chapter

from .tools import RenderError

__all__ = [
    "TARGETS",
    "SlidesError",
    "build_slides",
    "check_slides_tools",
    "render_slides",
    "revealjs_dir",
    "sweep_staging",
]

#: what ``--to`` accepts: reveal.js HTML, PowerPoint
TARGETS = ("html", "pptx")
#: the reveal.js release manim-slides' HTML template is written for
REVEALJS_VERSION = "6.0.1"
#: what the HTML template loads from reveal.js's folder
_REVEALJS_FILES = (
    "dist/reveal.css",
    "dist/theme/black.css",
    "dist/theme/white.css",  # --theme light
    "dist/plugin/highlight/zenburn.css",
    "dist/reveal.js",
    "dist/plugin/notes.js",
    "dist/plugin/markdown.js",
)


class SlidesError(RenderError):
    """Slides cannot be made; the message is one line saying why and what to do."""


# -- in the render worker -------------------------------------------------------
def render_slides(scene_class: type, name: str, media: Path) -> Path:
    """Render ``scene_class`` as slides into ``media`` (Manim's config already
    set); return one file packing the slide videos and their description."""
    from manim_slides.slide import Slide

    # the scene's own construct(), with Slide's next_slide() and render(); not
    # reversing each slide halves the work (only the Qt presenter plays backwards)
    def __init__(self, *args, **kwargs):
        # past Slide.__init__, which only sets config["write_to_movie"] (for
        # Manim's OpenGL renderer; a key Manim 0.22 no longer has): the Cairo
        # renderer always writes the movie
        super(Slide, self).__init__(*args, **kwargs)

    def render(self, *args, **kwargs):
        # Slide.render with Manim 0.22's spelling of "keep every partial movie"
        # (-1; Slide sets infinity, which 0.22 refuses): the slides are cut from
        # them after the scene has rendered
        from manim import config

        config["max_files_cached"] = -1  # inside the worker's tempconfig
        super(Slide, self).render(*args, **kwargs)
        self._save_slides(use_cache=False, skip_reversing=True)

    mixed = type(
        name,
        (Slide, scene_class),
        {
            "__init__": __init__,
            "render": render,
            "skip_reversing": True,
            "__module__": scene_class.__module__,
        },
    )
    folder = media / "slides"
    mixed(output_folder=folder).render()
    described = folder / f"{name}.json"
    data = json.loads(described.read_text())
    for slide in data["slides"]:  # relative, as PresentationConfig.from_file reads
        for key in ("file", "rev_file"):
            slide[key] = str(Path(slide[key]).resolve().relative_to(media.resolve()))
    described.write_text(json.dumps(data, indent=1))
    packed = media / f"{name}.slides"
    with tarfile.open(packed, "w") as tar:
        tar.add(described, arcname=f"slides/{name}.json")
        tar.add(folder / "files" / name, arcname=f"slides/files/{name}")
    return packed


# -- in the command's process ---------------------------------------------------
def check_slides_tools(to: str) -> None:
    """manim-slides (and, for HTML, a local reveal.js) must be there."""
    if to not in TARGETS:
        raise ValueError(f"invalid --to {to!r}; valid: {', '.join(TARGETS)}")
    try:
        import manim_slides  # noqa: F401
    except ImportError:
        raise SlidesError(
            "manim-slides is not installed; install it with "
            "`pip install manim-slides` (./run.sh setup does)"
        ) from None
    if to == "html":
        revealjs_dir()


def revealjs_dir() -> Path:
    """The local copy of reveal.js the HTML decks are made with."""
    where = os.environ.get("NNBOOK_REVEALJS") or str(
        Path(sys.prefix) / "share" / "reveal.js"
    )
    folder = Path(where)
    missing = [f for f in _REVEALJS_FILES if not (folder / f).is_file()]
    if missing:
        raise SlidesError(
            f"reveal.js {REVEALJS_VERSION} not found in {folder} (no {missing[0]}); "
            "`./run.sh setup` installs it there, or set NNBOOK_REVEALJS to a "
            "folder holding reveal.js's dist/"
        )
    return folder


def build_slides(
    chapters: Sequence[Chapter],
    *,
    to: str = "html",
    out_dir: Path = Path("slides"),
    media_dir: Path = Path("media"),
    quality: str = "l",
    theme: str = themes.DEFAULT,
    **run,
) -> list[Path]:
    """One deck per chapter in ``out_dir`` (``chapterN.html`` with its
    ``chapterN_assets/`` folder, or ``chapterN.pptx``); return their paths.

    The scenes are rendered as slides through the render cache and the gate
    (``run`` goes to :func:`publishing.render.render_jobs`: ``verify``,
    ``workers``, ``force``, ``on_progress``, ``on_verified``); a chapter whose
    claims fail makes no deck unless ``verify=False``.  ``theme`` colours the
    scenes and picks reveal.js's matching theme (black or white).
    """
    from .paths import ensure_writable
    from .render import SLIDES, render_jobs, scene_job

    check_slides_tools(to)
    out_dir = ensure_writable(Path(out_dir), "-o DIR")
    jobs = [
        scene_job(ch, s, quality=quality, fmt=SLIDES, out_dir=media_dir, theme=theme)
        for ch in chapters
        for s in ch.scenes
    ]
    rendered = render_jobs(jobs, **run)

    def key(ch: Chapter) -> tuple[str, str]:
        return (ch.module, ch.path)

    decks = []
    for ch in chapters:
        packs = [r.path for r in rendered if (r.job.module, r.job.path) == key(ch)]
        decks.append(_deck(ch, packs, to, out_dir, themes.get(theme)))
    return decks


def _deck(
    chapter: Chapter,
    packs: Sequence[Path],
    to: str,
    out_dir: Path,
    theme: themes.Theme = themes.DARK,
) -> Path:
    """Write one chapter's deck from its scenes' slide packs, atomically."""
    from manim_slides.config import PresentationConfig
    from manim_slides.convert import PowerPoint, RevealJS

    from .cache import _HOST, temp_folder

    name = chapter.id
    out_dir.mkdir(parents=True, exist_ok=True)
    sweep_staging(out_dir)
    # named for this host and process, so that a run killed outright (SIGKILL)
    # leaves a folder the next run can tell is no one's
    stage = out_dir / f".{name}.{_HOST}.{os.getpid()}.partial"
    shutil.rmtree(stage, ignore_errors=True)  # this process's own, from before
    stage.mkdir()
    try:
        with temp_folder("slides") as unpacked:
            configs = []
            for i, pack in enumerate(packs):
                where = Path(unpacked) / str(i)
                with tarfile.open(pack) as tar:
                    tar.extractall(where, filter="data")
                (described,) = (where / "slides").glob("*.json")
                configs.append(PresentationConfig.from_file(described))
            if to == "pptx":
                written = stage / f"{name}.pptx"
                PowerPoint(presentation_configs=configs).convert_to(written)
            else:
                written = stage / f"{name}.html"
                assets = f"{name}_assets"
                revealjs = stage / assets / "reveal.js"
                for f in _REVEALJS_FILES:
                    (revealjs / f).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(revealjs_dir() / f, revealjs / f)
                RevealJS(
                    presentation_configs=configs,
                    cdn_url=f"{assets}/reveal.js",  # relative: works from file://
                    title=f"{chapter.number}. {chapter.title}",
                    reveal_theme=theme.reveal,
                ).convert_to(written)
        return _install(stage, written, out_dir, to)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def sweep_staging(out_dir: Path) -> list[Path]:
    """Remove the staging folders in ``out_dir`` of this machine's runs whose
    process is gone (killed outright while writing a deck); return them."""
    from .cache import _HOST, _alive

    removed = []
    for p in Path(out_dir).glob(".*.partial"):
        parts = p.name.rsplit(".", 3)
        mine = len(parts) == 4 and parts[1] == _HOST and parts[2].isdigit()
        if mine and p.is_dir() and not p.is_symlink() and not _alive(int(parts[2])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _install(stage: Path, written: Path, out_dir: Path, to: str) -> Path:
    """Move a finished deck from its staging folder into ``out_dir``: the assets
    folder first (the old one renamed aside, then removed), the file last, each
    by a rename."""
    target = out_dir / written.name
    if to == "html":
        assets = stage / f"{written.stem}_assets"
        final = out_dir / assets.name
        old = stage / "old-assets"
        if final.exists():
            os.replace(final, old)
        os.replace(assets, final)
    os.replace(written, target)
    return target
