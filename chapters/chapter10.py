"""Chapter 10: recurrent networks, on scikit-learn's digits read row by row.

Every number is a run's: the book's SimpleRNN (:data:`UNITS` units, trained with
the formulas forward and the BPTT claims backward, :mod:`nnmath.runs.recurrent`)
reading a test digit; the gradient reaching each step by backpropagation through
time (the claims of ``rnn_cell``, run backward over the steps); ‖∂L/∂h_t‖ over
:data:`NORM_BATCH` training digits for the SimpleRNN and the LSTM, at Keras's
initial weights and after training (``gradient_norms``); the recurrent kernel
scaled up, with ``clip_by_norm`` (``exploding``); and the tutorials' weight
gradient from the last step alone, with ``nnbook verify``'s verdict on it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Axes,
    Create,
    DashedVMobject,
    FadeIn,
    FadeOut,
    LaggedStart,
    Rectangle,
    Scene,
    SurroundingRectangle,
    VGroup,
    VMobject,
)

from nnmath.registry import claim, formula
from nnmath.runs import tutorials
from nnmath.runs.recurrent import (
    Classifier,
    Run,
    digit_rows,
    exploding,
    gradient_norms,
    train,
)

from .base import Chapter
from .blocks import (
    COLORS,
    ArrayImage,
    EquationPanel,
    NumberGrid,
    code,
    fit,
    label,
    reading_time,
    signed,
    table,
    teaching_pause,
    title,
    verdict,
)
from .blocks.grid import heading, link, note

__all__ = [
    "BackThroughTimeScene",
    "CHAPTER",
    "ExplodingScene",
    "LastStepScene",
    "UnrolledScene",
    "VanishingScene",
    "example",
    "explosion",
    "last_step",
    "reading",
    "through_time",
    "trained",
    "vanishing",
]

#: the book's networks: units, and epochs of SGD (the runs' learning rates)
UNITS = 12
EPOCHS = {"rnn": 20, "lstm": 10}
#: the training digits ‖∂L/∂h_t‖ is measured on
NORM_BATCH = 256
#: the recurrent kernel's scales, and the clip norm (Keras's clipnorm)
SCALES = (1.0, 2.0, 4.0, 8.0)
CLIPNORM = 1.0
#: the side of a cell of the digit's and the hidden states' grids
CELL = 0.6


@lru_cache(maxsize=None)
def trained(network: str) -> Run:
    """The book's SimpleRNN (``rnn``) or LSTM, trained once per process (about
    3 and 6 seconds) and kept in memory: no weight file is ever written."""
    return train(digit_rows(), network, units=UNITS, epochs=EPOCHS[network])


def short(x: float) -> str:
    """A positive norm to three significant digits (0.0110, 0.00723, 70.3)."""
    return f"{x:#.3g}".rstrip(".")


def sub(t: int) -> str:
    """A step as a subscript: h₀ … h₇."""
    return str(t).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


@lru_cache(maxsize=1)
def reading() -> dict:
    """The trained SimpleRNN on the first test digit it classifies correctly:
    the pixels (T steps of F), every hidden state h_t (T, H) from the cell's
    formula, the readout's probabilities (``dense`` then ``softmax``)."""
    run, data = trained("rnn"), digit_rows()
    model = Classifier("rnn")
    right = model.predict(run.params, data.x_test) == data.y_test.argmax(axis=1)
    index = int(np.argmax(right))
    x, y = data.x_test[index : index + 1], data.y_test[index : index + 1]
    c = model.forward(run.params, x)
    probs = formula("softmax").numpy(z=c["logits"])[0]
    return {
        "index": index,
        "digit": int(y[0].argmax()),
        "x": x[0],
        "y": y,
        "h": c["out"][0],
        "probs": probs,
        "predicted": int(np.argmax(probs)),
        "accuracy": run.test_accuracy,
        "params": run.params,
    }


def through_time() -> dict:
    """Backpropagation through time on that digit: ∂L/∂h_t at every step
    (the cell's claim ∂L/∂h run backward from the readout's ∂L/∂h_{T−1}), its
    norm, and each step's contribution to ∂L/∂U (the cell's claim ∂L/∂U at
    that step) with their sum, the claimed ∂L/∂U."""
    rd = reading()
    model, p = Classifier("rnn"), rd["params"]
    x = rd["x"][None]
    grads, ups = model.backward(p, x, rd["y"])
    steps = model.forward(p, x)["steps"]
    dU = claim("rnn_cell/dU").gradient
    parts = [
        dU.numpy(**{n: {**step, "g": up}[n] for n in dU.input_names})
        for step, up in zip(steps, ups)
    ]
    delta = np.stack([u[0] for u in ups])
    return {
        "delta": delta,
        "norms": gradient_norms("rnn", p, x, rd["y"])["h"],
        "parts": parts,
        "part_norms": np.array([np.linalg.norm(q) for q in parts]),
        "dU": grads["U"],
    }


def vanishing() -> dict:
    """‖∂L/∂h_t‖ over the first :data:`NORM_BATCH` training digits, for the
    SimpleRNN and the LSTM, at Keras's initial weights and trained; and the
    SimpleRNN's recurrent kernel's largest singular value before and after."""
    data = digit_rows()
    x, y = data.x_train[:NORM_BATCH], data.y_train[:NORM_BATCH]
    out = {}
    for network in ("rnn", "lstm"):
        run = trained(network)
        out[network] = {
            "start": gradient_norms(network, run.initial, x, y)["h"],
            "trained": gradient_norms(network, run.params, x, y)["h"],
            "accuracy": run.test_accuracy,
        }
    rnn = trained("rnn")
    out["stretch"] = tuple(
        float(np.linalg.norm(p["U"], 2)) for p in (rnn.initial, rnn.params)
    )
    return out


def explosion() -> dict:
    """The trained SimpleRNN's U scaled by :data:`SCALES` on the training digits:
    ‖∂L/∂h_0‖, ‖∂L/∂U‖ and ‖∂L/∂U‖ after ``clip_by_norm``."""
    data = digit_rows()
    return exploding(
        trained("rnn").params,
        data.x_train[:NORM_BATCH],
        data.y_train[:NORM_BATCH],
        SCALES,
        clipnorm=CLIPNORM,
    )


def last_step() -> dict:
    """The tutorials' ∂L/∂U from the last step alone (their printed code, run on
    this digit), next to the proved sum over the steps, and the verdicts of the
    checker on the claim that code states."""
    from nnmath.checker.recurrent import (
        check_bptt_finite_differences,
        check_bptt_symbolic,
    )

    rd, bt = reading(), through_time()
    x = rd["x"][None]
    states = [np.zeros((1, UNITS)), *[h[None] for h in rd["h"]]]
    dh = bt["delta"][-1][None]
    dW, dU, db = tutorials.rnn_backward(x, states, dh)
    wrong = tutorials.last_step_claim("U")
    return {
        "tutorial_dU": dU,
        "source": tutorials.source(tutorials.rnn_backward),
        "verdict": [
            c.line
            for c in (check_bptt_symbolic(wrong), check_bptt_finite_differences(wrong))
        ],
    }


def example() -> dict:
    """Everything the scenes show."""
    return {
        "reading": reading(),
        "through_time": through_time(),
        "vanishing": vanishing(),
        "explosion": explosion(),
        "last_step": last_step(),
    }


def parts(latex: str, *keep: int) -> str:
    """A claim's LaTeX one part per line (``align*``, aligned at each part's
    first ``=``): the text is the claim's, only the layout changes.  ``keep``
    picks parts by position (all when empty)."""
    pieces = latex.split(r",\quad ")
    chosen = [pieces[i] for i in keep] if keep else pieces
    return r" \\ ".join(piece.replace(" = ", " &= ", 1) for piece in chosen)


def digit_grid(x: np.ndarray, cell: float) -> NumberGrid:
    """The digit's pixels (/16), tinted by value."""
    return NumberGrid(x, cell=cell, heat=True, digits=2, font_size=20)


def even(grid: NumberGrid) -> NumberGrid:
    """One size for every number of the grid: the smallest that fitted its cell
    (a minus sign makes a number wider, and it would be drawn smaller)."""
    least = min(number.height for number in grid.numbers)
    for number in grid.numbers:
        number.scale(least / number.height)
    return grid


def step_labels(grid: NumberGrid, rows: int, side=LEFT, name: str = "t") -> VGroup:
    """t = 0 … T − 1 beside each row of a grid."""
    return VGroup(
        *[
            label(f"{name} = {t}", font_size=20, color=COLORS["muted"]).next_to(
                grid.cell(t, 0) if side is LEFT else grid.cell(t, grid.shape[1] - 1),
                side,
                buff=0.12,
            )
            for t in range(rows)
        ]
    )


class UnrolledScene(Scene):
    """The trained SimpleRNN reads a test digit one row per step: each row x_t
    and the previous state h_{t−1} give the next state h_t, and the last state
    is read out as a class."""

    def construct(self):
        rd = reading()
        T, H = rd["h"].shape
        head = title("A recurrent network reads a digit, row by row")
        self.play(FadeIn(head), run_time=0.6)
        panel = EquationPanel(formula("rnn_cell").latex, max_width=8.6, font_size=26)
        where = label(
            "the trained SimpleRNN's cell:\nx = the row xₜ, h = hₜ₋₁, h′ = hₜ",
            font_size=22,
            color=COLORS["muted"],
        ).next_to(panel, RIGHT, buff=0.3)
        cell = fit(VGroup(panel, where), width=13.6)
        cell.to_edge(LEFT, buff=0.3).set_y(2.6)
        self.play(FadeIn(panel), FadeIn(where), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)

        pixels = digit_grid(rd["x"], CELL)
        pixels.move_to([-3.8, -1.0, 0])
        hidden = even(NumberGrid(rd["h"], cell=CELL, heat=True, digits=2))
        hidden.next_to(pixels, RIGHT, buff=0.8)
        # the empty cells first: a state's colours appear with its numbers
        empty = NumberGrid(shape=(T, H), cell=CELL).move_to(hidden)
        rows = step_labels(pixels, T)
        names = VGroup(
            heading(
                f"test digit #{rd['index']} (a {rd['digit']}): row xₜ at step t",
                pixels,
                buff=0.12,
            ),
            heading(f"hidden state hₜ ({H} units)", hidden, buff=0.12),
        )
        self.play(FadeIn(pixels), FadeIn(rows), FadeIn(empty), FadeIn(names))
        self.wait(1)
        teaching_pause(self)
        frames = VGroup()
        for t in range(T):
            row = pixels.window(t, 0, 1, pixels.shape[1])
            arrow = link(row.get_right(), hidden.cell(t, 0).get_left(), buff=0.1)
            back = (
                [hidden.window(t - 1, 0, 1, H, color=COLORS["hidden"], stroke=5)]
                if t
                else []
            )
            values = VGroup(
                *[VGroup(hidden.cell(t, u), hidden.number(t, u)) for u in range(H)]
            )
            self.play(
                FadeOut(frames),
                FadeIn(row),
                FadeIn(arrow),
                *[FadeIn(b) for b in back],
                FadeIn(values),
                run_time=0.7 if t else 1.2,
            )
            frames = VGroup(row, arrow, *back)
            if t == 0:
                first = note(
                    "step 0: h₋₁ = 0, so h₀ = tanh(x₀W + b): only the first row"
                )
                self.play(FadeIn(first), run_time=0.5)
                self.wait(1.5)
                teaching_pause(self)
                self.play(FadeOut(first), run_time=0.3)
            elif t == 1:
                carry = note(
                    "from step 1 on, the previous state (teal) enters through U"
                )
                self.play(FadeIn(carry), run_time=0.5)
                self.wait(1.5)
                teaching_pause(self)
                self.play(FadeOut(carry), run_time=0.3)
        self.play(FadeOut(frames), run_time=0.3)
        last = hidden.window(T - 1, 0, 1, H, color=COLORS["output"], stroke=4)
        p = rd["probs"][rd["predicted"]]
        read = note(
            f"the readout softmax(dense(h₇)) on the last state: "
            f"a {rd['predicted']}, p = {signed(p)}  "
            f"(test accuracy {rd['accuracy']:.1%})"
        )
        self.play(FadeIn(last), FadeIn(read), run_time=0.8)
        self.wait(3)


class BackThroughTimeScene(Scene):
    """Backpropagation through time on the same digit: the readout's gradient
    enters at the last step, and each step back multiplies it by tanh′ and Uᵀ;
    its norm shrinks step by step."""

    def construct(self):
        bt = through_time()
        T, H = bt["delta"].shape
        head = title(
            "Backpropagation through time",
            f"the same digit: ∂L/∂hₜ from the loss back to step 0, {H} units a step",
        )
        self.play(FadeIn(head), run_time=0.6)
        panel = EquationPanel(
            parts(claim("rnn_cell/dh").latex, 0, 2), max_width=6.6, font_size=26
        )
        panel.to_edge(LEFT, buff=0.3).set_y(1.75)
        name = label(
            "one step back, the cell's claim ∂L/∂h:\n"
            "g = ∂L/∂hₜ in, ∂L/∂hₜ₋₁ out,\n"
            "with h′ = hₜ: tanh′ is 1 − hₜ²",
            font_size=22,
            color=COLORS["muted"],
        ).next_to(panel, RIGHT, buff=0.3)
        self.play(FadeIn(panel), FadeIn(name), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)

        top = float(np.abs(bt["delta"]).max())
        image = ArrayImage(
            bt["delta"], height=0.45 * T, signed=True, vmin=-top, vmax=top, digits=3
        )
        image.shift([-3.4, -1.35, 0] - image.frame.get_center())
        cover = VGroup(
            *[
                Rectangle(
                    width=image.frame.width,
                    height=image.frame.height / T,
                    stroke_width=0,
                    fill_color=COLORS["background"],
                    fill_opacity=1,
                ).move_to(
                    image.frame.get_top() + DOWN * (t + 0.5) * image.frame.height / T
                )
                for t in range(T)
            ]
        )
        steps = VGroup(
            *[
                label(f"t = {t}", font_size=20, color=COLORS["muted"]).next_to(
                    cover[t], LEFT, buff=0.15
                )
                for t in range(T)
            ]
        )
        norms = VGroup(
            *[
                label(f"‖∂L/∂h{sub(t)}‖ = {short(v)}", font_size=20).next_to(
                    cover[t], RIGHT, buff=0.25
                )
                for t, v in enumerate(bt["norms"])
            ]
        )
        norms.shift(RIGHT * (image.scale_bar.get_right()[0] - cover.get_right()[0]))
        ratios = VGroup(
            *[
                label(
                    f"×{bt['norms'][t] / bt['norms'][t + 1]:.2f}",
                    font_size=20,
                    color=COLORS["derivative"],
                ).next_to(cover[t], RIGHT, buff=0.25)
                for t in range(T - 1)
            ]
        )
        # one column, right of the longest norm
        column = norms.get_right()[0] + 0.25
        for ratio in ratios:
            ratio.shift(RIGHT * (column - ratio.get_left()[0]))
        per_step = label(
            "× per step back", font_size=20, color=COLORS["derivative"]
        ).next_to(ratios[0], UP, buff=0.2, aligned_edge=LEFT)
        what = heading("∂L/∂hₜ, one row per step", image.frame, buff=0.12)
        self.add(image, cover)
        self.play(FadeIn(steps), FadeIn(what), run_time=0.6)
        self.play(FadeOut(cover[T - 1]), FadeIn(norms[T - 1]), run_time=0.8)
        start = note(
            f"step {T - 1}: ∂L/∂h{sub(T - 1)} comes from the readout (dense, then the "
            "cross-entropy's claim)"
        )
        self.play(FadeIn(start), run_time=0.5)
        self.wait(1.5)
        teaching_pause(self)
        self.play(FadeOut(start), run_time=0.3)
        for t in reversed(range(T - 1)):
            self.play(
                FadeOut(cover[t]),
                FadeIn(norms[t]),
                FadeIn(ratios[t]),
                *([FadeIn(per_step)] if t == T - 2 else []),
                run_time=0.6,
            )
        shrink = bt["norms"][0] / bt["norms"][-1]
        fall = note(
            f"each step back multiplies by (1 − hₜ²) and Uᵀ: step 0 gets "
            f"{shrink:.1%} of what step {T - 1} gets"
        )
        self.play(FadeIn(fall), run_time=0.6)
        self.wait(3)


def log_axes(width: float, height: float, low: int, high: int, steps: int) -> Axes:
    """Axes for t = 0 … steps − 1 against log₁₀ of a norm, from 10^low to
    10^high, ticks labelled as plain numbers."""
    axes = Axes(
        x_range=[0, steps - 1, 1],
        y_range=[low, high, 1],
        x_length=width,
        y_length=height,
        tips=False,
        axis_config={"stroke_width": 2, "color": COLORS["muted"]},
    )
    # the t axis along the bottom (10^low), not at log 1 = 0; c2p is unchanged
    axes.x_axis.shift(axes.c2p(0, low) - axes.c2p(0, 0))
    ticks = VGroup()
    for t in range(steps):
        ticks.add(
            label(str(t), font_size=20, color=COLORS["muted"]).next_to(
                axes.c2p(t, low), DOWN, buff=0.15
            )
        )
    for e in range(low, high + 1):
        ticks.add(
            label(f"{10.0**e:g}", font_size=20, color=COLORS["muted"]).next_to(
                axes.c2p(0, e), LEFT, buff=0.15
            )
        )
    axes.add(ticks)
    return axes


def polyline(axes: Axes, values: np.ndarray, color, dashed: bool = False):
    """The norms against t, on the log axis."""
    line = VMobject(stroke_color=color, stroke_width=4)
    line.set_points_as_corners([axes.c2p(t, np.log10(v)) for t, v in enumerate(values)])
    return DashedVMobject(line, num_dashes=24) if dashed else line


class VanishingScene(Scene):
    """‖∂L/∂h_t‖ against t over 256 training digits, SimpleRNN against LSTM: at
    the initial weights it shrinks back in time; training changes the picture."""

    def construct(self):
        va = vanishing()
        T = len(va["rnn"]["start"])
        head = title(
            "The vanishing gradient, measured",
            f"‖∂L/∂hₜ‖ over {NORM_BATCH} training digits, against the step t "
            "(log scale); the loss reads the last state only",
        )
        self.play(FadeIn(head), run_time=0.6)
        axes = log_axes(7.2, 4.0, -3, 0, T)
        axes.move_to([-2.6, -0.45, 0])
        x_name = label("step t", font_size=22, color=COLORS["muted"]).next_to(
            axes, DOWN, buff=0.1
        )
        y_name = label("‖∂L/∂hₜ‖", font_size=22, color=COLORS["muted"]).next_to(
            axes.c2p(0, 0), UP, buff=0.15
        )
        self.play(FadeIn(axes), FadeIn(x_name), FadeIn(y_name), run_time=0.8)
        colors = {"rnn": COLORS["input"], "lstm": COLORS["output"]}
        names = {"rnn": "SimpleRNN", "lstm": "LSTM"}
        lines, ends = VGroup(), VGroup()
        for net in ("rnn", "lstm"):
            v = va[net]["start"]
            lines.add(polyline(axes, v, colors[net]))
            ends.add(
                label(
                    f"{names[net]}, at the start:\n"
                    f"{short(v[-1])} at t = {T - 1}, {short(v[0])} at t = 0",
                    font_size=20,
                    color=colors[net],
                )
            )
        ends.arrange(DOWN, aligned_edge=LEFT, buff=0.3).next_to(
            axes, RIGHT, buff=0.4
        ).align_to(axes, UP)
        for line, end in zip(lines, ends):
            self.play(Create(line), FadeIn(end), run_time=1.2)
        start = note(
            "at Keras's initial weights both shrink back in time: "
            "less and less of the loss's gradient reaches the early rows"
        )
        fit(start, width=13.4)
        self.play(FadeIn(start), run_time=0.6)
        self.wait(3)
        teaching_pause(self)

        dashed, trained_ends = VGroup(), VGroup()
        for net in ("rnn", "lstm"):
            v = va[net]["trained"]
            dashed.add(polyline(axes, v, colors[net], dashed=True))
            trained_ends.add(
                label(
                    f"{names[net]}, trained (dashed):\n"
                    f"{short(v[-1])} at t = {T - 1}, {short(v[0])} at t = 0",
                    font_size=20,
                    color=colors[net],
                )
            )
        trained_ends.arrange(DOWN, aligned_edge=LEFT, buff=0.3).next_to(
            ends, DOWN, buff=0.45, aligned_edge=LEFT
        )
        self.play(FadeOut(start), run_time=0.3)
        for line, end in zip(dashed, trained_ends):
            self.play(Create(line), FadeIn(end), run_time=1.2)
        before, after = va["stretch"]
        grown = note(
            f"training grew U: it stretches a state by up to {after:.2f} "
            f"(at the start {before:.2f}), and the gradient no longer fades over "
            f"{T} steps"
        )
        fit(grown, width=13.4)
        self.play(FadeIn(grown), run_time=0.6)
        self.wait(3.5)


class ExplodingScene(Scene):
    """The trained SimpleRNN's recurrent kernel scaled up: the gradient at the
    first step explodes; clip_by_norm, Keras's clipnorm, bounds what SGD steps by."""

    def construct(self):
        ex = explosion()
        head = title(
            "Exploding gradients, and clipping by norm",
            f"the trained SimpleRNN with U scaled by s, on {NORM_BATCH} training "
            "digits",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = [
            ["scale s of U", *[f"×{s:g}" for s in ex["scales"]]],
            ["‖∂L/∂h₀‖", *[short(v) for v in ex["first"]]],
            ["‖∂L/∂U‖", *[short(v) for v in ex["dU"]]],
            ["‖clip(∂L/∂U)‖", *[short(v) for v in ex["clipped_dU"]]],
        ]
        colors = [None, COLORS["wrong"], COLORS["wrong"], COLORS["true"]]
        grid = table(rows, colors, font_size=26).move_to([0, 1.0, 0])
        width = len(rows[0])
        self.play(FadeIn(grid[:width]), run_time=0.6)
        self.play(
            LaggedStart(
                FadeIn(grid[width : 2 * width]),
                FadeIn(grid[2 * width : 3 * width]),
                lag_ratio=0.5,
            ),
            run_time=1.4,
        )
        grows = note(
            f"each step back multiplies by (1 − hₜ²)·Uᵀ: scaling U by "
            f"{ex['scales'][-1]:g} makes the gradient at step 0 "
            f"{ex['first'][-1] / ex['first'][0]:,.0f} times larger"
        )
        fit(grows, width=13.4)
        self.play(FadeIn(grows), run_time=0.6)
        self.wait(3)
        teaching_pause(self)

        panel = EquationPanel(
            formula("clip_by_norm", clipnorm=CLIPNORM).latex,
            max_width=6.0,
            font_size=30,
        ).move_to([-3.4, -1.6, 0])
        said = label(
            f"c = {CLIPNORM:g} (SGD(clipnorm={CLIPNORM:g})):\n"
            "a gradient longer than c is scaled\n"
            "down to length c; its direction stays",
            font_size=22,
            color=COLORS["muted"],
        ).next_to(panel, RIGHT, buff=0.4)
        self.play(FadeOut(grows), FadeIn(panel), FadeIn(said), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)
        clipped = grid[3 * width :]
        box = SurroundingRectangle(clipped, color=COLORS["true"], buff=0.1)
        self.play(FadeIn(clipped), Create(box), run_time=0.8)
        held = note(
            f"SGD steps by the clipped gradient: at most {CLIPNORM:g} long, "
            "whatever the scale"
        )
        self.play(FadeIn(held), run_time=0.5)
        self.wait(3)


class LastStepScene(Scene):
    """The tutorials' error: the weights' gradient taken at the last step only.
    Their code, each step's share of ∂L/∂U on this digit, and verify's verdict."""

    def construct(self):
        bt, ls = through_time(), last_step()
        T = len(bt["parts"])
        head = title(
            "A tutorial's BPTT: the weight gradient from the last step",
            "the same digit and trained weights; U is used at every step",
        )
        self.play(FadeIn(head), run_time=0.6)
        listing = code(ls["source"], width=7.6, mark="dU = states[-2]")
        listing.to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.2)
        said = VGroup(
            label("U enters every step: hₜ = tanh(xₜW + b + hₜ₋₁U),", font_size=22),
            label("so ∂L/∂U is a sum over the steps t.", font_size=22),
            label(
                f"This code keeps step {T - 1}'s term alone.",
                font_size=22,
                color=COLORS["wrong"],
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.14)
        said.next_to(listing, RIGHT, buff=0.35)
        fit(said, width=6.9 - said.get_left()[0])
        said.next_to(listing, RIGHT, buff=0.35).align_to(listing, UP)
        proved = EquationPanel(
            claim("rnn/dU").latex,
            caption="what verify proves (rnn/dU): a sum over the steps",
            max_width=7.6,
            font_size=28,
        )
        proved.next_to(listing, DOWN, buff=0.35).align_to(listing, LEFT)
        self.play(FadeIn(listing[0]), run_time=1)
        self.play(Create(listing[1]), FadeIn(said), run_time=1)
        self.wait(2)
        teaching_pause(self)
        self.play(FadeIn(proved), run_time=0.8)
        self.wait(reading_time(proved.equation.tex_string))
        teaching_pause(self)

        right = float(np.linalg.norm(bt["dU"]))
        wrong = float(np.linalg.norm(ls["tutorial_dU"]))
        off = float(np.linalg.norm(ls["tutorial_dU"] - bt["dU"])) / right
        rows = [
            ["step t", *[str(t) for t in range(T)]],
            ["‖step t's term of ∂L/∂U‖", *[short(v) for v in bt["part_norms"]]],
        ]
        shares = table(rows, font_size=22)
        fit(shares, width=13).move_to([0, 1.2, 0])
        sums = VGroup(
            label(
                f"proved: ∂L/∂U = the sum of the {T} terms, ‖∂L/∂U‖ = {short(right)}",
                font_size=22,
                color=COLORS["true"],
            ),
            label(
                f"the tutorial: step {T - 1}'s term alone, ‖·‖ = {short(wrong)}; "
                f"it is off by {off:.0%} of ‖∂L/∂U‖",
                font_size=22,
                color=COLORS["wrong"],
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.14)
        sums.next_to(shares, DOWN, buff=0.25).align_to(shares, LEFT)
        last = SurroundingRectangle(
            VGroup(shares[T], shares[2 * T + 1]), color=COLORS["wrong"], buff=0.08
        )
        self.play(FadeOut(said), FadeOut(listing), FadeOut(proved), run_time=0.6)
        self.play(FadeIn(shares), run_time=0.8)
        self.play(FadeIn(sums), Create(last), run_time=0.8)
        self.wait(3)
        teaching_pause(self)
        report = VGroup(
            label(
                "nnbook verify, on ∂L/∂U as this code computes it:",
                font_size=22,
                color=COLORS["muted"],
            ),
            verdict(ls["verdict"], width=13),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        report.to_edge(DOWN, buff=0.3)
        self.play(FadeIn(report), run_time=1)
        self.wait(4)


CHAPTER = Chapter(
    number=10,
    slug="recurrent",
    title="Recurrent networks",
    module=__name__,
    formulas=(
        "rnn_cell",
        "clip_by_norm",
        "dense",
        "softmax",
        "categorical_crossentropy_logits",
        "sgd",
    ),
    claims=(
        "rnn_cell/dx",
        "rnn_cell/dh",
        "rnn_cell/dW",
        "rnn_cell/dU",
        "rnn_cell/db",
        "rnn/dx",
        "rnn/dh0",
        "rnn/dW",
        "rnn/dU",
        "rnn/db",
        "clip_by_norm/dv",
        "dense/dW",
        "dense/db",
        "dense/dx",
        "categorical_crossentropy_logits/dz",
    ),
    scenes=(
        "UnrolledScene",
        "BackThroughTimeScene",
        "VanishingScene",
        "ExplodingScene",
        "LastStepScene",
    ),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
