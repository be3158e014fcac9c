"""Chapter 7: convolution (cross-correlation), stride, padding, channels, edges.

Every number on screen is ``formula("conv2d", ...).numpy`` on a real scikit-learn
digit; the cells a window covers are found by the same formula (see
:func:`nnmath.runs.edges.footprints`), never by index arithmetic written here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    FadeIn,
    FadeOut,
    LaggedStart,
    Scene,
    VGroup,
)

from nnmath.registry import formula
from nnmath.runs.edges import (
    SAMPLE,
    SOBEL_X,
    digit,
    edge_maps,
    footprints,
    origin,
    sobel,
)
from nnmath.worked import derived_latex, fmt, substituted_latex

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    equation,
    fit,
    label,
    reading_time,
    teaching_pause,
    title,
)
from .blocks.grid import ArrayImage, NumberGrid, heading, link, note
from .theme import current

__all__ = [
    "CHAPTER",
    "ChannelsScene",
    "EdgeScene",
    "SlidingWindowScene",
    "StridePaddingScene",
    "channel_sum",
    "conv_example",
    "example",
    "footprints",
]

#: the 5×5 patch of the digit the grids show (rows, columns): the left stroke
PATCH = (slice(1, 6), slice(1, 6))
#: the two-channel example: a 4×4 patch of both edge maps, a 2×2 kernel slice per
#: channel, and a bias
CHANNEL_PATCH = (slice(2, 6), slice(1, 5))
CHANNEL_KERNEL = np.array([[[1.0, 0.0], [0.0, -1.0]], [[0.0, 1.0], [-1.0, 0.0]]])
CHANNEL_BIAS = 2.0


def conv(stride: int = 1, padding: str = "valid", bias: bool = True):
    return formula("conv2d", stride=stride, padding=padding, bias=bias)


def conv_example(
    image: np.ndarray,
    kernel: np.ndarray,
    *,
    stride: int,
    padding: str,
    bias: float | None = None,
) -> dict:
    """One sliding-window example: input (H, W, C), kernel (k, k, C), the output
    (OH, OW) from the formula, each window's top-left cell, and the first two
    windows written out with their numbers (``bias=None``: a layer without one)."""
    image = image if image.ndim == 3 else image[..., None]
    kernel = kernel if kernel.ndim == 3 else kernel[..., None]
    f = conv(stride, padding, bias is not None)
    arrays = {"x": image[None], "w": kernel[..., None]}
    if bias is not None:
        arrays["b"] = np.array([bias])
    out = f.numpy(**arrays)[0, ..., 0]
    ksize = kernel.shape[:2]
    cover = footprints(f, *image.shape[:2], ksize)
    data = {
        "x": image,
        "w": kernel,
        "b": bias,
        "stride": stride,
        "padding": padding,
        "out": out,
        "origins": [origin(cover[ij], ksize) for ij in np.ndindex(out.shape)],
    }
    # The written rows read the zero border explicitly: the same windows of the
    # zero-padded input under 'valid' (the worked printer would otherwise index
    # a padded cell such as x[-1] from the far end of the array).
    top, bottom, left, right = border(data)
    zeros = ((0, 0), (top, bottom), (left, right), (0, 0))
    padded = dict(arrays, x=np.pad(arrays["x"], zeros))
    g = conv(stride, "valid", bias is not None)
    index = [s.name for s in g.indices]  # n, i, j, o in the formula's own names
    data["written"] = [
        substituted_latex(g, padded, at=dict(zip(index, (0, i, j, 0))), digits=0)
        for i, j in ((0, 0), (0, 1))
    ]
    data["written_values"] = g.numpy(**padded)[0, ..., 0]
    return data


def example() -> dict:
    """The worked examples: the 5×5 patch under a vertical-edge kernel ('valid',
    then stride 2 with 'same' padding), two edge maps as a two-channel input,
    and the Sobel maps of the whole digit."""
    raw, target = digit()
    patch = raw[PATCH]
    edges = edge_maps(raw)  # (8, 8, 2): both Sobel kernels, 'same'
    two = edges[CHANNEL_PATCH]  # (4, 4, 2)
    channels = conv_example(
        two, CHANNEL_KERNEL, stride=1, padding="valid", bias=CHANNEL_BIAS
    )
    # each channel's own sum: the same formula on one channel and its kernel slice
    f = conv(1, "valid", bias=False)
    slices = [
        {"x": two[None, ..., c, None], "w": CHANNEL_KERNEL[:, :, c, None, None]}
        for c in range(two.shape[-1])
    ]
    channels["partials"] = np.stack([f.numpy(**a)[0, ..., 0] for a in slices])
    # the first window's sum per channel, written out (right of its "=")
    channels["partials_written"] = [
        substituted_latex(f, a, digits=0).split(" = ", 1)[1] for a in slices
    ]
    return {
        "sample": SAMPLE,
        "target": target,
        "digit": raw,
        "patch": patch,
        "kernel": SOBEL_X,
        "valid": conv_example(patch, SOBEL_X, stride=1, padding="valid"),
        "same": conv_example(patch, SOBEL_X, stride=2, padding="same"),
        "channels": channels,
        "edges": {"sobel": sobel()[:, :, 0, :], "maps": edges},
    }


def channel_sum(data: dict, at: tuple[int, int] = (0, 0)) -> str:
    """``p_0 + p_1 + b = … = y``: output ``at`` as the channels' partial sums
    (each computed by the formula on its channel alone) plus the bias."""
    parts = data["partials"][(slice(None), *at)]
    names = " + ".join(f"p_{c}" for c in range(len(parts)))
    values = " + ".join(fmt(v, 0) for v in (*parts, data["b"]))
    line = f"{names} + b = {values} = {fmt(data['out'][at], 0)}"
    return line.replace("+ -", "- ")


def border(data: dict) -> tuple[int, int, int, int]:
    """The zero cells around the input (top, bottom, left, right) that the windows
    reach into: none for 'valid', TensorFlow's split for 'same'."""
    (h, w), k = data["x"].shape[:2], data["w"].shape[:2]
    rows = [r for r, _ in data["origins"]]
    cols = [c for _, c in data["origins"]]
    return (
        max(0, -min(rows)),
        max(0, max(rows) + k[0] - h),
        max(0, -min(cols)),
        max(0, max(cols) + k[1] - w),
    )


class SlidingWindowScene(Scene):
    """A 3×3 vertical-edge kernel slides over a 5×5 patch of a real digit; the
    first windows are written out, every output cell is filled as it is computed."""

    KEY = "valid"
    TITLE = "Convolution: one kernel slides over the image"
    CELL = 0.6

    def subtitle(self, data: dict) -> str:
        return (
            f"a 5×5 patch of digit #{SAMPLE}, the vertical-edge kernel, "
            f"stride {data['stride']}, padding '{data['padding']}'"
        )

    def construct(self):
        ex = example()
        data = ex[self.KEY]
        x, w, out = data["x"][..., 0], data["w"][..., 0], data["out"]
        k = w.shape[:2]
        head = title(self.TITLE, self.subtitle(data))
        self.play(FadeIn(head), run_time=0.6)

        pad = border(data)
        cell = self.CELL * 5 / (5 + max(pad[0] + pad[1], pad[2] + pad[3]) / 2)
        grid = NumberGrid(x, pad=pad, cell=cell).move_to([-4.0, -0.05, 0])
        kern = NumberGrid(w, cell=self.CELL, heat=True).move_to([0.0, 0.7, 0])
        result = NumberGrid(shape=out.shape, cell=0.78, digits=0)
        result.move_to([4.0, 0.2, 0])
        heads = VGroup(
            heading("input x" + (", zero border" if any(pad) else ""), grid, buff=0.1),
            heading("kernel w", kern),
            heading("output", result),
        )
        self.play(FadeIn(VGroup(grid, kern, result, heads)), run_time=1)
        f = conv(data["stride"], data["padding"], bias=data["b"] is not None)
        panel = EquationPanel(
            f.latex, caption="what every output cell is", max_width=13.4, font_size=28
        )
        panel.to_edge(DOWN, buff=0.2)
        general = panel.copy()  # shown again once the written rows are done
        self.play(FadeIn(panel), run_time=0.8)
        self.wait(reading_time(f.latex))
        teaching_pause(self)

        cols = out.shape[1]
        window = grid.window(*data["origins"][0], *k)
        target = result.window(0, 0, 1, 1)
        self.play(FadeIn(window), FadeIn(target), run_time=0.5)
        for n, (r, c) in enumerate(data["origins"]):
            i, j = divmod(n, cols)
            moves = [
                window.animate.move_to(grid.window(r, c, *k)),
                target.animate.move_to(result.cell(i, j)),
            ]
            if n:
                self.play(*moves, run_time=0.4 if n >= len(data["written"]) else 0.6)
            value = result.entry(i, j, out[i, j], color=COLORS["highlight"])
            if n < len(data["written"]):
                row = EquationPanel(
                    data["written"][n],
                    caption=f"output ({i}, {j}): each weight × the input under it, "
                    "summed",
                    max_width=13.4,
                    font_size=30,
                ).move_to(panel)
                # one row out, the next in: two equations morphed into each
                # other are unreadable halfway
                self.play(FadeOut(panel), run_time=0.3)
                self.play(FadeIn(row), run_time=0.5)
                panel = row
                self.play(FadeIn(value), run_time=0.5)
                self.wait(reading_time(data["written"][n]) - 0.5)
            elif n == len(data["written"]):  # no stale caption for the other cells
                self.play(FadeOut(panel), FadeIn(general), FadeIn(value), run_time=0.5)
                panel = general
            else:
                self.play(FadeIn(value), run_time=0.3)
        self.play(FadeOut(window), FadeOut(target), run_time=0.4)
        self.wait(1.5)
        teaching_pause(self)
        self.coda(data, panel)

    def coda(self, data: dict, panel) -> None:
        """What the scene adds once every cell is filled (nothing here)."""


class StridePaddingScene(SlidingWindowScene):
    """Stride 2 with 'same' padding: a zero border, and the window jumps 2 cells."""

    KEY = "same"
    TITLE = "Stride 2 and 'same' padding"

    def coda(self, data: dict, panel) -> None:
        """Why 5×5 becomes 3×3, and why the border is one cell: the sizes the
        formula derives, worked out (rows; the columns' are the same)."""
        f = conv(data["stride"], data["padding"], bias=data["b"] is not None)
        (h, w), (kh, kw) = data["x"].shape[:2], data["w"].shape[:2]
        sizes = derived_latex(f, {"H": h, "KH": kh, "W": w, "KW": kw})
        lines = VGroup(*[equation(sizes[s], font_size=28) for s in ("Ho", "P_t")])
        fit(lines.arrange(RIGHT, buff=0.8), width=13.2)
        caption = label(
            f"why {h}×{w} becomes {data['out'].shape[0]}×{data['out'].shape[1]}: "
            "the output rows, and the zero rows above (the columns alike)",
            font_size=22,
            color=COLORS["muted"],
        )
        block = VGroup(caption, lines).arrange(DOWN, buff=0.2, aligned_edge=LEFT)
        block.to_edge(DOWN, buff=0.3)
        self.play(FadeOut(panel), run_time=0.4)
        self.play(FadeIn(block), run_time=0.8)
        self.wait(sum(reading_time(line.tex_string) for line in lines))


class ChannelsScene(Scene):
    """Two channels: each kernel slice slides over its own channel; the partial
    sums and the bias add up to one output value."""

    CELL = 0.6

    def construct(self):
        data = example()["channels"]
        x, w, out = data["x"], data["w"], data["out"]
        k = w.shape[:2]
        head = title(
            "Channels are summed",
            "input: both edge maps (4×4 patches), a 2×2 kernel slice per channel, "
            f"bias b = {fmt(data['b'], 0)}",
        )
        self.play(FadeIn(head), run_time=0.6)
        grids, kernels, rows = [], [], VGroup()
        for ch in range(x.shape[-1]):
            g = NumberGrid(x[..., ch], cell=self.CELL, heat=True)
            kk = NumberGrid(w[..., ch], cell=self.CELL, heat=True)
            row = VGroup(g, kk).arrange(RIGHT, buff=0.45)
            grids.append(g), kernels.append(kk), rows.add(row)
        rows.arrange(DOWN, buff=0.6).move_to([-4.1, -0.55, 0])
        result = NumberGrid(shape=out.shape, cell=0.62, digits=0)
        result.move_to([5.5, 1.0, 0])
        heads = VGroup(
            *[heading(f"channel {c}", g, buff=0.1) for c, g in enumerate(grids)],
            *[
                heading(f"kernel slice {c}", kk, buff=0.1)
                for c, kk in enumerate(kernels)
            ],
            heading("output", result),
        )
        self.play(FadeIn(rows), FadeIn(result), FadeIn(heads), run_time=1)

        cols = out.shape[1]
        windows = VGroup(*[g.window(*data["origins"][0], *k) for g in grids])
        target = result.window(0, 0, 1, 1)
        self.play(FadeIn(windows), FadeIn(target), run_time=0.5)
        sums = VGroup(
            *[
                equation(f"p_{c} = {text}", font_size=26, max_width=5.0).next_to(
                    kk, RIGHT, buff=0.25
                )
                for c, (text, kk) in enumerate(zip(data["partials_written"], kernels))
            ]
        )
        self.play(LaggedStart(*[FadeIn(s) for s in sums], lag_ratio=0.5), run_time=1.2)
        total = EquationPanel(
            channel_sum(data),
            caption="output (0, 0): the channels' sums and the bias",
            max_width=5.2,
            font_size=30,
        ).move_to([4.2, -2.9, 0])
        self.play(FadeIn(total), run_time=0.8)
        first = result.entry(0, 0, out[0, 0], color=COLORS["highlight"])
        self.play(FadeIn(first), run_time=0.5)
        self.wait(1.5)
        teaching_pause(self)
        for n, (r, c) in enumerate(data["origins"][1:], start=1):
            i, j = divmod(n, cols)
            self.play(
                *[
                    wd.animate.move_to(g.window(r, c, *k))
                    for wd, g in zip(windows, grids)
                ],
                target.animate.move_to(result.cell(i, j)),
                run_time=0.35,
            )
            self.play(
                FadeIn(result.entry(i, j, out[i, j], color=COLORS["highlight"])),
                run_time=0.25,
            )
        self.play(FadeOut(windows), FadeOut(target), run_time=0.4)
        self.wait(1.5)


class EdgeScene(Scene):
    """Sobel kernels on a whole real digit: two edge maps, shown as images."""

    def construct(self):
        ex = example()
        edges = ex["edges"]
        head = title(
            "Edges of a real digit",
            f"digit #{SAMPLE} (a {ex['target']}), Sobel kernels, stride 1, "
            "'same' padding",
        )
        self.play(FadeIn(head), run_time=0.6)
        image = ArrayImage(
            ex["digit"], height=3.4, vmin=0, vmax=16, caption="input: pixels 0–16"
        )
        image.move_to([-4.6, -0.3, 0])
        self.play(FadeIn(image), run_time=0.8)
        top = max(np.abs(edges["maps"]).max(), 1.0)  # one colour scale for both maps
        names = ("left → right change", "top → bottom change")
        for ch, y in ((0, 1.25), (1, -1.75)):
            kern = NumberGrid(edges["sobel"][..., ch], cell=0.42, heat=True).move_to(
                [-0.6, y, 0]
            )
            kname = heading(f"Sobel kernel {'xy'[ch]}", kern, buff=0.1)
            fmap = ArrayImage(
                edges["maps"][..., ch], height=2.1, vmax=top, caption=names[ch]
            )
            fmap.move_to([3.6, y - 0.1, 0])
            arrows = VGroup(
                link(image.get_right(), kern.get_left(), buff=0.2),
                link(kern.get_right(), fmap.frame.get_left(), buff=0.2),
            )
            self.play(FadeIn(kern), FadeIn(kname), FadeIn(arrows[0]), run_time=0.8)
            self.play(FadeIn(arrows[1]), FadeIn(fmap), run_time=1.2)
            self.wait(1.0)
        zero = current().background_word  # a small value fades into the frame
        remark = note(
            f"blue: brighter ahead · red: darker ahead · {zero}: no change", buff=0.2
        )
        self.play(FadeIn(remark), run_time=0.6)
        self.wait(2.5)


CHAPTER = Chapter(
    number=7,
    slug="convolution",
    title="Convolution",
    module=__name__,
    formulas=("conv2d",),
    claims=("conv2d/dx", "conv2d/dw", "conv2d/db"),
    scenes=("SlidingWindowScene", "StridePaddingScene", "ChannelsScene", "EdgeScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
