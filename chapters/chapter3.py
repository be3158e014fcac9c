"""Chapter 3: loss functions — MSE and cross-entropy over one prediction, and the
two numerical guards Keras needs: clipping probabilities and log-sum-exp."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import sympy as sp
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Create,
    DashedLine,
    Dot,
    FadeIn,
    FadeOut,
    Scene,
    VGroup,
)

from nnmath.primitives import MaxShift, clip
from nnmath.registry import formula
from nnmath.runs import tutorials
from nnmath.teaching import taught

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    FunctionPlot,
    Palette,
    code,
    equation,
    fmt,
    label,
    legend,
    reading_time,
    shown,
    table,
    teaching_pause,
    title,
    verdict,
)

__all__ = [
    "CHAPTER",
    "ClippingScene",
    "LogSumExpScene",
    "LossCurvesScene",
    "TutorialLossScene",
    "example",
    "tutorial_loss",
]

#: the three losses plotted over the predicted probability of the true class
CURVES = ("mse", "binary_crossentropy", "categorical_crossentropy")
CURVE_COLORS = Palette(
    {
        "mse": "input",
        "binary_crossentropy": "output",
        "categorical_crossentropy": "derivative",
    }
)
CURVE_NAMES = {
    "mse": "MSE",
    "binary_crossentropy": "binary cross-entropy",
    "categorical_crossentropy": "categorical cross-entropy (3 classes)",
}
#: the probabilities read off the curves: confidently right, unsure, confidently wrong
MARKS = (0.9, 0.5, 0.05)
#: logits with a huge spread, as an untrained or overconfident network produces
LOGITS = np.array([[1000.0, 998.0, 0.0]])


def _curve_inputs(name: str, p: float) -> dict[str, np.ndarray]:
    """One sample whose true class gets probability ``p`` (class 0, target 1)."""
    if name == "categorical_crossentropy":  # the other two classes share 1 − p
        return {
            "p": np.array([[p, (1 - p) / 2, (1 - p) / 2]]),
            "y": np.array([[1.0, 0, 0]]),
        }
    key = "yhat" if name == "mse" else "p"
    return {key: np.array([[p]]), "y": np.array([[1.0]])}


def loss_at(name: str, p: float) -> float:
    return float(formula(name).numpy(**_curve_inputs(name, p)))


def without_clip(name: str):
    """The loss as a textbook first writes it, without Keras's clip to [ε, 1 − ε]."""
    f = formula(name)
    return dataclasses.replace(f, expr=f.expr.replace(clip, lambda x, lo, hi: x))


def without_shift(name: str):
    """The formula with its max-shift removed: equal on paper, exp(1000) in float64."""
    f = formula(name)
    return dataclasses.replace(
        f, expr=f.expr.replace(MaxShift, lambda *a: sp.Integer(0))
    )


def example() -> dict:
    """Every number the chapter shows, from the registered formulas' NumPy."""
    p = np.linspace(0.002, 0.998, 250)
    curves = {name: np.array([loss_at(name, v) for v in p]) for name in CURVES}
    marks = {name: [loss_at(name, v) for v in MARKS] for name in CURVES}

    z, onehot = LOGITS, np.eye(LOGITS.shape[1])
    lse, cce = "categorical_crossentropy_logits", "categorical_crossentropy"
    probs = formula("softmax").numpy(z=z)
    with np.errstate(all="ignore"):  # the overflow is the point: it shows as inf/nan

        def per_class(f, **arrays) -> list[float]:
            """The loss if class k were the true one, for each k."""
            return [float(f.numpy(**arrays, y=onehot[[k]])) for k in range(len(onehot))]

        return {
            "p": p,
            "curves": curves,
            "marks": marks,
            "logits": z[0],
            "probs": probs[0],
            "naive_probs": without_shift("softmax").numpy(z=z)[0],
            "logits_loss": per_class(formula(lse), z=z),
            "naive_logits_loss": per_class(without_shift(lse), z=z),
            "clipped_loss": per_class(formula(cce), p=probs),
            "unclipped_loss": per_class(without_clip(cce), p=probs),
            "epsilon": formula(cce).constants["epsilon"],
            # the largest x with e^x finite in float64: log(1.8e308)
            "exp_limit": float(np.log(np.finfo(np.float64).max)),
        }


def tutorial_loss() -> dict:
    """The tutorials' cross-entropy (no clip) on this chapter's logits, class by
    class, next to Keras's, and the code that gives them."""
    ex = example()
    p, onehot = ex["probs"][None, :], np.eye(len(ex["probs"]))
    with np.errstate(all="ignore"):  # log 0 and 0·log 0: the point
        losses = [
            float(tutorials.cross_entropy(p, onehot[[k]])) for k in range(len(onehot))
        ]
    return {
        "logits": ex["logits"],
        "probs": ex["probs"],
        "tutorial": losses,
        "keras": ex["clipped_loss"],
        "exact": ex["logits_loss"],
        "source": tutorials.source(tutorials.cross_entropy),
    }


def tutorial_verdict() -> list[str]:
    """``nnbook verify``'s lines for the tutorials' cross-entropy, checked as the
    categorical cross-entropy it claims to be: against TensorFlow, so this runs
    TensorFlow (or says it could not)."""
    from nnmath.checker.checks import check_forward
    from nnmath.checker.oracle import OracleUnavailable

    wrong = tutorials.cross_entropy_formula()
    try:
        return [check_forward(wrong, dtype).line for dtype in ("float64", "float32")]
    except OracleUnavailable as exc:
        return [f"{wrong.name} [tensorflow-forward]: not run: {exc}"]


class LossCurvesScene(Scene):
    """MSE and both cross-entropies over the probability p of the true class."""

    def construct(self):
        ex = example()
        head = title(
            "Three losses over one prediction",
            "the true class gets probability p (target y = 1)",
        )
        self.play(FadeIn(head), run_time=0.6)
        plot = FunctionPlot(
            ex["p"],
            ex["curves"]["binary_crossentropy"],
            x_range=[0, 1, 0.25],
            y_range=[0, 6, 1],
            width=6.4,
            height=4.6,
            x_label="p",
            y_label="L",
            color=CURVE_COLORS["binary_crossentropy"],
        )
        plot.to_edge(LEFT, buff=0.6).shift(DOWN * 0.55)
        self.play(Create(plot.axes), FadeIn(plot.labels), run_time=0.8)
        keys = VGroup()
        panel = None
        for name, width in zip(CURVES, (4, 9, 3)):  # the two −log p curves coincide
            curve = plot.polyline(
                ex["p"],
                ex["curves"][name],
                color=CURVE_COLORS[name],
                stroke_width=width,
            )
            key = legend(CURVE_NAMES[name], CURVE_COLORS[name], opacity=0.9)
            keys.add(key)
            keys.arrange(DOWN, aligned_edge=LEFT, buff=0.18).to_corner(
                UP + RIGHT, buff=0.3
            )
            keys.shift(DOWN * 1.0)
            new = _taught_panel(name)
            new.next_to(keys, DOWN, buff=0.3).align_to(keys, RIGHT)
            self.play(
                Create(curve),
                FadeIn(key),
                *([FadeOut(panel)] if panel else []),
                FadeIn(new),
                run_time=1.3,
            )
            panel = new
            self.wait(
                reading_time(new.equation.tex_string)
                + reading_time(new.where.tex_string)
            )
        self.play(FadeOut(panel), run_time=0.4)

        # the curves read at three predictions
        dots = VGroup(
            *[
                Dot(
                    plot.point(p, ex["marks"][name][m]),
                    radius=0.07,
                    color=CURVE_COLORS[name],
                )
                for name in CURVES
                for m, p in enumerate(MARKS)
            ]
        )
        guides = VGroup(
            *[
                DashedLine(
                    plot.point(p, 0),
                    plot.point(p, 6),
                    color=COLORS["muted"],
                    stroke_width=1.5,
                )
                for p in MARKS
            ]
        )
        rows = [["p ="] + [fmt(p) for p in MARKS]] + [
            [CURVE_NAMES[name].split(" (")[0]] + [shown(v) for v in ex["marks"][name]]
            for name in CURVES
        ]
        grid = table(rows, [None] + [CURVE_COLORS[n] for n in CURVES])
        grid.next_to(keys, DOWN, buff=0.55).align_to(keys, RIGHT)
        note = label(
            "both cross-entropies are −log p:\n"
            "a confident mistake costs without bound;\n"
            "MSE never exceeds 1 here",
            font_size=24,
            color=COLORS["highlight"],
        )
        # left-aligned with the table, clear of the plot's guide lines
        note.next_to(grid, DOWN, buff=0.4).align_to(grid, LEFT)
        self.play(Create(guides), FadeIn(dots), FadeIn(grid), run_time=1.2)
        self.play(FadeIn(note), run_time=0.8)
        self.wait(2.5)
        teaching_pause(self)

        # the second step: the same three losses as Keras computes them
        keras = VGroup(
            *[
                EquationPanel(
                    formula(name).latex,
                    caption=f"{CURVE_NAMES[name].split(' (')[0]}, as Keras computes it",
                    max_width=13.2,
                    font_size=30,
                )
                for name in CURVES
            ]
        ).arrange(DOWN, buff=0.3)
        keras.next_to(head, DOWN, buff=0.35).set_x(0)
        aside = (
            label(
                "over a batch of N samples and K outputs, p clipped to [ε, 1 − ε]",
                font_size=24,
                color=COLORS["muted"],
            )
            .next_to(keras, DOWN, buff=0.25)
            .set_x(0)
        )
        self.play(*[FadeOut(m) for m in self.mobjects if m is not head], run_time=0.6)
        self.play(FadeIn(keras), FadeIn(aside), run_time=1.0)
        self.wait(sum(reading_time(k.equation.tex_string) for k in keras))


def _taught_panel(name: str) -> EquationPanel:
    """The loss as it is taught first, derived from the registered formula (see
    nnmath.teaching), with the conditions under which it is what Keras computes."""
    form = taught(name)
    panel = EquationPanel(
        form.latex,
        caption="one sample, as first taught",
        max_width=5.8,
        font_size=38,
    )
    where = equation(
        r"\text{where } " + r",\; ".join(form.conditions), font_size=24, max_width=5.6
    ).set_color(COLORS["muted"])
    where.next_to(panel.card, DOWN, buff=0.12)
    panel.where = where
    panel.add(where)
    return panel


def _logit_rows(ex: dict) -> VGroup:
    """The logits and the softmax probabilities they give, one line each."""
    z = ", ".join(fmt(v, 0) for v in ex["logits"])
    p = ", ".join(fmt(v) for v in ex["probs"])
    return VGroup(
        equation(rf"z = [{z}]", font_size=32),
        equation(rf"p = \operatorname{{softmax}}(z) = [{p}]", font_size=32),
    ).arrange(DOWN, aligned_edge=LEFT, buff=0.2)


class ClippingScene(Scene):
    """log 0 is −∞ and 0·log 0 is NaN: Keras clips p to [ε, 1 − ε] first."""

    def construct(self):
        ex = example()
        head = title(
            "Why Keras clips probabilities",
            "softmax of large logits rounds a probability to exactly 0",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = _logit_rows(ex).to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.25)
        self.play(FadeIn(rows), run_time=1)
        f = EquationPanel(
            formula("categorical_crossentropy").latex,
            font_size=30,
            caption="categorical cross-entropy on probabilities, as Keras computes it",
            max_width=7.4,
        )
        f.to_corner(UP + RIGHT, buff=0.25).shift(DOWN * 1.05)
        self.play(FadeIn(f), run_time=1)

        classes = len(ex["logits"])
        rows_ = [
            ["true class:"] + [str(k) for k in range(classes)],
            ["without the clip"] + [shown(v) for v in ex["unclipped_loss"]],
            [f"clipped to [ε, 1 − ε], ε = {ex['epsilon']:.0e}".replace("e-0", "e−")]
            + [shown(v) for v in ex["clipped_loss"]],
            ["exact, from the logits"] + [shown(v) for v in ex["logits_loss"]],
        ]
        grid = table(
            rows_,
            [None, COLORS["wrong"], COLORS["output"], COLORS["true"]],
            font_size=26,
        )
        grid.move_to([0, -1.0, 0])
        lines = [grid[i * (classes + 1) : (i + 1) * (classes + 1)] for i in range(4)]
        self.play(FadeIn(lines[0]), FadeIn(lines[1]), run_time=1)
        why = label(
            "log 0 = −∞, and a class with y = 0 still adds 0 · log 0 = 0 · (−∞) = NaN",
            font_size=24,
            color=COLORS["wrong"],
        ).to_edge(DOWN, buff=0.75)
        self.play(FadeIn(why), run_time=0.8)
        self.wait(1.5)
        teaching_pause(self)
        cap = label(
            f"finite — but capped at −log ε = {shown(ex['clipped_loss'][-1])}",
            font_size=24,
            color=COLORS["output"],
        ).move_to(why)
        self.play(FadeIn(lines[2]), FadeOut(why), FadeIn(cap), run_time=1)
        self.wait(1.5)
        teaching_pause(self)
        fix = label(
            "the logits keep the truth: compute the loss from them (from_logits=True)",
            font_size=24,
            color=COLORS["true"],
        ).move_to(cap)
        self.play(FadeIn(lines[3]), FadeOut(cap), FadeIn(fix), run_time=1)
        self.wait(2.5)


class TutorialLossScene(Scene):
    """The cross-entropy as tutorials print it, without the clip: the NaN and ∞ it
    gives for these logits, and verify's verdict on it against Keras."""

    def construct(self):
        tl = tutorial_loss()
        head = title(
            "The tutorials' cross-entropy: no clip",
            "as the tutorials print it, on this chapter's logits",
        )
        self.play(FadeIn(head), run_time=0.6)
        listing = code(tl["source"], width=6.4, font_size=24)
        listing.to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.25)
        rows = _logit_rows({"logits": tl["logits"], "probs": tl["probs"]})
        rows.next_to(listing, RIGHT, buff=0.5).align_to(listing, UP)
        self.play(FadeIn(listing), FadeIn(rows), run_time=1)
        classes = len(tl["logits"])
        grid = table(
            [
                ["true class:"] + [str(k) for k in range(classes)],
                ["cross_entropy(p, y)"] + [shown(v) for v in tl["tutorial"]],
                ["Keras, clipped"] + [shown(v) for v in tl["keras"]],
                ["exact, from the logits"] + [shown(v) for v in tl["exact"]],
            ],
            [None, COLORS["wrong"], COLORS["output"], COLORS["true"]],
            font_size=26,
        )
        grid.next_to(listing, DOWN, buff=0.5).set_x(0)
        lines = [grid[i * (classes + 1) : (i + 1) * (classes + 1)] for i in range(4)]
        self.play(FadeIn(lines[0]), FadeIn(lines[1]), run_time=1)
        self.wait(1.5)
        teaching_pause(self)
        self.play(FadeIn(lines[2]), FadeIn(lines[3]), run_time=1)
        self.wait(1)
        teaching_pause(self)
        report = VGroup(
            label(
                "nnbook verify, on this code as categorical cross-entropy:",
                font_size=22,
                color=COLORS["muted"],
            ),
            verdict(tutorial_verdict(), width=13),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        report.to_edge(DOWN, buff=0.35)
        self.play(FadeIn(report), run_time=1)
        self.wait(3)


class LogSumExpScene(Scene):
    """e^1000 overflows float64; subtracting the max gives the same loss, finite."""

    def construct(self):
        ex = example()
        head = title(
            "Log-sum-exp: subtract the max first",
            f"float64 ends at exp({fmt(ex['exp_limit'])}); these logits need exp(1000)",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = _logit_rows(ex)[:1].to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.25)
        self.play(FadeIn(rows), run_time=0.8)

        naive = EquationPanel(
            without_shift("categorical_crossentropy_logits").latex,
            caption="as written on paper",
            font_size=30,
            max_width=5.4,
        )
        # the shifted form, the point of the scene, is the wider and the larger
        stable = EquationPanel(
            formula("categorical_crossentropy_logits").latex,
            caption="shifted by m = max z: the same number",
            font_size=30,
            max_width=8.2,
        )
        VGroup(naive, stable).arrange(RIGHT, buff=0.25, aligned_edge=UP).move_to(
            [0, 0.7, 0]
        )
        classes = len(ex["logits"])
        head_row = ["true class:"] + [str(k) for k in range(classes)]
        bad = table(
            [
                head_row,
                ["softmax"] + [shown(v) for v in ex["naive_probs"]],
                ["loss"] + [shown(v) for v in ex["naive_logits_loss"]],
            ],
            [None, COLORS["wrong"], COLORS["wrong"]],
            font_size=26,
        )
        good = table(
            [
                head_row,
                ["softmax"] + [shown(v) for v in ex["probs"]],
                ["loss"] + [shown(v) for v in ex["logits_loss"]],
            ],
            [None, COLORS["true"], COLORS["true"]],
            font_size=26,
        )
        bad.next_to(naive, DOWN, buff=0.6)
        good.next_to(stable, DOWN, buff=0.6).align_to(bad, UP)
        self.play(FadeIn(naive), run_time=1)
        self.play(FadeIn(bad), run_time=1)
        why = label(
            "exp(1000) = ∞, ∞/∞ = NaN, 0 · ∞ = NaN", font_size=24, color=COLORS["wrong"]
        ).next_to(bad, DOWN, buff=0.5)
        why.align_to(naive, LEFT)
        self.play(FadeIn(why), run_time=0.8)
        self.wait(1.2)
        teaching_pause(self)
        self.play(FadeIn(stable), run_time=1)
        self.play(FadeIn(good), run_time=1)
        ok = label(
            "every exponent ≤ 0: nothing overflows", font_size=24, color=COLORS["true"]
        ).next_to(good, DOWN, buff=0.5)
        ok.align_to(stable, RIGHT)  # clear of the line under the other table
        self.play(FadeIn(ok), run_time=0.8)
        self.wait(2.5)


CHAPTER = Chapter(
    number=3,
    slug="losses",
    title="Loss functions",
    module=__name__,
    formulas=(
        "mse",
        "binary_crossentropy",
        "categorical_crossentropy",
        "categorical_crossentropy_logits",
        "softmax",
    ),
    claims=(
        "mse/dyhat",
        "binary_crossentropy/dp",
        "categorical_crossentropy_logits/dz",
    ),
    scenes=("LossCurvesScene", "ClippingScene", "TutorialLossScene", "LogSumExpScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
