"""Chapter 1: the neuron and the forward pass, on a real iris flower."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Create,
    Dot,
    FadeIn,
    FadeOut,
    GrowFromEdge,
    LaggedStart,
    ReplacementTransform,
    Scene,
    SurroundingRectangle,
    Transform,
    VGroup,
)

from nnmath.registry import formula
from nnmath.runs.iris import HIDDEN, example
from nnmath.worked import substituted_latex

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    FunctionPlot,
    NetworkDiagram,
    ProbabilityBars,
    equation,
    equation_card,
    fit,
    label,
    matrix,
    number,
    reading_time,
    teaching_pause,
    title,
)

__all__ = ["CHAPTER", "ForwardPassScene", "NeuronScene", "example"]


def neuron_equations(ex: dict) -> tuple[str, str]:
    """The neuron's equation, symbolic and with this example's numbers."""
    f = formula("neuron", activation="sigmoid")
    return f.latex, substituted_latex(f, {"x": ex["x"], "w": ex["w"], "b": ex["b"]})


def layer_equations(ex: dict, layer: int, at: int = 0) -> tuple[str, str]:
    """Layer ``layer`` (1 or 2) as ``z = Wx + b``: symbolic, and row ``at`` with
    numbers."""
    x = ex["x"] if layer == 1 else ex["a1"]
    arrays = {"x": x, "W": ex[f"W{layer}"], "b": ex[f"b{layer}"]}
    f = formula("dense")
    return f.latex, substituted_latex(f, arrays, at={"i": at}, max_terms=5)


def _sigmoid_curve():
    z = np.linspace(-6, 6, 241)
    return z, formula("sigmoid").numpy(z=z[None, :])[0]


class NeuronScene(Scene):
    """One neuron on one flower: inputs × weights, summed, plus bias, through σ."""

    def construct(self):
        ex = example()
        name = ex["class_names"][ex["target"]]
        head = title(
            "One neuron", f"iris flower #{ex['sample']} ({name}), features standardized"
        )
        self.play(FadeIn(head), run_time=0.8)

        # inputs (left), the neuron, its output
        net = NetworkDiagram((4, 1), width=3.6, height=4.2, radius=0.36)
        net.move_to([-3.2, 0.1, 0])
        net.neuron(1, 0).scale(1.55)
        for line, circle in zip(net.edges[0][0], net.layers[0]):
            line.put_start_and_end_on(circle.get_right(), net.neuron(1, 0).get_left())
        xs = net.value_labels(0, ex["x"][0], font_size=22)
        names = VGroup(
            *[
                fit(label(f, font_size=20, color=COLORS["muted"]), width=1.55).next_to(
                    c, LEFT, buff=0.12
                )
                for f, c in zip(ex["features"], net.layers[0])
            ]
        )
        self.play(FadeIn(net.layers[0]), FadeIn(names), run_time=0.8)
        self.play(LaggedStart(*[FadeIn(v) for v in xs], lag_ratio=0.2), run_time=1)

        body = net.neuron(1, 0)
        edges = net.weighted_edges(0, ex["w"][None, :])
        ws = net.edge_labels(0, ex["w"][None, :], at=0.42, font_size=22)
        bias = VGroup(equation("b =", font_size=28), number(ex["b"], font_size=24))
        bias.arrange(RIGHT, buff=0.1).next_to(body, DOWN, buff=0.15)
        self.play(Create(edges), FadeIn(body), run_time=1)
        self.play(FadeIn(ws), FadeIn(bias), run_time=0.8)
        teaching_pause(self)

        symbolic, substituted = neuron_equations(ex)
        eq = EquationPanel(
            symbolic, caption="one neuron (sigmoid activation)", max_width=6.0
        )
        eq.to_corner(UP + RIGHT, buff=0.3).shift(DOWN * 0.55)
        self.play(FadeIn(eq), run_time=1)
        teaching_pause(self)

        # each weight becomes its product w_j x_j; the products merge into the sum
        products = VGroup()
        for t, tag in zip(ex["terms"], ws):
            n = number(t, font_size=22, color=COLORS["highlight"]).move_to(tag)
            products.add(VGroup(tag[0].copy(), n))
        caption = label(
            "each input × its weight", font_size=22, color=COLORS["highlight"]
        )
        caption.next_to(net, DOWN, buff=0.3).align_to(net, LEFT)
        self.play(ReplacementTransform(ws, products), FadeIn(caption), run_time=1.2)
        self.wait(0.6)
        wsum = number(ex["wsum"], font_size=24).move_to(body)
        tag = equation(r"\Sigma", font_size=30, color=COLORS["highlight"])
        tag.next_to(body, UP, buff=0.12)
        ws = net.edge_labels(0, ex["w"][None, :], at=0.42, font_size=22)
        self.play(
            ReplacementTransform(products, wsum),
            FadeIn(tag),
            FadeOut(caption),
            run_time=1.2,
        )
        teaching_pause(self)
        self.play(FadeIn(ws), run_time=0.5)
        zlab = number(ex["z"], font_size=24).move_to(body)
        ztag = equation("z", font_size=30).move_to(tag)
        self.play(
            ReplacementTransform(VGroup(wsum, bias[1].copy()), zlab),
            ReplacementTransform(tag, ztag),
            run_time=1,
        )

        # the sigmoid squashes z into a
        zs, sig = _sigmoid_curve()
        plot = FunctionPlot(
            zs,
            sig,
            x_range=[-6, 6, 2],
            y_range=[0, 1, 0.5],
            width=5.2,
            height=2.2,
            y_label=r"\sigma(z)",
        )
        plot.next_to(eq, DOWN, buff=0.45).align_to(eq, RIGHT)
        self.play(
            Create(plot.axes), FadeIn(plot.labels), Create(plot.curve), run_time=1.2
        )
        dot = Dot(plot.point(ex["z"], ex["a"]), color=COLORS["output"], radius=0.08)
        guide = VGroup(
            plot.axes.get_vertical_line(
                plot.point(ex["z"], ex["a"]), color=COLORS["muted"]
            ),
            plot.axes.get_horizontal_line(
                plot.point(ex["z"], ex["a"]), color=COLORS["muted"]
            ),
        )
        self.play(FadeIn(dot), Create(guide), run_time=0.8)

        out = Arrow(
            body.get_right(),
            body.get_right() + RIGHT * 1.0,
            buff=0.05,
            stroke_width=4,
            color=COLORS["output"],
        )
        alab = VGroup(equation("a =", font_size=30), number(ex["a"], font_size=26))
        alab.arrange(RIGHT, buff=0.1).next_to(out, RIGHT, buff=0.1)
        self.play(Create(out), FadeIn(alab), run_time=0.8)
        teaching_pause(self)

        full = EquationPanel(
            substituted,
            caption="the same equation, with this flower's numbers",
            max_width=13.4,
        )
        full.to_edge(DOWN, buff=0.2)
        self.play(FadeIn(full), run_time=1.5)
        self.wait(reading_time(substituted))


class ForwardPassScene(Scene):
    """A real iris flower through a 4-8-3 network: dense, tanh, dense, softmax."""

    PANEL = np.array([2.9, 0.7, 0])  # centre of the right-hand panel
    WIDTH = 8.0  # its width
    STRIP = -3.2  # y of the full-width strip at the bottom

    def construct(self):
        ex = example()
        names = ex["class_names"]
        head = title(
            "Forward pass: 4 → 8 → 3",
            f"iris flower #{ex['sample']}, untrained (random) weights",
        )
        self.play(FadeIn(head), run_time=0.8)

        net = NetworkDiagram((4, 8, 3), width=4.2, height=4.5, radius=0.3)
        net.move_to([-4.4, 0.05, 0])
        self.play(FadeIn(net), run_time=1)
        shown = net.value_labels(0, ex["x"][0])
        self.play(FadeIn(shown), run_time=0.8)
        teaching_pause(self)

        # layer 1: z = W x + b with the whole 8x4 matrix; one row written out
        ring = net.highlight(1)
        edges = net.weighted_edges(0, ex["W1"])
        symbolic, row = layer_equations(ex, 1, at=0)
        panel = self._panel(
            symbolic,
            "layer 1: dense, z = Wx + b",
            self._matrix_equation(ex["W1"], ex["x"][0], ex["b1"], ex["z1"][0]),
        )
        self.play(
            FadeIn(ring),
            ReplacementTransform(net.edges[0], edges),
            FadeIn(panel),
            run_time=1.5,
        )
        z1 = net.value_labels(1, ex["z1"][0])
        self.play(LaggedStart(*[FadeIn(v) for v in z1], lag_ratio=0.1), run_time=1.2)
        ring0 = net.highlight(1, 0, color=COLORS["output"])
        strip = self._strip(row, "the first row, written out")
        boxes = self._row_boxes(panel[1], 0)
        self.play(FadeIn(strip), FadeIn(ring0), Create(boxes), run_time=1)
        self.wait(reading_time(row))
        teaching_pause(self)

        # tanh, neuron by neuron
        act = self._panel(
            formula(HIDDEN).indexed_latex, f"then {HIDDEN}, neuron by neuron"
        )
        self.play(
            FadeOut(panel),
            FadeOut(strip),
            FadeOut(ring0),
            FadeOut(boxes),
            FadeIn(act),
            run_time=0.8,
        )
        self.play(Transform(z1, net.value_labels(1, ex["a1"][0])), run_time=1)
        self.wait(reading_time(formula(HIDDEN).indexed_latex) - 1)
        teaching_pause(self)

        # layer 2: z = W x + b, the 3x8 matrix in full; x = the hidden activations
        pred, true = ex["predicted"], ex["target"]
        ring2 = net.highlight(2)
        edges2 = net.weighted_edges(1, ex["W2"])
        symbolic, row = layer_equations(ex, 2, at=pred)
        card = EquationPanel(
            symbolic,
            caption="layer 2: dense, x = the hidden activations",
            max_width=6.6,
        ).to_corner(UP + RIGHT, buff=0.25)
        written = EquationPanel(
            row,
            caption=f"row {pred} ({names[pred]}), written out",
            max_width=self.WIDTH,
            font_size=30,
            lines=2,
        )
        written.next_to(card, DOWN, buff=0.3).set_x(self.PANEL[0])
        panel2 = VGroup(card, written)
        # the 3x8 matrix fits in full across the bottom, right of the hidden layer
        strip = self._matrix_equation(
            ex["W2"], None, ex["b2"], ex["z2"][0], size=26, width=9.8
        )
        strip.to_corner(DOWN + RIGHT, buff=0.3)
        self.play(
            FadeOut(act),
            FadeOut(ring),
            FadeIn(ring2),
            ReplacementTransform(net.edges[1], edges2),
            FadeIn(card),
            FadeIn(strip),
            run_time=1.5,
        )
        z2 = net.value_labels(2, ex["z2"][0])
        boxes = self._row_boxes(strip, pred)
        self.play(FadeIn(z2), FadeIn(written), Create(boxes), run_time=1)
        self.wait(reading_time(row))
        teaching_pause(self)

        # softmax: logits → probabilities; predicted vs true
        f = formula("softmax")
        soft = EquationPanel(
            f.latex, caption="softmax: logits → probabilities", max_width=self.WIDTH
        )
        marks = {pred: COLORS["true"] if pred == true else COLORS["wrong"]}
        bars = ProbabilityBars(
            ex["p"][0],
            names,
            width=5.6,
            height=2.1,
            marks=marks,
            outlines={true: COLORS["true"]},
        )
        verdict = VGroup(
            label(f"predicted: {names[pred]}", font_size=28, color=marks[pred]),
            label(f"true: {names[true]}", font_size=28, color=COLORS["true"]),
        )
        verdict.arrange(RIGHT, buff=0.6)
        right = VGroup(soft, bars, verdict).arrange(DOWN, buff=0.3)
        right.move_to(self.PANEL).to_edge(UP, buff=0.25).shift(RIGHT * 0.2)
        worked_p = self._strip(
            substituted_latex(f, {"z": ex["z2"]}, at={"i": pred}),
            f"probability of {names[pred]}, with the logits put in",
        )
        outs = VGroup(
            *[
                label(n_, font_size=20, color=COLORS["muted"]).next_to(
                    c, RIGHT, buff=0.1
                )
                for n_, c in zip(names, net.layers[2])
            ]
        )
        self.play(FadeOut(panel2), FadeOut(strip), FadeOut(boxes), FadeIn(soft))
        self.play(
            Transform(z2, net.value_labels(2, ex["p"][0])),
            FadeIn(outs),
            *[GrowFromEdge(b, DOWN) for b in bars.bars],
            FadeIn(bars.baseline),
            FadeIn(bars.names),
            FadeIn(worked_p),
            run_time=1.2,
        )
        self.play(FadeIn(bars.numbers), FadeIn(verdict), run_time=0.8)
        self.wait(2.5)

    def _panel(self, latex: str, caption: str, body=None) -> VGroup:
        """The right-hand panel: an equation card (right of the title), and a body
        (a matrix equation) under it, centred on the panel."""
        panel = equation_card(latex, caption, body, width=6.6)
        card = panel[0].to_corner(UP + RIGHT, buff=0.25)
        if body is not None:
            body.next_to(card, DOWN, buff=0.25).set_x(self.PANEL[0])
        return panel

    def _strip(self, latex: str, caption: str) -> EquationPanel:
        """A worked row across the bottom of the frame."""
        return EquationPanel(
            latex, caption=caption, max_width=13.6, font_size=30
        ).move_to([0, self.STRIP, 0])

    @staticmethod
    def _row_boxes(parts: VGroup, i: int) -> VGroup:
        """Frames around row ``i`` of z, W and b in a :meth:`_matrix_equation`."""
        z, W, b = parts[0], parts[2], parts[5]
        return VGroup(
            *[
                SurroundingRectangle(m.get_rows()[i], buff=0.05, stroke_width=2)
                for m in (z, W, b)
            ]
        ).set_color(COLORS["output"])

    def _matrix_equation(
        self, W, x, b, z, size: float = 22, width: float = WIDTH
    ) -> VGroup:
        """``z = W x + b`` with every entry shown, fitted to ``width``.  With ``x``
        None, x stays a symbol (its values are on the diagram)."""
        v = 0.42
        x_part = (
            equation("x", font_size=32)
            if x is None
            else matrix(x, font_size=size, v_buff=v)
        )
        parts = VGroup(
            matrix(z, font_size=size, v_buff=v),
            equation("=", font_size=30),
            matrix(W, font_size=size, v_buff=v),
            x_part,
            equation("+", font_size=30),
            matrix(b, font_size=size, v_buff=v),
        )
        parts.arrange(RIGHT, buff=0.12)
        return fit(parts, width=width, height=4.5)


CHAPTER = Chapter(
    number=1,
    slug="neuron",
    title="The neuron and the forward pass",
    module=__name__,
    formulas=("neuron", "dense", "sigmoid", "tanh", "softmax"),
    claims=(),
    scenes=("NeuronScene", "ForwardPassScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
