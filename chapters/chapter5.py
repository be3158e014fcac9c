"""Chapter 5: backpropagation — chapter 1's iris network run backwards, the
chain rule for one weight multiplied out, and one gradient-descent step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Create,
    FadeIn,
    FadeOut,
    GrowFromEdge,
    ReplacementTransform,
    Scene,
    SurroundingRectangle,
    Transform,
    VGroup,
)

from nnmath.registry import claim, formula
from nnmath.runs import iris, tutorials
from nnmath.runs.training import PARAMS, Network, sgd_step

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    NetworkDiagram,
    Palette,
    ProbabilityBars,
    code,
    equation,
    equation_card,
    fit,
    fmt,
    label,
    matrix,
    number,
    reading_time,
    teaching_pause,
    title,
    verdict,
)

__all__ = [
    "CHAPTER",
    "BackwardPassScene",
    "ChainRuleScene",
    "DescentStepScene",
    "SigmoidSlipScene",
    "example",
    "slip",
]

NETWORK = "mlp"  # the registered derivation of chapter 1's network (tanh, softmax)
LEARNING_RATE = 0.5
#: one colour per factor of the chain rule for a first-layer weight
FACTOR_COLORS = Palette({"back": "output", "slope": "hidden", "input": "input"})


def _factor_colors(name: str) -> dict[str, str]:
    """The chain-rule factors as they are printed in a claim's equation, each in
    its colour: ∂L/∂z₁ = (1 − tanh²z₁) · Σ W₂δ₂ and ∂L/∂W₁ = Σ δ₁ · x."""
    rhs = claim(f"{NETWORK}/{name}").latex.split(" = ", 1)[1]
    if name == "dz1":  # the slope, then the sum that brings δ₂ back through W₂
        slope, back = rhs.split(r" \sum", 1)
        return {
            slope: FACTOR_COLORS["slope"],
            r"\sum" + back: FACTOR_COLORS["back"],
        }
    return {rhs.rsplit(" ", 1)[1]: FACTOR_COLORS["input"]}  # the input x


def example() -> dict:
    """Chapter 1's flower and weights, its gradients from the claims, one SGD step.

    The weight whose chain rule is written out is the first-layer weight with the
    largest gradient.  Every number is nnmath's: the backward pass of
    :class:`nnmath.runs.training.Network` (one claim per step), and each factor of the
    chain rule from the claim that states it.
    """
    ex = iris.example()
    net = Network(iris.HIDDEN, "softmax")
    params = {k: ex[k] for k in PARAMS}
    x, y = ex["x"], np.eye(len(ex["class_names"]))[[ex["target"]]]
    cache = net.forward(params, x)
    grads = net.backward(params, x, y, cache)
    i, j = (
        int(v)
        for v in np.unravel_index(np.argmax(np.abs(grads["W1"])), grads["W1"].shape)
    )
    # the three factors of ∂L/∂W1[i, j]: back through W2, the slope of tanh, x_j
    back = claim("dense/dx").gradient.numpy(
        x=cache["a1"], W=params["W2"], b=params["b2"], g=grads["z2"]
    )
    slope = claim(f"{iris.HIDDEN}'").gradient.numpy(
        z=cache["z1"], g=np.ones_like(cache["z1"])
    )
    after = sgd_step(params, grads, LEARNING_RATE)
    softmax = formula("softmax")
    return {
        **{
            k: ex[k] for k in ("sample", "class_names", "target", "x", "z1", "a1", "z2")
        },
        "params": params,
        "y": y,
        "p": softmax.numpy(z=cache["z2"])[0],
        "loss": net.loss(params, x, y),
        "grads": grads,
        "weight": (i, j),
        "factors": {
            "back": float(back[0, i]),
            "slope": float(slope[0, i]),
            "input": float(x[0, j]),
        },
        "learning_rate": LEARNING_RATE,
        "after": after,
        "p_after": softmax.numpy(z=net.forward(after, x)["z2"])[0],
        "loss_after": net.loss(after, x, y),
    }


def slip() -> dict:
    """The tutorials' σ′(a) for σ′(z), on this chapter's flower and weights with
    the sigmoid hidden layer the tutorials use.

    The tutorial's numbers come from its own code
    (:func:`nnmath.runs.tutorials.train_step`),
    the right ones from the proved claims, and the verdict from the checker run on
    the claim that code states (:func:`nnmath.runs.tutorials.d_hidden_claim`).
    """
    from nnmath.checker.checks import check_finite_differences, check_symbolic

    ex = iris.example()
    params = {k: ex[k] for k in PARAMS}
    x, y = ex["x"], np.eye(len(ex["class_names"]))[[ex["target"]]]
    net = Network("sigmoid", "softmax")
    cache = net.forward(params, x)
    right = net.backward(params, x, y, cache)
    # the tutorials keep weights as (inputs, outputs): ours transposed
    dW1, db1, dW2, db2 = tutorials.train_step(
        x, y, params["W1"].T, params["b1"], params["W2"].T, params["b2"]
    )
    z1 = cache["z1"]
    wrong = tutorials.d_hidden_claim()
    return {
        "z1": z1[0],
        "slope": claim("sigmoid'").gradient.numpy(z=z1, g=np.ones_like(z1))[0],
        "tutorial_slope": tutorials.sigmoid_derivative(cache["a1"])[0],
        "db1": right["b1"],
        "tutorial_db1": db1,
        "tutorial_dW1": dW1.T,
        "dW1": right["W1"],
        "tutorial_dW2": dW2.T,
        "dW2": right["W2"],
        # σ′(a) for a in (0, 1) is smallest at a = 1: the tutorial's floor
        "floor": float(tutorials.sigmoid_derivative(1.0)),
        "verdict": [
            c.line for c in (check_symbolic(wrong), check_finite_differences(wrong))
        ],
        "source": tutorials.source(tutorials.sigmoid_derivative, tutorials.train_step),
    }


def _diagram() -> NetworkDiagram:
    net = NetworkDiagram((4, 8, 3), width=4.2, height=4.5, radius=0.3)
    return net.move_to([-4.4, -0.35, 0])


def _panel(latex: str, caption: str, body=None, width: float = 7.6) -> VGroup:
    """The right-hand column: an equation card with an optional body under it."""
    parts = equation_card(
        latex, caption, body, width=width, font_size=32, body_height=3.6, buff=0.3
    )
    return parts.move_to([2.9, 0, 0]).to_edge(UP, buff=1.25)


class BackwardPassScene(Scene):
    """Gradients flow from the loss back to the inputs, one claim at a time."""

    def construct(self):
        ex = example()
        g, names = ex["grads"], ex["class_names"]
        head = title(
            "Backward pass: 4 → 8 → 3, from the loss to the inputs",
            f"iris flower #{ex['sample']} ({names[ex['target']]}), chapter 1's weights",
        )
        self.play(FadeIn(head), run_time=0.6)
        net = _diagram()
        outs = net.value_labels(2, ex["p"])
        loss = VGroup(equation("L =", font_size=32), number(ex["loss"], font_size=28))
        loss.arrange(RIGHT, buff=0.12).next_to(net, DOWN, buff=0.2).align_to(net, RIGHT)
        self.play(FadeIn(net), FadeIn(outs), FadeIn(loss), run_time=1)

        # δ₂ = a₂ − y at the outputs
        panel = _panel(
            claim("categorical_crossentropy_logits/dz").latex,
            "at the outputs: δ₂ = softmax − one-hot target (N = 1)",
        )
        self.play(FadeIn(panel), FadeIn(net.highlight(2)), run_time=0.8)
        self.play(
            Transform(outs, net.value_labels(2, g["z2"][0])),
            FadeIn(self._tag(net, 2, r"\delta^{(2)}")),
            run_time=1,
        )
        self.wait(reading_time(claim("categorical_crossentropy_logits/dz").latex) - 1)
        teaching_pause(self)

        # ∂L/∂W₂ on every edge of layer 2, the numbers in the matrix
        steps = (
            (
                1,
                "dW2",
                "W2",
                "layer 2: every edge's ∂L/∂w (colour = sign, width = size)",
            ),
            (0, "dW1", "W1", "layer 1: δ₁ went back through W₂ and tanh′"),
        )
        for layer, step, key, caption in steps:
            new = _panel(
                claim(f"{NETWORK}/{step}").latex,
                caption,
                matrix(g[key], font_size=26, v_buff=0.45),
            )
            edges = net.weighted_edges(layer, g[key])
            self.play(
                FadeOut(panel),
                FadeIn(new),
                ReplacementTransform(net.edges[layer], edges),
                run_time=1.2,
            )
            net.edges[layer] = edges
            panel = new
            if layer == 1:
                # the numbers that fit: the edges into the true class, = its row
                true = ex["target"]
                into = net.edge_labels(1, g["W2"], at=0.3, font_size=16, rows=[true])
                box = SurroundingRectangle(
                    new[1].get_rows()[true], buff=0.06, color=COLORS["highlight"]
                )
                self.play(FadeIn(into), Create(box), run_time=0.8)
                self.wait(1.5)
                teaching_pause(self)
                self.play(FadeOut(into), FadeOut(box), run_time=0.5)
                delta1 = _panel(
                    claim(f"{NETWORK}/dz1").latex,
                    "back through W₂, times tanh′(z₁): δ₁ at the hidden layer",
                )
                hidden = net.value_labels(1, g["z1"][0])
                self.play(
                    FadeOut(panel),
                    FadeIn(delta1),
                    FadeIn(hidden),
                    FadeIn(self._tag(net, 1, r"\delta^{(1)}")),
                    run_time=1.2,
                )
                panel = delta1
                self.wait(reading_time(claim(f"{NETWORK}/dz1").latex))
                teaching_pause(self)
            else:
                self.wait(reading_time(claim(f"{NETWORK}/{step}").latex))
                teaching_pause(self)

        # and on to the inputs
        inputs = _panel(claim(f"{NETWORK}/dx").latex, "the gradient reaches the inputs")
        self.play(
            FadeOut(panel),
            FadeIn(inputs),
            FadeIn(net.value_labels(0, g["x"][0])),
            FadeIn(self._tag(net, 0, r"\partial L / \partial x")),
            run_time=1,
        )
        self.wait(2.5)

    @staticmethod
    def _tag(net: NetworkDiagram, layer: int, name: str):
        """What the numbers in a layer's neurons are, written above the layer."""
        return equation(name, font_size=28, color=COLORS["highlight"]).next_to(
            net.layers[layer], UP, buff=0.15
        )


class ChainRuleScene(Scene):
    """∂L/∂W₁[i, j] for one weight: three colour-coded factors, multiplied out."""

    def construct(self):
        ex = example()
        (i, j), f = ex["weight"], ex["factors"]
        head = title(
            f"The chain rule for one weight: W₁[{i}, {j}]",
            f"from input {j} to hidden unit {i}, the largest gradient in layer 1",
        )
        self.play(FadeIn(head), run_time=0.6)
        net = _diagram()
        self.play(FadeIn(net), run_time=0.6)
        # the path of this weight, in the colours of its factors
        path = VGroup(
            net.edges[0][i][j].copy().set_stroke(FACTOR_COLORS["input"], 6),
            *[
                row[i].copy().set_stroke(FACTOR_COLORS["back"], 5)
                for row in net.edges[1]
            ],
        )
        rings = VGroup(
            net.highlight(0, j, color=FACTOR_COLORS["input"]),
            net.highlight(1, i, color=FACTOR_COLORS["slope"]),
        )
        self.play(FadeIn(path), FadeIn(rings), run_time=1)
        teaching_pause(self)

        statements = (
            VGroup(
                EquationPanel(
                    claim(f"{NETWORK}/dW1").latex,
                    max_width=7.6,
                    font_size=32,
                    colors=_factor_colors("dW1"),
                ),
                EquationPanel(
                    claim(f"{NETWORK}/dz1").latex,
                    max_width=7.6,
                    font_size=32,
                    colors=_factor_colors("dz1"),
                ),
            )
            .arrange(DOWN, buff=0.2)
            .move_to([2.9, 0, 0])
            .to_edge(UP, buff=1.35)
        )
        self.play(FadeIn(statements), run_time=1)
        teaching_pause(self)

        texts = {
            "back": f"Σₖ δ₂ₖ W₂[k, {i}]  (back through W₂)",
            "slope": f"tanh′(z₁[{i}])  (the activation's slope)",
            "input": f"x[{j}]  (this weight's input)",
        }
        rows = VGroup()
        for name in ("back", "slope", "input"):
            rows.add(
                VGroup(
                    label(texts[name], font_size=24, color=FACTOR_COLORS[name]),
                    number(f[name], font_size=26, color=FACTOR_COLORS[name]),
                ).arrange(RIGHT, buff=0.3)
            )
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.18)
        rows.next_to(statements, DOWN, buff=0.35).align_to(statements, LEFT)
        for row in rows:
            self.play(FadeIn(row), run_time=0.7)
            teaching_pause(self)
        product = VGroup(
            number(f["back"], font_size=30, color=FACTOR_COLORS["back"]),
            label("×", font_size=30),
            number(f["slope"], font_size=30, color=FACTOR_COLORS["slope"]),
            label("×", font_size=30),
            number(f["input"], font_size=30, color=FACTOR_COLORS["input"]),
            label("=", font_size=30),
            number(ex["grads"]["W1"][i, j], font_size=30, color=COLORS["highlight"]),
            label(f"= ∂L/∂W₁[{i}, {j}]", font_size=26, color=COLORS["highlight"]),
        ).arrange(RIGHT, buff=0.18)
        product.next_to(rows, DOWN, buff=0.35).align_to(rows, LEFT)
        self.play(FadeIn(product), run_time=1.2)
        self.wait(2.5)


class DescentStepScene(Scene):
    """One SGD step against the gradients: the weights move and the loss drops."""

    def construct(self):
        ex = example()
        names, true = ex["class_names"], ex["target"]
        head = title(
            "One gradient-descent step",
            f"learning rate η = {fmt(ex['learning_rate'])}, the same flower",
        )
        self.play(FadeIn(head), run_time=0.6)
        rule = EquationPanel(
            formula("sgd", learning_rate=ex["learning_rate"]).latex,
            caption="every weight and bias moves against its gradient",
            max_width=6.0,
        )
        rule.to_corner(UP + RIGHT, buff=0.3).shift(DOWN * 1.0)
        net = _diagram()
        before = VGroup(
            net.weighted_edges(0, ex["params"]["W1"]),
            net.weighted_edges(1, ex["params"]["W2"]),
        )
        self.play(FadeIn(net.layers), FadeIn(before), FadeIn(rule), run_time=1)

        bars = self._bars(ex["p"], names, true).next_to(rule, DOWN, buff=0.45)
        loss = self._loss("before:", ex["loss"]).next_to(bars, DOWN, buff=0.45)
        self.play(
            *[GrowFromEdge(b, DOWN) for b in bars.bars],
            FadeIn(bars.baseline),
            FadeIn(bars.names),
            FadeIn(bars.numbers),
            FadeIn(loss),
            run_time=1.2,
        )
        self.wait(1)
        teaching_pause(self)
        after = VGroup(
            net.weighted_edges(0, ex["after"]["W1"]),
            net.weighted_edges(1, ex["after"]["W2"]),
        )
        new_bars = self._bars(ex["p_after"], names, true).move_to(bars)
        new_loss = self._loss("after:", ex["loss_after"]).next_to(loss, DOWN, buff=0.2)
        self.play(Transform(before, after), Transform(bars, new_bars), run_time=1.5)
        self.play(FadeIn(new_loss), run_time=0.8)
        teaching_pause(self)
        note = label(
            f"the probability of {names[true]} rose from {fmt(ex['p'][true])} "
            f"to {fmt(ex['p_after'][true])}",
            font_size=24,
            color=COLORS["true"],
        ).to_edge(DOWN, buff=0.3)
        self.play(FadeIn(note), run_time=0.8)
        self.wait(2.5)

    @staticmethod
    def _bars(p, names, true) -> ProbabilityBars:
        return ProbabilityBars(
            p, names, width=5.0, height=1.8, outlines={true: COLORS["true"]}
        )

    @staticmethod
    def _loss(when: str, value: float) -> VGroup:
        return VGroup(
            label(f"loss {when}", font_size=26, color=COLORS["muted"]),
            number(value, font_size=28),
        ).arrange(RIGHT, buff=0.2)


class SigmoidSlipScene(Scene):
    """The tutorials' slip: σ′ taken at the activation a = σ(z) instead of at z.
    Their code, the wrong gradients it gives for this flower, verify's verdict."""

    def construct(self):
        sl = slip()
        head = title(
            "A tutorial slip: σ′ taken at the activation",
            "the same flower and weights, with the sigmoid hidden layer tutorials use",
        )
        self.play(FadeIn(head), run_time=0.6)
        listing = code(sl["source"], width=7.4, mark="sigmoid_derivative(hidden)")
        listing.to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.15)
        note = VGroup(
            label("hidden = σ(z) is already the activation,", font_size=24),
            label("so sigmoid_derivative(hidden)", font_size=24),
            label(
                "= σ(σ(z)) (1 − σ(σ(z))): not σ′(z).",
                font_size=24,
                color=COLORS["wrong"],
            ),
            label(
                f"σ′(a) never drops below σ′(1) = {fmt(sl['floor'], 3)}:", font_size=24
            ),
            label("a saturated unit still gets a gradient.", font_size=24),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.14)
        note.next_to(listing, RIGHT, buff=0.4).align_to(listing, UP)
        self.play(FadeIn(listing[0]), run_time=1)
        self.play(Create(listing[1]), FadeIn(note), run_time=1)
        self.wait(2.5)
        teaching_pause(self)

        units = len(sl["z1"])
        rows = [
            ("hidden unit", [str(i) for i in range(units)], COLORS["muted"]),
            ("z₁", [fmt(v) for v in sl["z1"]], COLORS["text"]),
            ("σ′(z₁): right", [fmt(v, 3) for v in sl["slope"]], COLORS["true"]),
            (
                "σ′(a₁): tutorial",
                [fmt(v, 3) for v in sl["tutorial_slope"]],
                COLORS["wrong"],
            ),
            ("∂L/∂b₁ = δ₁: proved", [fmt(v, 3) for v in sl["db1"]], COLORS["true"]),
            (
                "∂L/∂b₁: tutorial",
                [fmt(v, 3) for v in sl["tutorial_db1"]],
                COLORS["wrong"],
            ),
        ]
        cells = VGroup()
        for name, values, color in rows:
            cells.add(label(name, font_size=22, color=COLORS["muted"]))
            for v in values:
                cells.add(label(v.replace("-", "−"), font_size=22, color=color))
        table = cells.arrange_in_grid(
            rows=len(rows),
            cols=units + 1,
            buff=(0.3, 0.18),
            col_alignments="l" + "r" * units,
        )
        fit(table, width=13).to_edge(UP, buff=1.7)
        self.play(FadeOut(listing), FadeOut(note), FadeIn(table), run_time=1.2)
        self.wait(1.5)
        teaching_pause(self)
        worst = int(
            np.argmax(np.abs(sl["tutorial_db1"] - sl["db1"]) / np.abs(sl["db1"]))
        )
        off = abs(sl["tutorial_db1"][worst] / sl["db1"][worst] - 1)
        box = SurroundingRectangle(
            VGroup(*[cells[r * (units + 1) + 1 + worst] for r in (4, 5)]),
            color=COLORS["highlight"],
            buff=0.08,
        )
        why = label(
            f"unit {worst}: the tutorial's gradient is {off:.0%} off",
            font_size=24,
            color=COLORS["highlight"],
        )
        why.next_to(table, DOWN, buff=0.3)
        self.play(Create(box), FadeIn(why), run_time=0.8)
        self.wait(1.5)
        teaching_pause(self)
        report = VGroup(
            label(
                "nnbook verify, on δ₁ as this code computes it:",
                font_size=22,
                color=COLORS["muted"],
            ),
            verdict(sl["verdict"], width=13),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        report.to_edge(DOWN, buff=0.35)
        self.play(FadeIn(report), run_time=1)
        self.wait(3)


CHAPTER = Chapter(
    number=5,
    slug="backprop",
    title="Backpropagation",
    module=__name__,
    formulas=(
        "dense",
        "tanh",
        "softmax",
        "categorical_crossentropy_logits",
        "mlp",
        "sgd",
    ),
    claims=(
        "categorical_crossentropy_logits/dz",
        "tanh'",
        "dense/dW",
        "dense/db",
        "dense/dx",
        *(f"{NETWORK}/{s}" for s in ("dW2", "db2", "dz1", "dW1", "db1", "dx")),
        # the sigmoid network the tutorials' slip is shown on
        "sigmoid'",
        "mlp.sigmoid/dz1",
        "mlp.sigmoid/db1",
    ),
    scenes=(
        "BackwardPassScene",
        "ChainRuleScene",
        "DescentStepScene",
        "SigmoidSlipScene",
    ),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
