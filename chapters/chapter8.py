"""Chapter 8: pooling, flatten, and a small CNN trained on real digits.

The pooling numbers are ``formula("max_pool2d"/"avg_pool2d").numpy`` on the edge
maps of chapter 7; the network is :mod:`nnmath.runs.cnn`, trained with the formulas'
own NumPy and the claims' gradients; the backward pass shown is the claims'
``gradient.numpy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    RIGHT,
    UP,
    FadeIn,
    FadeOut,
    GrowFromEdge,
    LaggedStart,
    Scene,
    VGroup,
)

from nnmath.registry import claim, formula
from nnmath.runs import edges
from nnmath.runs.cnn import CNN, trained
from nnmath.worked import fmt

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    ProbabilityBars,
    label,
    reading_time,
    teaching_pause,
    title,
)
from .blocks.grid import ArrayImage, NumberGrid, heading, link, note

__all__ = [
    "BackwardScene",
    "CHAPTER",
    "CNNForwardScene",
    "FlattenScene",
    "PoolingScene",
    "example",
]

#: a 4×4 patch of chapter 7's two edge maps whose 2×2 windows each have one
#: largest value (a tie would put max-pooling on a kink)
POOL_PATCH = (slice(2, 6), slice(2, 6))
#: the upstream gradient shown flowing back through the pooling (one per window)
POOL_UPSTREAM = np.array([[1.0, 2.0], [3.0, 4.0]])
#: the output cells whose gradients are traced back through the convolution,
#: on an input of this size
TRACED = ((2, 1), (2, 2))
ROUTING_SIZE = (5, 5)
#: feature maps shown of the trained network's 8
SHOWN_MAPS = 4


def pooling(patch: np.ndarray) -> dict:
    """Max and average pooling of a (4, 4, C) patch, the max cells found by the
    max-pool claim (the cells its gradient flows to), and the flattened result."""
    cnn = CNN()
    x = patch[None]
    mx, avg = cnn.max_pool, formula("avg_pool2d", pool_size=2, stride=2)
    pooled = mx.numpy(x=x)
    g = np.broadcast_to(POOL_UPSTREAM[None, :, :, None], pooled.shape)
    routed = claim("max_pool2d/dx").gradient.numpy(x=x, g=g)[0]
    return {
        "x": patch,
        "max": pooled[0],
        "avg": avg.numpy(x=x)[0],
        "g": POOL_UPSTREAM,
        "routed": routed,
        "flat": formula("flatten").numpy(x=pooled)[0],
    }


def conv_routing() -> dict:
    """How output gradients reach the input through the convolution: upstream
    gradients of 1 at two neighbouring output cells of a 5×5 'same' map, sent back
    through the conv2d/dx claim with the trained network's first kernel."""
    net = trained()
    w = net.params["w"][..., :1]  # the first filter (one input channel)
    shape = (1, *ROUTING_SIZE, 1)
    f = claim("conv2d/dx").formula
    cover = edges.footprints(f, *ROUTING_SIZE, w.shape[:2])
    out = {
        "w": w[..., 0, 0],
        "traced": TRACED,
        # the input cells under each traced cell's window, as the formula reads them
        "windows": [cover[cell] for cell in TRACED],
    }
    for key, cells in (("one", TRACED[:1]), ("both", TRACED)):
        g = np.zeros(shape)
        for cell in cells:
            g[(0, *cell, 0)] = 1.0
        arrays = {"x": np.zeros(shape), "w": w, "b": np.zeros(1), "g": g}
        out[f"g_{key}"] = g[0, ..., 0]
        out[f"dx_{key}"] = claim("conv2d/dx").gradient.numpy(**arrays)[0, ..., 0]
    return out


def example() -> dict:
    """Pooling and flatten on chapter 7's edge maps; the trained CNN on chapter
    7's digit (from the test split, never seen in training); the backward pass."""
    maps = edges.edge_maps(edges.digit()[0])
    net = trained()
    sample = edges.SAMPLE
    where = int(np.flatnonzero(net.split.test_index == sample)[0])
    x = net.split.x_test[where : where + 1]
    acts = net.cnn.forward(net.params, x)
    return {
        "pool": pooling(maps[POOL_PATCH]),
        "cnn": {
            "sample": sample,
            "target": int(net.split.y_test[where]),
            "x": x[0, ..., 0],
            "z1": acts["z1"][0],
            "a1": acts["a1"][0],
            "p1": acts["p1"][0],
            "p": acts["p"][0],
            "predicted": int(np.argmax(acts["p"][0])),
            "test_accuracy": net.test_accuracy,
            "train_accuracy": net.train_accuracy,
            "test_size": len(net.split.y_test),
            "epochs": net.epochs,
            "seconds": net.seconds,
            "losses": net.losses,
        },
        "conv_routing": conv_routing(),
    }


def _windows(size: int = 2, count: int = 2) -> list[tuple[int, int]]:
    """Top-left cells of the 2×2, stride-2 pooling windows, row by row."""
    return [(size * a, size * b) for a in range(count) for b in range(count)]


class PoolingScene(Scene):
    """Max and average pooling of a 4×4 patch of a real edge map, window by window."""

    def construct(self):
        pool = example()["pool"]
        x, mx, avg = pool["x"][..., 0], pool["max"][..., 0], pool["avg"][..., 0]
        head = title(
            "Pooling: one number per window",
            "a 4×4 patch of chapter 7's left → right edge map, 2×2 windows, stride 2",
        )
        self.play(FadeIn(head), run_time=0.6)
        grid = NumberGrid(x, cell=0.8, heat=True).move_to([-3.9, -0.4, 0])
        outs = {
            "max": NumberGrid(shape=mx.shape, cell=0.9, digits=0),
            "avg": NumberGrid(shape=avg.shape, cell=1.1, digits=2),
        }
        outs["max"].move_to([1.0, 0.9, 0])
        outs["avg"].move_to([1.0, -2.0, 0])
        eqs = VGroup(
            EquationPanel(formula("max_pool2d").latex, max_width=4.6, font_size=28)
            .next_to(outs["max"], RIGHT, buff=0.4)
            .to_edge(RIGHT, buff=0.3),
            EquationPanel(formula("avg_pool2d").latex, max_width=4.6, font_size=28)
            .next_to(outs["avg"], RIGHT, buff=0.4)
            .to_edge(RIGHT, buff=0.3),
        )
        heads = VGroup(
            heading("input", grid),
            heading("max pooling", outs["max"]),
            heading("average pooling", outs["avg"]),
        )
        self.play(FadeIn(VGroup(grid, *outs.values(), heads)), run_time=1)
        self.play(FadeIn(eqs), run_time=0.8)
        window, ring = None, None
        for n, (r, c) in enumerate(_windows()):
            i, j = divmod(n, 2)
            frame = grid.window(r, c, 2, 2)
            block = x[r : r + 2, c : c + 2]
            best = np.unravel_index(np.argmax(block), block.shape)
            mark = grid.outline([(r + best[0], c + best[1])], color=COLORS["output"])
            if window is None:
                window, ring = frame, mark
                self.play(FadeIn(window), FadeIn(ring), run_time=0.5)
            else:
                self.play(
                    window.animate.move_to(frame),
                    ring.animate.move_to(mark),
                    run_time=0.5,
                )
            self.play(
                FadeIn(outs["max"].entry(i, j, mx[i, j], color=COLORS["output"])),
                FadeIn(outs["avg"].entry(i, j, avg[i, j], color=COLORS["highlight"])),
                run_time=0.6,
            )
            self.wait(0.4)
        self.play(FadeOut(window), FadeOut(ring), run_time=0.4)
        self.wait(2)


class FlattenScene(Scene):
    """Two pooled 2×2 maps become one vector of 8: row by row, channels adjacent."""

    def construct(self):
        pool = example()["pool"]
        maps, flat = pool["max"], pool["flat"]
        channels = maps.shape[-1]
        head = title(
            "Flatten: maps → one vector",
            "both max-pooled edge maps (2×2×2), read row by row, channels side by side",
        )
        self.play(FadeIn(head), run_time=0.6)
        tints = (COLORS["input"], COLORS["output"])
        grids = (
            VGroup(
                *[
                    NumberGrid(maps[..., ch], cell=0.9, color=tints[ch], digits=0)
                    for ch in range(channels)
                ]
            )
            .arrange(RIGHT, buff=1.2)
            .move_to([0, 1.0, 0])
        )
        heads = VGroup(*[heading(f"channel {ch}", g) for ch, g in enumerate(grids)])
        self.play(FadeIn(grids), FadeIn(heads), run_time=0.8)
        vector = NumberGrid(flat[None, :], cell=0.9, digits=0).move_to([0, -1.9, 0])
        for k, square in enumerate(vector.cells):
            square.set_stroke(tints[k % channels])
        idx = VGroup(
            *[
                label(f"{k}", font_size=20, color=COLORS["muted"]).next_to(
                    vector.cell(0, k), DOWN, buff=0.1
                )
                for k in range(len(flat))
            ]
        )
        self.play(FadeIn(vector.cells), FadeIn(idx), run_time=0.6)
        moves = []
        for k in range(len(flat)):
            # where entry k came from: the formula's row-major order over (h, w, c)
            h, w, ch = np.unravel_index(k, maps.shape)
            moves.append(
                grids[ch].number(h, w).copy().animate.move_to(vector.cell(0, k))
            )
        self.play(LaggedStart(*moves, lag_ratio=0.35), run_time=4)
        card = EquationPanel(formula("flatten").latex, max_width=8, font_size=30)
        self.play(FadeIn(card.to_edge(DOWN, buff=0.25)), run_time=0.6)
        self.wait(reading_time(card.equation.tex_string))


class CNNForwardScene(Scene):
    """A real test digit through the trained CNN: feature maps as images, pooled
    maps, class probabilities."""

    def construct(self):
        data = example()["cnn"]
        head = title(
            f"A trained CNN: test accuracy {100 * data['test_accuracy']:.1f} %",
            f"on {data['test_size']} held-out digits; "
            f"here test digit #{data['sample']} (a {data['target']}); "
            "4 of its 8 feature maps",
        )
        self.play(FadeIn(head), run_time=0.6)
        digit = ArrayImage(
            data["x"], height=2.4, vmin=0, vmax=1, caption="input 8×8", scale=False
        )
        digit.move_to([-5.5, -0.4, 0])
        self.play(FadeIn(digit), run_time=0.6)
        top = max(data["a1"][..., :SHOWN_MAPS].max(), 1e-9)  # one scale for all maps

        def column(maps: np.ndarray, x: float) -> VGroup:
            """The first SHOWN_MAPS feature maps as images, one above the other."""
            images = [
                ArrayImage(maps[..., k], height=1.15, vmin=0, vmax=top, scale=False)
                for k in range(SHOWN_MAPS)
            ]
            return VGroup(*images).arrange(DOWN, buff=0.18).move_to([x, -0.55, 0])

        conv_maps, pooled = column(data["a1"], -2.8), column(data["p1"], -0.8)
        heads = VGroup(
            heading("conv + ReLU", conv_maps, buff=0.12),
            heading("max-pool", pooled, buff=0.12),
        )
        for before, maps, head_ in (
            (digit, conv_maps, heads[0]),
            (conv_maps, pooled, heads[1]),
        ):
            self.play(
                FadeIn(link(before.get_right(), maps.get_left(), buff=0.12)),
                FadeIn(head_),
                LaggedStart(*[FadeIn(m) for m in maps], lag_ratio=0.3),
                run_time=1.6,
            )
            teaching_pause(self)

        pred, true = data["predicted"], data["target"]
        marks = {pred: COLORS["true"] if pred == true else COLORS["wrong"]}
        bars = ProbabilityBars(
            data["p"],
            [str(d) for d in range(10)],
            width=5.4,
            height=3.2,
            marks=marks,
            outlines={true: COLORS["true"]},
        ).move_to([4.0, -1.1, 0])
        arrow3 = link(pooled.get_right(), bars.get_left() + UP * 0.6)
        flat = label("flatten → dense → softmax", font_size=22, color=COLORS["muted"])
        flat.next_to(bars, UP, buff=0.35)
        self.play(
            FadeIn(arrow3),
            FadeIn(flat),
            FadeIn(bars.baseline),
            FadeIn(bars.names),
            run_time=0.8,
        )
        self.play(*[GrowFromEdge(b, DOWN) for b in bars.bars], run_time=1.2)
        verdict = label(
            f"predicted {pred} with p = {fmt(data['p'][pred])}",
            font_size=26,
            color=marks[pred],
        ).next_to(flat, UP, buff=0.3)
        self.play(FadeIn(verdict), run_time=0.6)
        self.wait(2.5)


class BackwardScene(Scene):
    """Where gradients go: through max pooling to each window's max cell only;
    through the convolution to the whole window, weighted by the kernel."""

    def construct(self):
        ex = example()
        pool, route = ex["pool"], ex["conv_routing"]
        head = title(
            "The backward pass: who receives which gradient", "through max pooling"
        )
        self.play(FadeIn(head), run_time=0.6)
        x = pool["x"][..., 0]
        grid = NumberGrid(x, cell=0.7, heat=True).move_to([-4.3, -0.5, 0])
        g = NumberGrid(pool["g"], cell=0.8, digits=0).move_to([0.0, -0.5, 0])
        dx = NumberGrid(shape=x.shape, cell=0.7, digits=0).move_to([4.3, -0.5, 0])
        heads = VGroup(
            heading("input x (forward)", grid),
            heading("upstream gradient g", g),
            heading("∂L/∂x", dx),
        )
        self.play(FadeIn(VGroup(grid, g, dx, heads)), run_time=1)
        routed = pool["routed"][..., 0]
        winners = [tuple(int(v) for v in rc) for rc in np.argwhere(routed != 0)]
        rings = grid.outline(winners, color=COLORS["output"])
        self.play(FadeIn(rings), run_time=0.6)
        values = VGroup(
            *[
                dx.entry(r, c, routed[r, c], color=COLORS["output"])
                for r, c in np.ndindex(x.shape)
            ]
        )
        self.play(
            LaggedStart(*[FadeIn(v) for v in values], lag_ratio=0.05), run_time=1.5
        )
        remark = note(
            "each window's gradient goes to its max cell; the other cells get 0"
        )
        self.play(FadeIn(remark), run_time=0.5)
        self.wait(1.5)
        teaching_pause(self)

        # through the convolution: one output cell, then a neighbour
        self.play(
            FadeOut(VGroup(grid, g, dx, heads, rings, values, remark)), run_time=0.6
        )
        sub = title(
            "The backward pass: who receives which gradient",
            "through a convolution ('same', the trained network's first 3×3 kernel)",
        )
        self.play(FadeIn(sub), FadeOut(head), run_time=0.5)
        ks = route["w"].shape
        kern = NumberGrid(route["w"], cell=0.75, heat=True).move_to([-0.9, -0.6, 0])
        frames, colors = [], (COLORS["highlight"], COLORS["output"])
        stages = []
        for key in ("one", "both"):
            g = NumberGrid(route[f"g_{key}"], cell=0.55, digits=0, heat=True)
            dx = NumberGrid(route[f"dx_{key}"], cell=0.72, heat=True)
            stages.append((g.move_to([-4.6, -0.6, 0]), dx.move_to([3.6, -0.6, 0])))
        for n, (cell, mask) in enumerate(zip(route["traced"], route["windows"])):
            g, dx = stages[n]
            frames.append(
                VGroup(
                    g.window(*cell, 1, 1, color=colors[n]),
                    dx.window(*edges.origin(mask, ks), *ks, color=colors[n]),
                )
            )
        heads = VGroup(
            heading("upstream gradient g", stages[0][0]),
            heading("kernel w", kern),
            heading("∂L/∂x", stages[0][1]),
        )
        self.play(FadeIn(VGroup(stages[0][0], kern, heads, frames[0][0])), run_time=1)
        self.play(FadeIn(stages[0][1]), FadeIn(frames[0][1]), run_time=1)
        self.wait(1.5)
        teaching_pause(self)
        self.play(
            FadeOut(stages[0][0]),
            FadeIn(stages[1][0]),
            FadeIn(frames[1][0]),
            run_time=0.6,
        )
        self.play(
            FadeOut(stages[0][1]),
            FadeIn(stages[1][1]),
            FadeIn(frames[1][1]),
            run_time=1.2,
        )
        self.bring_to_front(frames[0])
        remark = note(
            "a neighbour adds a shifted copy of the kernel; overlapping cells sum both"
        )
        self.play(FadeIn(remark), run_time=0.5)
        self.wait(2.5)


CHAPTER = Chapter(
    number=8,
    slug="cnn",
    title="Pooling and the CNN",
    module=__name__,
    formulas=(
        "max_pool2d",
        "avg_pool2d",
        "flatten",
        "conv2d",
        "relu",
        "dense",
        "softmax",
        "categorical_crossentropy_logits",
    ),
    claims=(
        "max_pool2d/dx",
        "avg_pool2d/dx",
        "conv2d/dx",
        "conv2d/dw",
        "conv2d/db",
        "flatten/dx",
        "relu'",
        "dense/dW",
        "dense/db",
        "dense/dx",
        "categorical_crossentropy_logits/dz",
    ),
    scenes=("PoolingScene", "FlattenScene", "CNNForwardScene", "BackwardScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
