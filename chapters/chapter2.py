"""Chapter 2: activation functions, their derivatives, and softmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Create,
    Dot,
    FadeIn,
    FadeOut,
    GrowFromEdge,
    LaggedStart,
    Scene,
    ValueTracker,
    VGroup,
    always_redraw,
    linear,
)

from nnmath.registry import claim, formula
from nnmath.runs import iris
from nnmath.worked import fmt, substituted_latex, worked

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    FunctionPlot,
    ProbabilityBars,
    equation,
    label,
    legend,
    number,
    reading_time,
    teaching_pause,
    title,
)

__all__ = [
    "CHAPTER",
    "LeakyReluScene",
    "ReluScene",
    "SigmoidScene",
    "SoftmaxScene",
    "TanhScene",
    "example",
]

#: a unit is *saturated* where its derivative is below this fraction of its peak
SATURATION = 0.1
SAMPLES = 481


def curves(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(z)`` and ``f'(z)`` on a grid, from the formula and its claim's gradient."""
    Z = np.asarray(z, dtype=float)[None, :]
    value = formula(name).numpy(z=Z)[0]
    slope = claim(f"{name}'").gradient.numpy(z=Z, g=np.ones_like(Z))[0]
    return value, slope


def intervals(z: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The runs of ``z`` where ``mask`` holds, as ``(first, last)`` pairs."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(int), [0]])))
    return [(float(z[a]), float(z[b - 1])) for a, b in zip(edges[::2], edges[1::2])]


def example() -> dict:
    """Each activation on its plotting grid, the regions the scenes mark, and the
    chapter-1 network's logits for its iris flower."""
    out = {}
    for name, (lo, hi) in RANGES.items():
        z = np.linspace(lo, hi, SAMPLES)
        value, slope = curves(name, z)
        if name in ("sigmoid", "tanh"):
            mask = slope < SATURATION * slope.max()
        else:  # the z < 0 side, where ReLU' is 0 and LeakyReLU' is alpha
            mask = slope < 1
        out[name] = {
            "z": z,
            "value": value,
            "slope": slope,
            "regions": intervals(z, mask),
        }
    ex1 = iris.example()
    out["softmax"] = {
        "logits": ex1["z2"],
        "p": ex1["p"],
        "names": ex1["class_names"],
        "sample": ex1["sample"],
        "target": ex1["target"],
        "predicted": ex1["predicted"],
    }
    return out


RANGES = {"sigmoid": (-6, 6), "tanh": (-4, 4), "relu": (-3, 3), "leaky_relu": (-3, 3)}


class _ActivationScene(Scene):
    """One activation beside its derivative, regions marked, a point swept along z."""

    NAME = "sigmoid"
    TITLE = "Sigmoid"
    Y_RANGE = (0, 1, 0.5)
    DY_RANGE = (0, 0.3, 0.1)
    REGION_TEXT = "saturated"
    REGION_COLOR = "region"
    #: where the moving point starts and stops (it stops in the marked region)
    SWEEP = (-5.0, 4.5)

    def region_text(self) -> str:
        return self.REGION_TEXT

    def construct(self):
        data = example()[self.NAME]
        symbol = formula(self.NAME).symbol  # as the formula prints it
        z, value, slope = data["z"], data["value"], data["slope"]
        lo, hi = RANGES[self.NAME]
        step = 2 if hi - lo > 8 else 1
        key = legend(self.region_text(), COLORS[self.REGION_COLOR])
        key.to_corner(UP + RIGHT, buff=0.35)
        head = title(f"{self.TITLE} and its derivative", max_width=13.2 - key.width)
        self.play(FadeIn(head), run_time=0.6)

        f_eq = EquationPanel(formula(self.NAME).latex, max_width=6.6)
        d_eq = EquationPanel(claim(f"{self.NAME}'").latex, max_width=6.6)
        common = {"x_range": [lo, hi, step], "width": 6.0, "height": 3.3}
        fplot = FunctionPlot(
            z,
            value,
            y_range=self.Y_RANGE,
            y_label=f"{symbol}(z)",
            color=COLORS["curve"],
            **common,
        )
        dplot = FunctionPlot(
            z,
            slope,
            y_range=self.DY_RANGE,
            y_label=f"{symbol}'(z)",
            color=COLORS["derivative"],
            **common,
        )
        for eq, plot, x in ((f_eq, fplot, -3.55), (d_eq, dplot, 3.55)):
            eq.move_to([x, 0, 0]).to_edge(UP, buff=1.05)
            plot.move_to([x, 0, 0]).align_to([0, -2.75, 0], DOWN)
        self.play(FadeIn(f_eq), Create(fplot.axes), FadeIn(fplot.labels), run_time=1)
        self.play(Create(fplot.curve), run_time=1.2)
        teaching_pause(self)
        self.play(FadeIn(d_eq), Create(dplot.axes), FadeIn(dplot.labels), run_time=1)
        self.play(Create(dplot.curve), run_time=1.2)
        teaching_pause(self)

        bands = VGroup(
            *[
                plot.shade(a, b, color=COLORS[self.REGION_COLOR])
                for plot in (fplot, dplot)
                for a, b in data["regions"]
            ]
        )
        self.play(FadeIn(bands), FadeIn(key), run_time=1)
        teaching_pause(self)
        self.bring_to_front(fplot.curve, dplot.curve)

        # sweep a point along z; the numbers come from the lowered NumPy each frame
        t = ValueTracker(self.SWEEP[0])
        f, g = formula(self.NAME), claim(f"{self.NAME}'").gradient

        def at(tz: float) -> tuple[float, float]:
            Z = np.array([[tz]])
            return float(f.numpy(z=Z)[0, 0]), float(
                g.numpy(z=Z, g=np.ones_like(Z))[0, 0]
            )

        dots = always_redraw(
            lambda: VGroup(
                Dot(
                    fplot.point(t.get_value(), at(t.get_value())[0]),
                    color=COLORS["output"],
                ),
                Dot(
                    dplot.point(t.get_value(), at(t.get_value())[1]),
                    color=COLORS["output"],
                ),
            )
        )
        names = [
            equation("z =", font_size=32),
            equation(f"{symbol}(z) =", font_size=32),
            equation(f"{symbol}'(z) =", font_size=32),
        ]
        slots = VGroup(
            *[
                VGroup(n, number(0.0, font_size=28)).arrange(RIGHT, buff=0.12)
                for n in names
            ]
        ).arrange(RIGHT, buff=0.8)
        slots.to_edge(DOWN, buff=0.25)

        def readout():
            tz = t.get_value()
            values = (tz, *at(tz))
            return VGroup(
                *[
                    number(v, font_size=28).next_to(slot[0], RIGHT, buff=0.12)
                    for v, slot in zip(values, slots)
                ]
            )

        numbers = always_redraw(readout)
        self.play(
            FadeIn(dots),
            FadeIn(VGroup(*[s[0] for s in slots])),
            FadeIn(numbers),
            run_time=0.6,
        )
        self.play(t.animate.set_value(self.SWEEP[1]), run_time=5, rate_func=linear)
        self.wait(1.5)


class SigmoidScene(_ActivationScene):
    """σ squashes to (0, 1); σ' peaks at 1/4 and vanishes where σ saturates."""

    def region_text(self) -> str:
        return f"saturated: slope below {SATURATION:.0%} of its peak"


class TanhScene(_ActivationScene):
    """tanh squashes to (−1, 1), centred at 0; it saturates sooner than σ."""

    NAME, TITLE = "tanh", "Tanh"
    Y_RANGE, DY_RANGE = (-1, 1, 1), (0, 1, 0.5)
    SWEEP = (-3.5, 2.5)

    def region_text(self) -> str:
        return f"saturated: slope below {SATURATION:.0%} of its peak"


class ReluScene(_ActivationScene):
    """ReLU passes positives through; for z < 0 its gradient is exactly 0."""

    NAME, TITLE = "relu", "ReLU"
    Y_RANGE, DY_RANGE = (-1, 3, 1), (-0.5, 1.5, 0.5)
    SWEEP = (2.5, -1.5)
    REGION_TEXT = "dead: slope 0, no gradient flows back"


class LeakyReluScene(_ActivationScene):
    """Leaky ReLU keeps a small slope α for z < 0, so no unit is ever dead."""

    NAME, TITLE = "leaky_relu", "Leaky ReLU"
    Y_RANGE, DY_RANGE = (-1, 3, 1), (-0.5, 1.5, 0.5)
    SWEEP = (2.5, -1.5)
    REGION_COLOR = "leaky"

    def region_text(self) -> str:
        alpha = fmt(formula(self.NAME).constants["alpha"])
        return f"never dead: the slope stays {alpha}"


class SoftmaxScene(Scene):
    """Softmax turns the chapter-1 network's logits for a real flower into
    probabilities."""

    def construct(self):
        data = example()["softmax"]
        logits, p, names = data["logits"], data["p"][0], data["names"]
        pred, true = data["predicted"], data["target"]
        head = title(
            "Softmax: logits → probabilities",
            f"the chapter-1 network's output for iris flower #{data['sample']}",
        )
        self.play(FadeIn(head), run_time=0.6)

        f = formula("softmax")
        eq = EquationPanel(f.latex, max_width=6.4).to_corner(UP + RIGHT, buff=0.25)
        self.play(FadeIn(eq), run_time=0.8)
        teaching_pause(self)

        # one row per class: its logit, its probability written out, its bar
        rows = 1.25
        logit_eqs = VGroup(
            *[
                equation(f"z_{k} = {fmt(v)}", font_size=34)
                for k, v in enumerate(logits[0])
            ]
        )
        worked = VGroup(
            *[
                equation(
                    substituted_latex(f, {"z": logits}, at={"i": k}),
                    font_size=34,
                    max_width=6.4,
                )
                for k in range(len(names))
            ]
        )
        marks = {pred: COLORS["true"] if pred == true else COLORS["wrong"]}
        bars = ProbabilityBars(
            p,
            names,
            height=2.0,
            marks=marks,
            horizontal=True,
            spacing=rows,
            outlines={true: COLORS["true"]},
        )
        for k in range(len(names)):
            y = -0.45 - rows * (k - 1)
            logit_eqs[k].move_to([0, y, 0]).to_edge(LEFT, buff=0.35)
            worked[k].move_to([-0.5, y, 0])
        bars.move_to([0, -0.45, 0], coor_mask=[0, 1, 0]).shift(RIGHT * 4.6)
        heads = VGroup(
            label("logits", font_size=24, color=COLORS["muted"]).next_to(
                logit_eqs, UP, buff=0.35
            ),
            label(
                "softmax, with the logits put in", font_size=24, color=COLORS["muted"]
            ).next_to(worked, UP, buff=0.2),
            label("probabilities", font_size=24, color=COLORS["muted"]).next_to(
                bars, UP, buff=0.25
            ),
        )
        for head_ in heads:
            head_.set_y(heads[1].get_y())
        self.play(FadeIn(logit_eqs), FadeIn(heads[0]), run_time=0.8)
        self.play(
            FadeIn(heads[1]),
            LaggedStart(*[FadeIn(w) for w in worked], lag_ratio=0.4),
            run_time=1.8,
        )
        self.play(
            FadeIn(heads[2]),
            FadeIn(bars.baseline),
            FadeIn(bars.names),
            *[GrowFromEdge(b, LEFT) for b in bars.bars],
            run_time=1.2,
        )
        self.play(FadeIn(bars.numbers), run_time=0.6)
        self.wait(1.5)
        teaching_pause(self)

        # the same rows with each exponential's value: the arithmetic, term by term
        values = VGroup(
            *[
                equation(_exponentials_latex(f, logits, k), font_size=34, max_width=6.2)
                for k in range(len(names))
            ]
        )
        for k, row in enumerate(values):
            row.move_to(worked[k])
        header = label(
            "each exponential's value, and their sum",
            font_size=24,
            color=COLORS["muted"],
        ).move_to(heads[1])
        self.play(FadeOut(worked), FadeOut(heads[1]), run_time=0.5)
        self.play(FadeIn(values), FadeIn(header), run_time=0.8)
        self.wait(reading_time(values[0].tex_string))
        teaching_pause(self)
        note = label(
            f"predicted: {names[pred]}  ·  true: {names[true]}  ·  the largest "
            "logit gets the largest probability",
            font_size=24,
            color=COLORS["muted"],
        )
        note.to_edge(DOWN, buff=0.3)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(2.5)


def _exponentials_latex(f, logits: np.ndarray, k: int) -> str:
    """``a_k = e_k / (e_0 + e_1 + …) = e_k / Σ = a_k``, each e the value of
    e^{z_j − max z} (the terms of the denominator, as nnmath evaluates them)."""
    w = worked(f, {"z": logits}, at={"i": k})
    terms = w.sum_terms()
    total = sum(terms)
    sum_tex = " + ".join(fmt(t, 3) for t in terms)
    return (
        rf"a_{k} = \frac{{{fmt(terms[k], 3)}}}{{{sum_tex}}} "
        rf"= \frac{{{fmt(terms[k], 3)}}}{{{fmt(total, 3)}}} = {fmt(w.value, 3)}"
    )


CHAPTER = Chapter(
    number=2,
    slug="activations",
    title="Activation functions",
    module=__name__,
    formulas=("sigmoid", "tanh", "relu", "leaky_relu", "softmax"),
    claims=("sigmoid'", "tanh'", "relu'", "leaky_relu'"),
    scenes=("SigmoidScene", "TanhScene", "ReluScene", "LeakyReluScene", "SoftmaxScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
