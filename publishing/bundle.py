"""Embed bundles: for each rendered scene an mp4, a webm and a poster PNG (and a
GIF on request), plus snippets to paste into HTML, Markdown/MyST or Jupyter.

The webm, GIF and poster are derived from the mp4 with ffmpeg rather than
rendered again, and cached under the mp4's SHA-256, so a bundle costs one render.
A derived file is kept like a rendered scene: an entry names the SHA-256 of its
content, the content is an object of the render cache, and both are checked
before use, so a damaged webm is made again rather than served.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .cache import SceneCache, atomic_copy, atomic_write, file_sha, is_sha, temp_folder
from .tools import RenderError

__all__ = [
    "Bundle",
    "bundle_chapters",
    "bundle_scene",
    "make_poster",
    "snippets",
    "write_snippets",
    "poster_frame",
]

#: ffmpeg arguments of each derived file
RECIPES = {
    "webm": [
        "-c:v",
        "libvpx-vp9",
        "-b:v",
        "0",
        "-crf",
        "34",
        "-row-mt",
        "1",
        "-deadline",
        "good",
        "-cpu-used",
        "5",
        "-pix_fmt",
        "yuv420p",
        "-an",
    ],
    "gif": [
        "-vf",
        "fps=12,scale=640:-1:flags=lanczos,split[a][b];[a]palettegen"
        "=stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=3",
    ],
}
POSTER_SAMPLES = 24
#: a poster holds at least this share of the ink of the richest still frame
POSTER_INK = 0.5


@dataclass(frozen=True)
class Bundle:
    scene: str
    mp4: Path
    webm: Path
    poster: Path
    gif: Path | None = None
    width: int = 0
    height: int = 0


def _ffmpeg(args: list[str]) -> None:
    if shutil.which("ffmpeg") is None:
        raise RenderError(
            "cannot make the embed bundle: ffmpeg not found; install it "
            "(apt-get install ffmpeg, or ./run.sh setup)"
        )
    done = subprocess.run(
        ["ffmpeg", "-y", "-v", "error", *args], capture_output=True, text=True
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise RenderError(f"ffmpeg failed: {last}")


def poster_frame(video: Path, out: Path) -> tuple[int, int]:
    """Write the scene's completed moment, a *still* frame, as a PNG; return its size.

    The latest of evenly spaced samples (the last frame among them) that is not
    in the middle of a change (fewer than 0.2% of its pixels differ a third of
    a second before or after: a cross-fade would show two pictures on top of
    each other) and holds at least :data:`POSTER_INK` of the most ink any still
    sample has (a scene that fades out, or clears the stage at the end, ends on
    a nearly empty frame).  Only the frames compared are kept in memory, so a
    long 4K video costs no more than a short 480p one.
    """
    import av
    import numpy as np
    from PIL import Image

    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 15)
        count = stream.frames or sum(1 for _ in container.decode(stream))
    later = max(1, round(rate / 3))
    picks = np.linspace(0, count - 1, min(POSTER_SAMPLES, count)).astype(int).tolist()
    near = {i: (max(i - later, 0), min(i + later, count - 1)) for i in picks}
    wanted = {0, *picks, *(j for pair in near.values() for j in pair)}
    with av.open(str(video)) as container:
        frames = {
            n: f.to_ndarray(format="rgb24")
            for n, f in enumerate(container.decode(container.streams.video[0]))
            if n in wanted
        }
    background = np.median(frames[0].reshape(-1, 3), axis=0)

    def changed(a, b) -> np.ndarray:
        return np.abs(a.astype(int) - b.astype(int)).sum(axis=2) > 40

    ink = {i: np.mean(changed(frames[i], background[None, None, :])) for i in picks}

    def moving(i: int) -> float:
        return max(np.mean(changed(frames[i], frames[j])) for j in near[i])

    still = [i for i in picks if moving(i) < 0.002] or picks
    most = max(ink[i] for i in still)
    best = frames[max(i for i in still if ink[i] >= POSTER_INK * most)]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(best).save(out, format="PNG", optimize=True)
    return best.shape[1], best.shape[0]


def _cached(store: SceneCache, entry: Path) -> Path | None:
    """The intact object a derived file's entry names, or None."""
    data = store.read_json(entry)
    sha = data.get("sha256") if isinstance(data, dict) else None
    return store.verified(sha) if is_sha(sha) else None


def _derived(
    mp4: Path,
    key: str,
    kind: str,
    target: Path,
    cache: Path | None,
    force: bool = False,
) -> None:
    """Make ``target`` (webm, gif or png poster) from ``mp4``, via the cache."""
    store = SceneCache(cache) if cache else None
    entry = cache / "derived" / f"{key}.{kind}.json" if cache else None
    blob = _cached(store, entry) if store and not force else None
    if blob is None:
        with temp_folder("bundle") as tmp:
            made = Path(tmp) / f"out.{'png' if kind == 'poster' else kind}"
            if kind == "poster":
                poster_frame(mp4, made)
            else:
                _ffmpeg(["-i", str(mp4), *RECIPES[kind], str(made)])
            sha = file_sha(made)
            if store:
                try:
                    store.keep(made)
                    atomic_write(entry, f'{{"sha256": "{sha}"}}\n')
                except OSError:
                    pass  # a cache that cannot be written only costs time later
            if not target.is_file() or file_sha(target) != sha:
                atomic_copy(made, target, sha=sha)  # the fresh file, not the object
        return
    if not target.is_file() or file_sha(target) != blob.name:
        atomic_copy(blob, target, sha=blob.name)


def _key(mp4: Path) -> str:
    """Derived files are keyed on the video and on this module (recipes, poster
    rule)."""
    return f"{file_sha(mp4)}.{file_sha(Path(__file__))[:12]}"


def make_poster(mp4: Path, *, cache: Path | None = None, force: bool = False) -> Path:
    """The poster of one rendered mp4 (the same file :func:`bundle_scene` makes),
    written beside it, via the cache; without the webm, for the printed book."""
    poster = mp4.with_suffix(".png")
    _derived(mp4, _key(mp4), "poster", poster, cache, force)
    return poster


def bundle_scene(
    mp4: Path, *, gif: bool = False, cache: Path | None = None, force: bool = False
) -> Bundle:
    """The embed bundle of one rendered mp4, written beside it; ``force`` makes
    the derived files again rather than taking them from the cache."""
    import av

    key = _key(mp4)
    webm, poster = mp4.with_suffix(".webm"), mp4.with_suffix(".png")
    _derived(mp4, key, "webm", webm, cache, force)
    _derived(mp4, key, "poster", poster, cache, force)
    gif_path = mp4.with_suffix(".gif") if gif else None
    if gif_path:
        _derived(mp4, key, "gif", gif_path, cache, force)
    with av.open(str(mp4)) as container:
        ctx = container.streams.video[0].codec_context
        width, height = ctx.width, ctx.height
    return Bundle(mp4.stem, mp4, webm, poster, gif_path, width, height)


def snippets(b: Bundle) -> dict[str, str]:
    """Paste-ready embeds, with paths relative to the bundle's folder."""
    mp4, webm, poster = b.mp4.name, b.webm.name, b.poster.name
    html = (
        f'<video controls preload="metadata" width="{b.width}" poster="{poster}">\n'
        f'  <source src="{webm}" type="video/webm">\n'
        f'  <source src="{mp4}" type="video/mp4">\n'
        f'  <img src="{b.gif.name if b.gif else poster}" alt="{b.scene}">\n'
        "</video>"
    )
    myst = (
        f":::{{figure}} {mp4}\n:alt: {b.scene}\n:width: {b.width}px\n\n{b.scene}\n:::"
    )
    jupyter = (
        "from IPython.display import Video\n"
        f'Video("{mp4}", width={b.width}, html_attributes="controls loop muted '
        f"poster='{poster}'\")"
    )
    return {"html": html, "myst": myst, "jupyter": jupyter}


def write_snippets(folder: Path, bundles: list[Bundle], title: str) -> Path:
    """``EMBED.md`` in the chapter folder: every scene's snippets, ready to paste."""
    lines = [
        f"# {title}: embeds",
        "",
        "Paths are relative to this folder; copy the folder with the page.",
        "",
    ]
    for b in bundles:
        s = snippets(b)
        lines += [
            f"## {b.scene}",
            "",
            "HTML, or Markdown that allows raw HTML:",
            "",
            "```html",
            s["html"],
            "```",
            "",
            "MyST (Jupyter Book, mystmd):",
            "",
            "````markdown",
            s["myst"],
            "````",
            "",
            "Jupyter:",
            "",
            "```python",
            s["jupyter"],
            "```",
            "",
        ]
    path = folder / "EMBED.md"
    atomic_write(path, "\n".join(lines))
    return path


def bundle_chapters(
    chapters: Iterable,
    rendered: Iterable,
    out_dir: Path,
    *,
    gif: bool = False,
    cache: Path | None = None,
    force: bool = False,
) -> Iterator[Path]:
    """The embed bundle of each chapter's rendered scenes (``rendered``: what
    :func:`publishing.render.render_chapters` returned): each mp4's webm and
    poster (and GIF), then the chapter's ``EMBED.md``.  Yields every file as it
    is written, so a caller can list what was made before a failure."""
    rendered = list(rendered)
    for ch in chapters:
        made = [
            bundle_scene(r.path, gif=gif, cache=cache, force=force)
            for r in rendered
            if r.path.parent.name == ch.id
        ]
        for b in made:
            yield from [b.webm, b.poster] + ([b.gif] if b.gif else [])
        yield write_snippets(Path(out_dir) / ch.id, made, ch.title)
