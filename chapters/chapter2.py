"""Chapter 2: activation functions, their derivatives, and softmax."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import sympy as sp
from manim import (
    DOWN,
    GREY_B,
    LEFT,
    RIGHT,
    UP,
    Create,
    Dot,
    FadeIn,
    GrowFromEdge,
    LaggedStart,
    Scene,
    ValueTracker,
    VGroup,
    always_redraw,
    linear,
)

from nnmath.registry import claim, formula
from nnmath.worked import fmt, substituted_latex

from . import chapter1
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
    title,
)

__all__ = ["CHAPTER", "example", "SigmoidScene", "TanhScene", "ReluScene",
           "LeakyReluScene", "SoftmaxScene"]

#: a unit is *saturated* where its derivative is below this fraction of its peak
SATURATION = 0.1
SAMPLES = 481


def function_latex(name: str) -> str:
    """The activation's equation as printed; where ``Formula.latex`` only restates
    the name (``tanh(z) = tanh(z)``), its exponential form, rewritten by SymPy from
    the formula's own scalar expression."""
    f = formula(name)
    lhs, rhs = f.latex.split(" = ", 1)
    if sp.latex(f.scalar) == rhs and f.scalar.rewrite(sp.exp) != f.scalar:
        return f"{lhs} = {sp.latex(f.scalar.rewrite(sp.exp))}"
    return f.latex


def curves(name: str, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(z)`` and ``f'(z)`` on a grid, from the formula and its claim's gradient."""
    Z = np.asarray(z, dtype=float)[None, :]
    value = formula(name).numpy(z=Z)[0]
    slope = claim(f"{name}'").gradient.numpy(z=Z, g=np.ones_like(Z))[0]
    return value, slope


def intervals(z: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """The runs of ``z`` where ``mask`` holds, as ``(start, end)`` pairs."""
    runs, start = [], None
    for zi, m in zip(z, mask):
        if m and start is None:
            start = zi
        if not m and start is not None:
            runs.append((float(start), float(prev)))
            start = None
        prev = zi
    if start is not None:
        runs.append((float(start), float(z[-1])))
    return runs


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
        out[name] = {"z": z, "value": value, "slope": slope, "regions": intervals(z, mask)}
    ex1 = chapter1.example()
    out["softmax"] = {"logits": ex1["z2"], "p": ex1["p"], "names": ex1["class_names"],
                      "sample": ex1["sample"], "target": ex1["target"],
                      "predicted": ex1["predicted"]}
    return out


RANGES = {"sigmoid": (-6, 6), "tanh": (-4, 4), "relu": (-3, 3), "leaky_relu": (-3, 3)}


class _ActivationScene(Scene):
    """One activation beside its derivative, regions marked, a point swept along z."""

    NAME = "sigmoid"
    TITLE = "Sigmoid"
    SYMBOL = r"\sigma"
    Y_RANGE = (0, 1, 0.5)
    DY_RANGE = (0, 0.3, 0.1)
    REGION_TEXT = "saturated"
    SWEEP = (-5.0, 1.5)

    def region_text(self) -> str:
        return self.REGION_TEXT

    def construct(self):
        data = example()[self.NAME]
        z, value, slope = data["z"], data["value"], data["slope"]
        lo, hi = RANGES[self.NAME]
        step = 2 if hi - lo > 8 else 1
        head = title(f"{self.TITLE} and its derivative")
        self.play(FadeIn(head), run_time=0.6)

        f_eq = EquationPanel(function_latex(self.NAME), max_width=6.6)
        d_eq = EquationPanel(claim(f"{self.NAME}'").latex, max_width=6.6)
        common = dict(x_range=[lo, hi, step], width=6.0, height=3.3)
        fplot = FunctionPlot(z, value, y_range=self.Y_RANGE, y_label=f"{self.SYMBOL}(z)",
                             color=COLORS["curve"], **common)
        dplot = FunctionPlot(z, slope, y_range=self.DY_RANGE,
                             y_label=f"{self.SYMBOL}'(z)", color=COLORS["derivative"],
                             **common)
        for eq, plot, x in ((f_eq, fplot, -3.55), (d_eq, dplot, 3.55)):
            eq.move_to([x, 0, 0]).to_edge(UP, buff=1.05)
            plot.move_to([x, 0, 0]).align_to([0, -2.75, 0], DOWN)
        self.play(FadeIn(f_eq), Create(fplot.axes), FadeIn(fplot.labels), run_time=1)
        self.play(Create(fplot.curve), run_time=1.2)
        self.play(FadeIn(d_eq), Create(dplot.axes), FadeIn(dplot.labels), run_time=1)
        self.play(Create(dplot.curve), run_time=1.2)

        key = legend(self.region_text(), COLORS["region"]).to_corner(UP + RIGHT, buff=0.35)
        bands = VGroup(*[plot.shade(a, b) for plot in (fplot, dplot)
                         for a, b in data["regions"]])
        self.play(FadeIn(bands), FadeIn(key), run_time=1)
        self.bring_to_front(fplot.curve, dplot.curve)

        # sweep a point along z; the numbers come from the lowered NumPy each frame
        t = ValueTracker(self.SWEEP[0])
        f, g = formula(self.NAME), claim(f"{self.NAME}'").gradient

        def at(tz: float) -> tuple[float, float]:
            Z = np.array([[tz]])
            return float(f.numpy(z=Z)[0, 0]), float(g.numpy(z=Z, g=np.ones_like(Z))[0, 0])

        dots = always_redraw(lambda: VGroup(
            Dot(fplot.point(t.get_value(), at(t.get_value())[0]), color=COLORS["output"]),
            Dot(dplot.point(t.get_value(), at(t.get_value())[1]), color=COLORS["output"])))
        names = [equation("z =", font_size=32),
                 equation(f"{self.SYMBOL}(z) =", font_size=32),
                 equation(f"{self.SYMBOL}'(z) =", font_size=32)]
        slots = VGroup(*[VGroup(n, number(0.0, font_size=28)).arrange(RIGHT, buff=0.12)
                         for n in names]).arrange(RIGHT, buff=0.8)
        slots.to_edge(DOWN, buff=0.25)

        def readout():
            tz = t.get_value()
            values = (tz, *at(tz))
            return VGroup(*[number(v, font_size=28).next_to(slot[0], RIGHT, buff=0.12)
                            for v, slot in zip(values, slots)])

        numbers = always_redraw(readout)
        self.play(FadeIn(dots), FadeIn(VGroup(*[s[0] for s in slots])), FadeIn(numbers),
                  run_time=0.6)
        self.play(t.animate.set_value(self.SWEEP[1]), run_time=4, rate_func=linear)
        self.wait(1.5)


class SigmoidScene(_ActivationScene):
    """σ squashes to (0, 1); σ' peaks at 1/4 and vanishes where σ saturates."""

    def region_text(self) -> str:
        return f"saturated: slope below {SATURATION:.0%} of its peak"


class TanhScene(_ActivationScene):
    """tanh squashes to (−1, 1), centred at 0; it saturates sooner than σ."""

    NAME, TITLE, SYMBOL = "tanh", "Tanh", r"\tanh"
    Y_RANGE, DY_RANGE = (-1, 1, 1), (0, 1, 0.5)
    SWEEP = (-3.5, 1.0)

    def region_text(self) -> str:
        return f"saturated: slope below {SATURATION:.0%} of its peak"


class ReluScene(_ActivationScene):
    """ReLU passes positives through; for z < 0 its gradient is exactly 0."""

    NAME, TITLE, SYMBOL = "relu", "ReLU", r"\operatorname{ReLU}"
    Y_RANGE, DY_RANGE = (-1, 3, 1), (-0.5, 1.5, 0.5)
    SWEEP = (-2.5, 2.0)
    REGION_TEXT = "dead: slope 0, no gradient flows back"


class LeakyReluScene(_ActivationScene):
    """Leaky ReLU keeps a small slope α for z < 0, so no unit is ever dead."""

    NAME, TITLE, SYMBOL = "leaky_relu", "Leaky ReLU", r"\operatorname{LeakyReLU}"
    Y_RANGE, DY_RANGE = (-1, 3, 1), (-0.5, 1.5, 0.5)
    SWEEP = (-2.5, 2.0)

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
        head = title("Softmax: logits → probabilities",
                     f"the chapter-1 network's output for iris flower #{data['sample']}")
        self.play(FadeIn(head), run_time=0.6)

        f = formula("softmax")
        eq = EquationPanel(f.latex, max_width=6.4).to_corner(UP + RIGHT, buff=0.25)
        self.play(FadeIn(eq), run_time=0.8)

        table = VGroup(*[
            VGroup(label(n, font_size=26), equation(f"z_{k} =", font_size=32),
                   number(v, font_size=28))
            for k, (n, v) in enumerate(zip(names, logits[0]))])
        for row in table:
            row[1].next_to(row[0], RIGHT, buff=0.25)
            row[2].next_to(row[1], RIGHT, buff=0.12)
        table.arrange(DOWN, aligned_edge=RIGHT, buff=0.45)
        heading = label("logits", font_size=26, color=GREY_B).next_to(table, UP, buff=0.3)
        logit_box = VGroup(heading, table).to_edge(LEFT, buff=0.4).shift(DOWN * 0.6)
        self.play(FadeIn(logit_box), run_time=0.8)

        worked = VGroup(*[equation(substituted_latex(f, {"z": logits}, at={"i": k}),
                                   font_size=30, max_width=6.0)
                          for k in range(len(names))]).arrange(DOWN, buff=0.3)
        worked.next_to(logit_box, RIGHT, buff=0.5)
        self.play(LaggedStart(*[FadeIn(w) for w in worked], lag_ratio=0.4), run_time=1.8)

        marks = {pred: COLORS["true"] if pred == true else COLORS["wrong"]}
        bars = ProbabilityBars(p, names, width=3.6, height=2.4, marks=marks,
                               outlines={true: COLORS["true"]})
        bars.next_to(worked, RIGHT, buff=0.5).align_to(worked, DOWN).shift(UP * 0.3)
        self.play(*[GrowFromEdge(b, DOWN) for b in bars.bars], FadeIn(bars.baseline),
                  FadeIn(bars.names), run_time=1.2)
        self.play(FadeIn(bars.numbers), run_time=0.6)
        note = label(f"predicted: {names[pred]}  ·  true: {names[true]}  ·  the largest "
                     "logit gets the largest probability", font_size=24, color=GREY_B)
        note.to_edge(DOWN, buff=0.3)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(2.5)


CHAPTER = Chapter(
    number=2, slug="activations", title="Activation functions", module=__name__,
    formulas=("sigmoid", "tanh", "relu", "leaky_relu", "softmax"),
    claims=("sigmoid'", "tanh'", "relu'", "leaky_relu'"),
    scenes=("SigmoidScene", "TanhScene", "ReluScene", "LeakyReluScene", "SoftmaxScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
