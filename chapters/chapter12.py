"""Chapter 12: attention and the transformer block, on the Zen of Python.

Every weight on screen is the trained character transformer's
(:mod:`nnmath.runs.transformer`, trained with the formulas forward and the claims
backward), taken apart head by head with the registered formulas
(:func:`nnmath.runs.transformer.heads`); the scaling step's numbers are
``dense`` and ``attention`` on seeded random vectors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    FadeIn,
    FadeOut,
    LaggedStart,
    ReplacementTransform,
    RoundedRectangle,
    Scene,
    VGroup,
)

from nnmath.registry import formula
from nnmath.runs.transformer import corpus, heads, trained

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    fmt,
    label,
    reading_time,
    teaching_pause,
    title,
)
from .blocks.grid import ArrayImage, NumberGrid, colour_scale, heading, link, note

__all__ = [
    "BlockScene",
    "CHAPTER",
    "CausalMaskScene",
    "MultiHeadScene",
    "PatternScene",
    "ScalingScene",
    "example",
]

#: the line of the Zen the scenes read, and how many of its characters each shows
LINE = "Now is better than never."
PATTERN_CHARS, MASK_CHARS, HEADS_CHARS, BLOCK_CHARS = 10, 6, 8, 16
#: the scaling step: key widths, vectors per side, the query and keys shown
WIDTHS = (4, 16, 64, 256)
VECTORS = 40
SATURATION_WIDTH, SATURATION_KEYS = 64, 6
SEED = 12


def shown_chars(text: str) -> list[str]:
    """The characters as the grids label them: a space is drawn as _."""
    return ["_" if ch == " " else ch for ch in text]


def scaling() -> dict:
    """Dot products of random N(0, 1) vectors (``dense`` with the keys as its
    weights: every q·k of VECTORS queries and keys), their spread before and
    after the division by √d_k; and one query's weights over a few keys at
    d_k = 64 with the division (``attention``, values the identity, so the
    output is the weights) and without it (the query multiplied by √d_k)."""
    rng = np.random.default_rng(SEED)
    dense, att = formula("dense"), formula("attention")
    rows = []
    for width in WIDTHS:
        q, k = rng.standard_normal((2, VECTORS, width))
        dots = dense.numpy(x=q, W=k, b=np.zeros(VECTORS))
        rows.append((width, np.sqrt(width), dots.std(), (dots / np.sqrt(width)).std()))
    q = rng.standard_normal((1, 1, SATURATION_WIDTH))
    k = rng.standard_normal((1, SATURATION_KEYS, SATURATION_WIDTH))
    eye = np.eye(SATURATION_KEYS)[None]
    root = np.sqrt(SATURATION_WIDTH)
    return {
        "rows": rows,
        "logits": dense.numpy(x=q[0], W=k[0], b=np.zeros(SATURATION_KEYS))[0],
        "scaled": att.numpy(q=q, k=k, v=eye)[0, 0],
        "unscaled": att.numpy(q=q * root, k=k, v=eye)[0, 0],
    }


def causal_mask(view: dict, head: int = 0) -> dict:
    """One head's logits, the same with −∞ above the diagonal, ``softmax`` of
    that (which is the ``attention`` formula's weights), and the tutorials'
    error: the softmax of all logits, zeroed above the diagonal afterwards."""
    z = view["z"][head]
    late = np.triu(np.ones_like(z, dtype=bool), 1)  # key s after query t
    masked = np.where(late, -np.inf, z)
    softmax = formula("softmax")
    after = np.where(late, 0.0, softmax.numpy(z=z))
    return {
        "z": z,
        "late": late,
        "A": softmax.numpy(z=masked),
        "A_formula": view["A"][head],
        "after": after,
    }


def block(run, text: str) -> dict:
    """The residual stream at the last character of ``text``: the input h, the
    attention's output, each residual sum and layer norm, the feed-forward's
    output; the next character the readout predicts."""
    net, p = run.model, run.params
    chars = corpus(net.length)
    c = net.forward(p, chars.encode(text)[None, :])
    last = len(text) - 1
    probs = formula("softmax").numpy(z=c["logits"][last : last + 1])[0]
    best = int(np.argmax(probs))
    return {
        "h": c["h"][0, last],
        "attn": c["a"][0, last],
        "r1": c["r1"][last],
        "u": c["u"][last],
        "ffn": c["f2"][last],
        "r2": c["r2"][last],
        "v": c["v"][last],
        "next": chars.decode([best]),
        "p": probs[best],
    }


def example() -> dict:
    """The trained transformer on a line of the Zen, taken apart head by head,
    and the scaling step on random vectors."""
    run = trained()
    return {
        "losses": run.losses,
        "epochs": len(run.losses) - 1,
        "pattern": heads(run, LINE[:PATTERN_CHARS]),
        "mask": causal_mask(heads(run, LINE[:MASK_CHARS])),
        "heads": heads(run, LINE[:HEADS_CHARS]),
        "block": block(run, LINE[:BLOCK_CHARS]),
        "scaling": scaling(),
        "key_dim": run.model.key_dim,
        "width": run.model.width,
    }


def char_labels(grid: NumberGrid, text: str) -> VGroup:
    """The query characters left of the rows and the key characters above the
    columns."""
    rows, cols = grid.shape
    chars = shown_chars(text)
    marks = VGroup()
    for r in range(rows):
        marks.add(
            label(chars[r], font_size=24, color=COLORS["input"]).next_to(
                grid.cell(r, 0), LEFT, buff=0.15
            )
        )
    for c in range(cols):
        marks.add(
            label(chars[c], font_size=24, color=COLORS["output"]).next_to(
                grid.cell(0, c), UP, buff=0.12
            )
        )
    return marks


def parts(latex: str, *keep: int) -> str:
    """A formula's LaTeX one part per line (``align*`` lines, aligned at each
    part's first ``=``): the text is the formula's, only the layout changes.
    ``keep`` picks parts by position (all when empty)."""
    pieces = latex.split(r",\quad ")
    chosen = [pieces[i] for i in keep] if keep else pieces
    return r" \\ ".join(piece.replace(" = ", " &= ", 1) for piece in chosen)


def signed(x: float) -> str:
    """A number as the grids write it, with a true minus sign."""
    return fmt(x).replace("-", "\u2212")


def hide_upper(grid: NumberGrid) -> None:
    """No numbers above the diagonal, where a key comes after its query and the
    weight is exactly 0: the blank cells say so, and the others get room."""
    rows, cols = grid.shape
    grid.numbers.remove(
        *[grid.number(r, c) for r in range(rows) for c in range(r + 1, cols)]
    )


def even(grid: NumberGrid) -> NumberGrid:
    """One size for every number of the grid: the smallest that fitted its cell
    (a minus sign makes a number wider, and it would be drawn smaller)."""
    least = min(number.height for number in grid.numbers)
    for number in grid.numbers:
        number.scale(least / number.height)
    return grid


class PatternScene(Scene):
    """One head's attention weights on a line of the Zen: queries are rows, keys
    columns, and each row sums to 1."""

    def construct(self):
        ex = example()
        view, text = ex["pattern"], LINE[:PATTERN_CHARS]
        weights = view["A"][0]
        head = title(
            "Attention on a line of the Zen of Python",
            f"head 1 of the trained block on “{text}” (_ is a space): "
            "row t = query, column s = key",
        )
        self.play(FadeIn(head), run_time=0.6)
        grid = NumberGrid(weights, cell=0.56, heat=True, digits=2, font_size=20)
        grid.move_to([-3.5, -0.75, 0])
        hide_upper(grid)
        marks = char_labels(grid, text)
        axes = VGroup(
            label("queries t", font_size=22, color=COLORS["input"])
            .rotate(np.pi / 2)
            .next_to(marks[0:PATTERN_CHARS], LEFT, buff=0.15),
        )
        self.play(FadeIn(grid.cells), FadeIn(marks), FadeIn(axes), run_time=0.8)
        self.play(
            LaggedStart(
                *[
                    FadeIn(VGroup(*[grid.number(r, c) for c in range(r + 1)]))
                    for r in range(PATTERN_CHARS)
                ],
                lag_ratio=0.25,
            ),
            run_time=2.5,
        )
        sums = NumberGrid(
            weights.sum(axis=1)[:, None], cell=0.56, digits=2, font_size=20
        )
        sums.next_to(grid, RIGHT, buff=0.45)
        sums_head = label("row sum", font_size=22, color=COLORS["muted"])
        sums_head.next_to(sums, UP, buff=0.15)
        self.play(FadeIn(sums), FadeIn(sums_head), run_time=0.8)
        row = PATTERN_CHARS - 1
        frame = grid.window(row, 0, 1, PATTERN_CHARS)
        ring = sums.window(row, 0, 1, 1)
        panel = EquationPanel(
            parts(formula("attention").latex), max_width=5.6, font_size=26
        ).move_to([3.9, 0.6, 0])
        explain = VGroup(
            label("the softmax runs over the keys s:", font_size=22),
            label("each row (one query) sums to 1", font_size=22),
            label("a key after its query: weight 0 (blank)", font_size=22),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        explain.next_to(panel, DOWN, buff=0.3)
        self.play(FadeIn(panel), run_time=0.8)
        self.play(FadeIn(frame), FadeIn(ring), FadeIn(explain[:2]), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)
        self.play(FadeIn(explain[2]), run_time=0.5)
        self.wait(2)


class ScalingScene(Scene):
    """Dot products of random vectors grow like √d_k; without the division the
    softmax saturates."""

    def construct(self):
        sc = example()["scaling"]
        head = title(
            "Why divide by √dₖ",
            f"q·k for {VECTORS}×{VECTORS} pairs of random vectors, entries drawn "
            "from N(0, 1)",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = [["dₖ", "√dₖ", "spread of q·k", "spread of q·k / √dₖ"]]
        for width, root, raw, scaled in sc["rows"]:
            rows.append([str(width), f"{root:.0f}", f"{raw:.2f}", f"{scaled:.2f}"])
        cells = VGroup()
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                color = (
                    COLORS["muted"]
                    if r == 0
                    else (COLORS["output"] if c == 2 else None)
                )
                cells.add(label(text, font_size=30, color=color or COLORS["text"]))
        table = cells.arrange_in_grid(
            rows=len(rows), cols=4, buff=(0.7, 0.35), col_alignments="rrrr"
        ).move_to([0, 0.4, 0])
        self.play(FadeIn(table[:4]), run_time=0.6)
        self.play(
            LaggedStart(
                *[FadeIn(table[4 * r : 4 * r + 4]) for r in range(1, len(rows))],
                lag_ratio=0.4,
            ),
            run_time=2,
        )
        grow = note("the spread (standard deviation) of q·k is about √dₖ")
        grow.next_to(table, DOWN, buff=0.3)
        self.play(FadeIn(grow), run_time=0.5)
        self.wait(2.5)
        teaching_pause(self)
        self.play(FadeOut(VGroup(table, grow)), run_time=0.5)

        chars = [f"k{i + 1}" for i in range(SATURATION_KEYS)]
        top = NumberGrid(sc["scaled"][None, :], cell=1.0, heat=True, digits=2)
        bottom = NumberGrid(sc["unscaled"][None, :], cell=1.0, heat=True, digits=2)
        logits = NumberGrid(sc["logits"][None, :], cell=1.0, digits=1)
        logits.move_to([0.9, 0.9, 0])
        top.move_to([0.9, -0.75, 0])
        bottom.move_to([0.9, -2.4, 0])
        names = VGroup(
            label("q·k", font_size=24).next_to(logits, LEFT, buff=0.4),
            label("softmax(q·k / √dₖ)", font_size=24).next_to(top, LEFT, buff=0.4),
            label("softmax(q·k)", font_size=24, color=COLORS["wrong"]).next_to(
                bottom, LEFT, buff=0.4
            ),
        )
        keys = VGroup(
            *[
                label(name, font_size=22, color=COLORS["output"]).next_to(
                    logits.cell(0, i), UP, buff=0.12
                )
                for i, name in enumerate(chars)
            ]
        )
        what = label(
            f"one query, {SATURATION_KEYS} keys, dₖ = {SATURATION_WIDTH}",
            font_size=24,
            color=COLORS["muted"],
        ).next_to(keys, UP, buff=0.25)
        self.play(FadeIn(VGroup(logits, keys, what, names[0])), run_time=0.8)
        self.play(FadeIn(top), FadeIn(names[1]), run_time=0.8)
        self.wait(1.5)
        teaching_pause(self)
        self.play(FadeIn(bottom), FadeIn(names[2]), run_time=0.8)
        best = float(sc["unscaled"].max())
        verdict = note(
            f"without the division one key takes {signed(best)} of the weight: "
            "the softmax saturates"
        )
        self.play(FadeIn(verdict), run_time=0.5)
        self.wait(3)


class CausalMaskScene(Scene):
    """The causal mask: −∞ above the diagonal before the softmax; the weights
    after it, and what masking after the softmax would give."""

    def construct(self):
        mk = example()["mask"]
        text = LINE[:MASK_CHARS]
        head = title(
            "The causal mask: −∞ before the softmax",
            f"head 1 of the trained block on “{text}” (_ is a space): no query sees a "
            "later key",
        )
        self.play(FadeIn(head), run_time=0.6)
        z = even(NumberGrid(mk["z"], cell=0.78, digits=2))
        z.move_to([-3.7, -0.45, 0])
        marks = char_labels(z, text)
        name = label("logits z = q·k / √dₖ", font_size=24, color=COLORS["muted"])
        name.next_to(z, DOWN, buff=0.2)
        self.play(FadeIn(z), FadeIn(marks), FadeIn(name), run_time=0.8)
        self.wait(1)
        teaching_pause(self)
        late = [tuple(int(i) for i in rc) for rc in np.argwhere(mk["late"])]
        minus = VGroup(
            *[
                label("−∞", font_size=22, color=COLORS["wrong"]).move_to(z.cell(r, c))
                for r, c in late
            ]
        )
        said = note("a key after its query gets the logit −∞, before the softmax")
        self.play(
            *[
                ReplacementTransform(z.number(r, c), m)
                for (r, c), m in zip(late, minus)
            ],
            FadeIn(said),
            run_time=1.2,
        )
        self.wait(1.5)
        teaching_pause(self)

        a = NumberGrid(mk["A"], cell=0.78, heat=True, digits=2)
        a.move_to([2.3, -0.45, 0])
        hide_upper(a)
        a_marks = char_labels(a, text)
        a_name = label(
            "weights A: softmax over the keys", font_size=24, color=COLORS["muted"]
        )
        a_name.next_to(a, DOWN, buff=0.2)
        arrow = link(z.get_right(), a_marks.get_left() + DOWN * 0.2)
        sums = NumberGrid(mk["A"].sum(axis=1)[:, None], cell=0.78, digits=2)
        sums.next_to(a, RIGHT, buff=0.35)
        sums_head = label("row sum", font_size=22, color=COLORS["muted"])
        sums_head.next_to(sums, UP, buff=0.15)
        self.play(FadeIn(arrow), FadeIn(a), FadeIn(a_marks), FadeIn(a_name), run_time=1)
        zero = note("e to the −∞ is 0: those weights are exactly 0, each row sums to 1")
        self.play(FadeIn(sums), FadeIn(sums_head), FadeOut(said), FadeIn(zero))
        self.wait(2.5)
        teaching_pause(self)

        # the printed error: the mask applied after the softmax
        wrong = NumberGrid(mk["after"].sum(axis=1)[:, None], cell=0.78, digits=2)
        wrong.move_to(sums)
        for square in wrong.cells:
            square.set_stroke(COLORS["wrong"])
        wrong_head = label(
            "mask after\nsoftmax", font_size=20, color=COLORS["wrong"]
        ).next_to(wrong, UP, buff=0.15)
        wrong_note = note(
            "zeroed after the softmax, rows sum to less than 1: verify catches it"
        )
        self.play(
            FadeOut(VGroup(sums, sums_head, zero)),
            FadeIn(wrong),
            FadeIn(wrong_head),
            FadeIn(wrong_note),
            run_time=0.8,
        )
        self.wait(3)


class MultiHeadScene(Scene):
    """Both heads' patterns side by side, then their contexts concatenated and
    projected back to the model's width."""

    def construct(self):
        ex = example()
        view, text = ex["heads"], LINE[:HEADS_CHARS]
        count, key_dim, width = view["A"].shape[0], ex["key_dim"], ex["width"]
        head = title(
            f"Multi-head attention: {count} heads, each its own pattern",
            f"the trained block on “{text}”: same queries and keys, different "
            "projections",
        )
        self.play(FadeIn(head), run_time=0.6)
        grids = VGroup()
        for h in range(count):
            grid = NumberGrid(
                view["A"][h], cell=0.56, heat=True, digits=2, font_size=20
            )
            hide_upper(grid)
            grids.add(grid)
        grids.arrange(RIGHT, buff=1.4).move_to([0.2, -0.9, 0])
        panes = VGroup()
        for h, grid in enumerate(grids):
            marks = char_labels(grid, text)
            panes.add(VGroup(grid, marks, heading(f"head {h + 1}", marks, buff=0.15)))
        self.play(LaggedStart(*[FadeIn(p) for p in panes], lag_ratio=0.5), run_time=1.6)
        self.wait(3)
        teaching_pause(self)
        self.play(FadeOut(panes), run_time=0.5)

        # concatenate the heads' contexts, then one output projection
        contexts = VGroup(
            *[
                ArrayImage(
                    view["C"][h],
                    height=1.6,
                    signed=True,
                    scale=False,
                    caption=f"C{'₁₂'[h]}",
                )
                for h in range(count)
            ]
        ).arrange(RIGHT, buff=0.3)
        contexts.shift(
            [-6.0, 0.6, 0] - VGroup(*[c.frame for c in contexts]).get_center()
        )
        concat = ArrayImage(
            view["concat"],
            height=1.6,
            signed=True,
            scale=False,
            caption=f"concat ({HEADS_CHARS}×{count * key_dim})",
        )
        concat.shift([-3.7, 0.6, 0] - concat.frame.get_center())
        w_o = ArrayImage(
            view["W_o"],
            height=1.6,
            signed=True,
            scale=False,
            caption=f"Wₒ ({count * key_dim}×{width})",
        )
        w_o.shift([-0.6, 0.6, 0] - w_o.frame.get_center())
        out = ArrayImage(
            view["out"],
            height=1.6,
            signed=True,
            scale=False,
            caption=f"output ({HEADS_CHARS}×{width})",
        )
        out.shift([4.6, 0.6, 0] - out.frame.get_center())
        # each head in one colour: its context, its columns of the concatenation
        # and the rows of W_o they meet
        tints = (COLORS["highlight"], COLORS["derivative"])

        def band(frame, h: int, rows: bool) -> RoundedRectangle:
            """The h-th of ``count`` equal bands of a frame: rows or columns."""
            width = frame.width if rows else frame.width / count
            height = frame.height / count if rows else frame.height
            corner = frame.get_corner(UP + LEFT)
            step = DOWN * height if rows else RIGHT * width
            return RoundedRectangle(
                corner_radius=0.04,
                width=width,
                height=height,
                stroke_color=tints[h],
                stroke_width=3,
            ).move_to(corner + RIGHT * width / 2 + DOWN * height / 2 + step * h)

        rims = VGroup(
            *[
                RoundedRectangle(
                    corner_radius=0.04,
                    width=c.frame.width,
                    height=c.frame.height,
                    stroke_color=tints[h],
                    stroke_width=3,
                ).move_to(c.frame)
                for h, c in enumerate(contexts)
            ]
        )
        halves = VGroup(*[band(concat.frame, h, False) for h in range(count)])
        bands = VGroup(*[band(w_o.frame, h, True) for h in range(count)])
        times = label("×", font_size=30).move_to(
            (concat.frame.get_right() + w_o.frame.get_left()) / 2
        )
        plus = label("+ bₒ", font_size=24).next_to(w_o.frame, RIGHT, buff=0.1)
        self.play(FadeIn(contexts), FadeIn(rims), run_time=0.8)
        self.play(
            FadeIn(link(contexts.get_right(), concat.frame.get_left())),
            FadeIn(concat),
            FadeIn(halves),
            run_time=0.8,
        )
        self.play(FadeIn(times), FadeIn(w_o), FadeIn(bands), run_time=0.8)
        self.play(
            FadeIn(plus),
            FadeIn(link(plus.get_right(), out.frame.get_left(), buff=0.1)),
            FadeIn(out),
            run_time=0.8,
        )
        order = note(
            f"head 1's context meets rows 1–{key_dim} of Wₒ, head 2's rows "
            f"{key_dim + 1}–{2 * key_dim}: the order of the heads matters"
        )
        mha = formula("multi_head_attention", heads=count, key_dim=key_dim, causal=True)
        panel = EquationPanel(
            parts(mha.latex, -1, 0), max_width=9.0, font_size=28
        ).move_to([0, -2.0, 0])
        self.play(FadeIn(panel), FadeIn(order), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))


#: the block along the residual stream, left to right: what is drawn, the
#: colour of its box, and whether it branches off the stream and adds back
STAGES = (
    ("attention", "input", True),
    ("layer norm", "hidden", False),
    ("feed-forward", "input", True),
    ("layer norm", "hidden", False),
)
#: the vectors shown under the stream: the block's part, its name
STRIPS = (
    ("h", "input h"),
    ("attn", "attention"),
    ("u", "after norm 1"),
    ("ffn", "feed-forward"),
    ("v", "output"),
)


class BlockScene(Scene):
    """The post-LN block as a residual stream: attention and the feed-forward
    layer each add to it, a layer norm follows each sum."""

    def construct(self):
        ex = example()
        bl = ex["block"]
        text = LINE[:BLOCK_CHARS]
        head = title(
            "The transformer block (post-LN)",
            f"the residual stream at the last character of “{text}”, "
            f"{ex['width']} numbers wide",
        )
        self.play(FadeIn(head), run_time=0.6)
        y = 1.2
        stream = Arrow(
            [-6.8, y, 0], [6.8, y, 0], buff=0, stroke_width=6, color=COLORS["muted"]
        )
        xs = (-4.4, -1.5, 1.0, 3.9)
        boxes, adds = VGroup(), VGroup()
        for (name, tint, branch), x in zip(STAGES, xs):
            box = VGroup(
                RoundedRectangle(
                    corner_radius=0.1,
                    width=1.9,
                    height=0.7,
                    stroke_color=COLORS[tint],
                    fill_color=COLORS["panel"],
                    fill_opacity=1,
                ),
                label(name, font_size=22),
            ).move_to([x, y + (0.95 if branch else 0), 0])
            boxes.add(box)
            if branch:
                fork = Arrow([x - 1.6, y, 0], box.get_left(), buff=0.05, stroke_width=3)
                join = Arrow(
                    box.get_right(), [x + 1.5, y, 0], buff=0.05, stroke_width=3
                )
                plus = label("+", font_size=30, color=COLORS["highlight"])
                plus.move_to([x + 1.5, y - 0.35, 0])
                adds.add(VGroup(fork, join, plus))
        self.play(FadeIn(stream), run_time=0.6)
        for i, box in enumerate(boxes):
            extra = [FadeIn(adds[i // 2])] if STAGES[i][2] else []
            self.play(FadeIn(box), *extra, run_time=0.7)
        top = max(float(np.abs(bl[key]).max()) for key, _ in STRIPS)
        strips, names = VGroup(), VGroup()
        for (key, name), x in zip(STRIPS, (-6.0, -4.4, -1.5, 1.0, 3.9)):
            strip = ArrayImage(
                bl[key][:, None], height=2.8, signed=True, vmax=top, scale=False
            )
            strip.shift([x, -0.95, 0] - strip.frame.get_center())
            strips.add(strip)
            names.add(
                label(name, font_size=22, color=COLORS["muted"]).next_to(
                    strip.frame, DOWN, buff=0.12
                )
            )
        # one colour scale for every vector, at the right edge
        scale = colour_scale(-top, top, signed=True, height=2.5)
        scale.shift([5.3, -0.95, 0] - scale[1].get_center())
        self.play(
            LaggedStart(*[FadeIn(s) for s in strips], lag_ratio=0.3),
            FadeIn(names),
            FadeIn(scale),
            run_time=1.6,
        )
        stats = VGroup(
            *[
                label(
                    f"mean {signed(bl[key].mean())}\nspread {signed(bl[key].std())}",
                    font_size=20,
                    color=COLORS["muted"],
                ).next_to(strips[i].frame, side, buff=0.2)
                for i, key, side in ((2, "u", RIGHT), (4, "v", LEFT))
            ]
        )
        self.play(FadeIn(stats), run_time=0.6)
        guess = note(
            "after each norm γ and β, learned, rescale; read out, the next "
            f"character is “{bl['next']}” (p = {signed(bl['p'])})"
        )
        self.play(FadeIn(guess), run_time=0.6)
        self.wait(3)


CHAPTER = Chapter(
    number=12,
    slug="attention",
    title="Attention",
    module=__name__,
    formulas=(
        "attention",
        "multi_head_attention",
        "positional_encoding",
        "embedding",
        "softmax",
        "dense",
        "relu",
        "layer_norm",
        "categorical_crossentropy_logits",
    ),
    claims=(
        "attention/dq",
        "attention/dk",
        "attention/dv",
        "attention/dq.causal",
        "attention/dk.causal",
        "attention/dv.causal",
        "multi_head_attention/dW_q",
        "multi_head_attention/db_q",
        "multi_head_attention/dW_k",
        "multi_head_attention/db_k",
        "multi_head_attention/dW_v",
        "multi_head_attention/db_v",
        "multi_head_attention/dW_o",
        "multi_head_attention/db_o",
        "multi_head_attention/dx",
        "multi_head_attention/dy",
        "embedding/dE",
        "positional_encoding/dx",
        "layer_norm/dx",
        "layer_norm/dgamma",
        "layer_norm/dbeta",
        "dense/dW",
        "dense/db",
        "dense/dx",
        "relu'",
        "categorical_crossentropy_logits/dz",
    ),
    scenes=(
        "PatternScene",
        "ScalingScene",
        "CausalMaskScene",
        "MultiHeadScene",
        "BlockScene",
    ),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
