"""``nnbook new PATH``: a lecturer's chapter that works at once.

Two files: ``PATH`` (``week3.py``), a chapter with one formula (SiLU, z·σ(z)),
its derivative claim and one scene; and its prose (``week3.md``) with the
``{{formula:…}}``, ``{{claim:…}}`` and ``{{scene:…}}`` placeholders.
``nnbook verify PATH``, ``lint``, ``render`` and ``build`` pass on them as
written.  The formula and claim are named after the file (``week3_silu``) and
the chapter takes a number no chapter file beside it has (100, 101, …), so that
new chapters can be built into one site.

Neither file is ever overwritten: each is created only where no file (or link)
is, and a refusal leaves nothing behind.
"""

from __future__ import annotations

import keyword
import os
import re
from pathlib import Path

__all__ = ["SkeletonError", "write_skeleton"]


class SkeletonError(ValueError):
    """Why a skeleton was not written, in one line."""


CHAPTER_PY = '''"""{title}: a chapter of your own, outside the book.

nnbook verify {py}     # proves the claim three ways
nnbook lint {py}       # checks the scene's layout, without a video
nnbook render {py}     # verifies, then renders the scene
nnbook build {py}      # a page with the prose of {md}

Edit the formula (one SymPy expression), its claimed derivative, the scene and
the prose; verify tells you when the claim and the formula disagree.
"""

import numpy as np
import sympy as sp
from manim import DOWN, UP, Create, FadeIn, MathTex, Scene

from chapters import Chapter
from chapters.blocks import COLORS, FunctionPlot, equation, reading_time, title
from nnmath import Claim, claim, formula
from nnmath.library.activations import elementwise
from nnmath.primitives import sigmoid
from nnmath.registry import register, register_claims

z = sp.Symbol("z", real=True)
SILU = z * sigmoid(z)  # the sigmoid-weighted linear unit (swish)


@register("{name}")
def _silu():
    return elementwise(
        "{name}",
        "Sigmoid-weighted linear unit",
        SILU,
        symbol=r"\\operatorname{{SiLU}}",
        tf="tf.nn.silu(z)",
    )


@register_claims
def _claims():
    # the product rule: σ(z) + z σ'(z), with σ' = σ(1 − σ)
    slope = sigmoid(z) * (1 + z * (1 - sigmoid(z)))
    return [Claim("{name}'", formula("{name}"), "z", slope, "SiLU'(z)")]


class {scene}(Scene):
    """SiLU and its derivative, every point computed by nnmath."""

    def construct(self):
        zs = np.linspace(-5, 5, 201)[None, :]
        value = formula("{name}").numpy(z=zs)[0]
        slope = claim("{name}'").gradient.numpy(z=zs, g=np.ones_like(zs))[0]
        heading = title("{title}", "SiLU, the activation of EfficientNet")
        eq = equation(formula("{name}").latex, max_width=12)
        eq.next_to(heading, DOWN, buff=0.3).set_x(0)
        plot = FunctionPlot(
            zs[0],
            value,
            x_range=(-5, 5, 1),
            y_range=(-1, 5, 1),
            width=9,
            height=4.2,
            y_label=r"\\operatorname{{SiLU}}(z)",
        )
        plot.to_edge(DOWN, buff=0.4)
        # colours are the theme's roles, never constants: the scene reads in
        # `--theme light` as in the dark theme
        derivative = plot.polyline(zs[0], slope, color=COLORS["derivative"])
        name = MathTex(
            r"\\operatorname{{SiLU}}'(z)", font_size=30, color=COLORS["derivative"]
        )
        name.next_to(plot.point(-2.5, 0.0), UP, buff=0.4)
        self.play(FadeIn(heading), FadeIn(eq), run_time=1)
        self.play(Create(plot), run_time=1.5)
        self.play(Create(derivative), FadeIn(name), run_time=1.5)
        self.wait(reading_time(eq.tex_string))


CHAPTER = Chapter(
    number={number},
    slug="{slug}",
    title="{title}",
    module=__name__,
    formulas=("{name}",),
    claims=("{name}'",),
    scenes=("{scene}",),
    prose_file="{md}",
)
'''

CHAPTER_MD = """# {title}

SiLU multiplies its input by the sigmoid of it: near 0 for large negative
inputs, near the identity for large positive ones, and smooth between.

{{{{formula:{name}}}}}

Its derivative, by the product rule, proved by `nnbook verify` symbolically,
against TensorFlow and by finite differences:

{{{{claim:{name}'}}}}

{{{{scene:{scene}}}}}
SiLU and its derivative, every point computed from the formula above.
"""


def _slug(stem: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", stem.lower()).strip("_")
    if not slug or slug[0].isdigit() or keyword.iskeyword(slug):
        slug = f"chapter_{slug}".rstrip("_")
    return slug


def _free_number(folder: Path) -> int:
    """100, or one more than the largest chapter number the chapter files
    already in ``folder`` declare (read, not run): chapters built into one site
    need numbers of their own."""
    taken = [99]
    for other in folder.glob("*.py"):
        try:
            text = other.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        taken += [int(m) for m in re.findall(r"\bnumber\s*=\s*(\d+)", text)]
    return max(taken) + 1


def _create(path: Path, text: str) -> None:
    """``text`` into a new file at ``path``; never over an existing one (or a
    link), never half-written: written beside it, then linked into place."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        temp.write_text(text, encoding="utf-8")
        os.link(temp, path)  # fails if anything is at path: nothing is replaced
    except FileExistsError:
        raise SkeletonError(
            f"{path} exists; nnbook new never overwrites a file"
        ) from None
    except OSError as exc:
        raise SkeletonError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        try:
            temp.unlink(missing_ok=True)
        except OSError:  # nothing was written where nothing may be written
            pass


def write_skeleton(path: str | os.PathLike) -> list[Path]:
    """Write a new chapter at ``path`` (a ``.py``) and its prose beside it (the
    same name, ``.md``); the paths written.  :class:`SkeletonError` (nothing
    written) if ``path`` is not a ``.py`` name, either file exists, or the
    folder is not there or not writable."""
    py = Path(path)
    if py.suffix != ".py":
        raise SkeletonError(
            f"{path}: a chapter file is a Python file; give a name ending in .py "
            "(nnbook new lectures/week3.py)"
        )
    if not re.fullmatch(r"[A-Za-z0-9_-]+", py.stem):
        raise SkeletonError(
            f"{py.name}: name the file with letters, digits, _ and - only "
            "(it is also the chapter's slug)"
        )
    md = py.with_suffix(".md")
    for p in (py, md):
        if p.exists() or p.is_symlink():
            raise SkeletonError(f"{p} exists; nnbook new never overwrites a file")
    folder = py.parent
    if not folder.is_dir():
        raise SkeletonError(f"{folder} is not a folder; create it first")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SkeletonError(f"{folder} is not writable")
    slug = _slug(py.stem)
    fields = {
        "name": f"{slug}_silu",
        "slug": slug,
        "title": slug.replace("_", " ").capitalize(),
        "scene": "SiluScene",
        "number": _free_number(folder),
        "py": py.name,
        "md": md.name,
    }
    _create(py, CHAPTER_PY.format(**fields))
    try:
        _create(md, CHAPTER_MD.format(**fields))
    except BaseException:
        py.unlink(missing_ok=True)  # both or neither
        raise
    return [py, md]
