"""Chapter 9: regularization and normalization.

Dropout on chapter 1's iris network (``formula("dropout").numpy`` on its hidden
layer); batch norm on a batch of the digits MLP of :mod:`nnmath.runs.regularized`,
trained with the formulas; the batch-norm backward split into its three paths
(:func:`nnmath.library.regularization.bn_path_gradients`); the moving statistics
recorded during that training; and Adam with an L2 penalty against AdamW
(:func:`nnmath.runs.regularized.decay_race`).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import product
from pathlib import Path

import numpy as np
from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    Arrow,
    Cross,
    Dot,
    FadeIn,
    FadeOut,
    LaggedStart,
    Scene,
    SurroundingRectangle,
    VGroup,
)

from nnmath.library.regularization import (
    BN_PATHS,
    bn_backward_terms,
    bn_path_gradients,
)
from nnmath.registry import claim, formula
from nnmath.runs import iris
from nnmath.runs.regularized import (
    BatchNormNetwork,
    decay_race,
    draw_masks,
    shifted_quadratic,
    train_batch_norm,
)
from nnmath.runs.training import epoch_orders, load, minibatches
from nnmath.runs.trajectories import surface as loss_grid
from nnmath.typeset import latex
from nnmath.worked import fmt

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    FunctionPlot,
    NetworkDiagram,
    Palette,
    equation,
    fit,
    label,
    legend,
    number,
    reading_time,
    teaching_pause,
    title,
)
from .blocks.grid import heading, note
from .blocks.histogram import Histogram
from .blocks.surface import LossSurface

__all__ = [
    "BatchNormBackwardScene",
    "BatchNormScene",
    "CHAPTER",
    "DropoutScene",
    "MovingAverageScene",
    "WeightDecayScene",
    "example",
]

#: the dropout rate shown: 1/(1 − p) = 4/3 and 1/p = 4 differ (at 0.5 they would
#: not), and every number is exact in binary
RATE = 0.25
#: where the dropout scene's lines of text start (scene units)
ROWS_LEFT = 0.3
#: how many thinned networks the dropout scene draws, and their masks' seed
MASKS, MASK_SEED = 3, 0
#: the digits MLP with batch norm: its hidden width, epochs and batch size
HIDDEN, EPOCHS, BATCH = 16, 5, 32
#: the steps of training whose moving statistics are printed
SHOWN_STEPS = (1, 10, 100)
#: L2 against AdamW: a bowl 16 times steeper along θ₁, its minimum off 0
A = np.array([[1.0, 0.0], [0.0, 16.0]])
CENTER, START, DECAY_STEPS = (3.0, 1.0), (-2.0, -1.5), 100
LEARNING_RATE, WEIGHT_DECAY = 0.1, 0.5
X_RANGE, Y_RANGE, GRID = (-2.5, 3.5), (-2.0, 2.0), 91
PATH_COLORS = Palette({"l2": "path_sky", "adamw": "path_amber"})
PATH_NAMES = {"l2": "Adam + L2 penalty", "adamw": "AdamW (decoupled)"}
#: the three paths of the batch-norm backward, one colour each
PATH_TINTS = Palette(dict(zip(BN_PATHS, ("highlight", "path_sky", "path_amber"))))
PATH_WORDS = dict(zip(BN_PATHS, (r"\hat{x}", r"\sigma^2", r"\mu")))


def dropout_example() -> dict:
    """Chapter 1's flower through its 4-8-3 network with dropout on the hidden
    layer: a few seeded masks (each a thinned network with its own output),
    inference (all units on), and the expected dropout output over all 2⁸ masks
    weighted by their probabilities, which is the hidden activation itself."""
    ex = iris.example()
    a1 = ex["a1"]
    units = a1.shape[1]
    drop = formula("dropout", rate=RATE)
    dense, softmax = formula("dense"), formula("softmax")

    def output(hidden: np.ndarray) -> np.ndarray:
        return softmax.numpy(z=dense.numpy(x=hidden, W=ex["W2"], b=ex["b2"]))

    masks = draw_masks(np.random.default_rng(MASK_SEED), (MASKS, units), RATE)
    thinned = [drop.numpy(x=a1, mask=m[None, :]) for m in masks]
    every = np.array(list(product((0.0, 1.0), repeat=units)))
    chance = np.prod(np.where(every == 1, 1 - RATE, RATE), axis=1)
    dropped = drop.numpy(x=np.repeat(a1, len(every), axis=0), mask=every)
    return {
        "flower": ex,
        "a1": a1[0],
        "masks": masks,
        "y": np.array([t[0] for t in thinned]),
        "p": np.array([output(t)[0] for t in thinned]),
        "inference": formula("dropout", rate=RATE, training=False).numpy(x=a1)[0],
        "p_full": output(a1)[0],
        "expected": chance @ dropped,
        "masks_counted": len(every),
    }


@lru_cache(maxsize=1)
def _trained() -> tuple:
    """The digits MLP with batch norm after :data:`EPOCHS` epochs, and the moving
    statistics after every step (cached: four scenes read it)."""
    data = load("digits")
    history: list = []
    run = train_batch_norm(
        data, hidden=HIDDEN, epochs=EPOCHS, batch_size=BATCH, history=history
    )
    return data, run, history


def _batch_statistics(x: np.ndarray) -> dict[str, np.ndarray]:
    """Each feature's batch mean and biased variance: the moving-statistics
    updates at momentum 0 are the batch statistics themselves."""
    return {
        s: formula(f"batch_norm_moving_{s}", momentum=0.0).numpy(
            **{f"moving_{s}": np.zeros(x.shape[1]), "x": x}
        )
        for s in ("mean", "variance")
    }


def batch_norm_example() -> dict:
    """The trained network's first training batch: the hidden pre-activations z
    of three features (the least, the middle and the most spread), their batch
    statistics, x̂ (γ = 1, β = 0) and the trained γx̂ + β; the upstream gradient
    of the batch's loss and the three paths of ∂L/∂z."""
    data, run, history = _trained()
    p = {k: v for k, v in run.params.items() if not k.startswith("moving")}
    net = BatchNormNetwork()
    idx = minibatches(epoch_orders(len(data.x_train), 1, 0)[0], BATCH)[0]
    x, y = data.x_train[idx], data.y_train[idx]
    cache = net.forward(p, x)
    z = cache["z1"]
    stats = _batch_statistics(z)
    order = np.argsort(stats["variance"])
    features = [int(order[0]), int(order[len(order) // 2]), int(order[-1])]
    bn = formula("batch_norm")
    xhat = bn.numpy(x=z, gamma=np.ones(HIDDEN), beta=np.zeros(HIDDEN))
    out = bn.numpy(x=z, gamma=p["gamma"], beta=p["beta"])
    after = _batch_statistics(xhat)
    # the upstream gradient ∂L/∂y of the batch's loss, as the network's backward
    # pass computes it: δ₂ back through the second dense layer and tanh′
    top = net.top(p, cache["a1"], cache["z2"], y)
    g = net.fprime.numpy(z=cache["u"], g=top["a1"])
    at = {"x": z, "gamma": p["gamma"], "beta": p["beta"], "g": g}
    paths = {
        k: f.numpy(**{n: at[n] for n in f.input_names})
        for k, f in bn_path_gradients().items()
    }
    full = claim("batch_norm/dx").gradient
    # the element shown: the one whose smallest path is largest, so that all
    # three paths are visible in its numbers
    smallest = np.min([np.abs(v) for v in paths.values()], axis=0)
    element = tuple(int(k) for k in np.unravel_index(np.argmax(smallest), z.shape))
    return {
        "element": element,
        "features": features,
        "z": z,
        "mean": stats["mean"],
        "variance": stats["variance"],
        "xhat": xhat,
        "xhat_mean": after["mean"],
        "xhat_variance": after["variance"],
        "gamma": p["gamma"],
        "beta": p["beta"],
        "out": out,
        "g": g,
        "paths": paths,
        "dx": full.numpy(**{n: at[n] for n in full.input_names}),
        "batch": len(idx),
        "test_accuracy": run.test_accuracy,
        "steps": len(history),
    }


def moving_example() -> dict:
    """The moving mean and variance of the most spread feature after every step,
    with the batch statistics they average."""
    _, run, history = _trained()
    feature = batch_norm_example()["features"][-1]
    keys = ("batch_mean", "batch_variance", "moving_mean", "moving_variance")
    return {
        "feature": feature,
        **{k: np.array([h[k][feature] for h in history]) for k in keys},
        "momentum": formula("batch_norm_moving_variance").constants["momentum"],
    }


def decay_example() -> dict:
    """The loss surface, both paths, and Adam's √v per coordinate at the end of
    the L2 run (what its decay is divided by)."""
    loss, _ = shifted_quadratic(A, CENTER)
    xs = np.linspace(*X_RANGE, GRID)
    ys = np.linspace(*Y_RANGE, GRID * 2 // 3)
    race = decay_race(
        A,
        CENTER,
        START,
        DECAY_STEPS,
        learning_rate=LEARNING_RATE,
        weight_decay=WEIGHT_DECAY,
    )
    return {
        "grid": {"x": xs, "y": ys, "L": loss_grid(loss, xs, ys)},
        "paths": {k: r["theta"] for k, r in race.items()},
        "sqrt_v": {k: np.sqrt(r["v"][-1]) for k, r in race.items()},
    }


def example() -> dict:
    return {
        "dropout": dropout_example(),
        "batch_norm": batch_norm_example(),
        "moving": moving_example(),
        "decay": decay_example(),
    }


def _minus(text: str) -> str:
    return text.replace("-", "\u2212")


def _superscript(k: int) -> str:
    return str(k).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))


class DropoutScene(Scene):
    """Three masks thin chapter 1's network; the survivors are scaled by
    1/(1 − p); at test time every unit is on, and the expected activation over
    all masks is the activation itself."""

    def construct(self):
        d = dropout_example()
        ex = d["flower"]
        names = ex["class_names"]
        head = title(
            "Dropout on chapter 1's network",
            f"p = {fmt(RATE)}: each hidden unit is dropped with probability p; "
            f"the survivors are multiplied by 1/(1 − p) = {fmt(1 / (1 - RATE), 3)}",
        )
        self.play(FadeIn(head), run_time=0.6)
        net = NetworkDiagram((4, 8, 3), width=4.4, height=5.0, radius=0.3)
        net.move_to([-4.4, -0.75, 0])
        self.play(FadeIn(net), run_time=0.8)
        inputs = net.value_labels(0, ex["x"][0], font_size=20)
        hidden = net.value_labels(1, d["a1"], font_size=20)
        outs = net.value_labels(2, d["p_full"], font_size=20)
        classes = VGroup(
            *[
                label(n, font_size=22, color=COLORS["muted"]).next_to(
                    c, RIGHT, buff=0.15
                )
                for n, c in zip(names, net.layers[2])
            ]
        )
        self.play(
            FadeIn(inputs), FadeIn(hidden), FadeIn(outs), FadeIn(classes), run_time=0.8
        )
        card = EquationPanel(
            formula("dropout", rate=RATE).latex,
            caption="inverted dropout, in training",
            max_width=6.4,
            font_size=30,
        )
        card.move_to([3.6, 1.7, 0])
        self.play(FadeIn(card), run_time=0.8)
        self.wait(reading_time(card.equation.tex_string))
        teaching_pause(self)

        rows = VGroup()
        for k, (mask, y, p) in enumerate(zip(d["masks"], d["y"], d["p"])):
            off = [j for j in range(len(mask)) if mask[j] == 0]
            crosses = VGroup(
                *[
                    Cross(
                        net.neuron(1, j), stroke_color=COLORS["wrong"], stroke_width=4
                    )
                    for j in off
                ]
            )
            dead = VGroup(
                *[net.edges[0][j] for j in off],
                *[
                    line
                    for row in net.edges[1]
                    for j, line in enumerate(row)
                    if j in off
                ],
            )
            new_hidden = net.value_labels(1, y, font_size=20)
            for j in off:
                new_hidden[j].set_opacity(0)
            new_outs = net.value_labels(2, p, font_size=20)
            best = int(np.argmax(p))
            row = label(
                f"mask {k + 1}: units {', '.join(str(j + 1) for j in off)} off "
                f"→ {names[best]}, p = {fmt(p[best])}",
                font_size=22,
            )
            fit(row, width=6.2)
            self.play(
                FadeIn(crosses),
                dead.animate.set_stroke(opacity=0.1),
                FadeOut(hidden),
                FadeIn(new_hidden),
                FadeOut(outs),
                FadeIn(new_outs),
                run_time=1.0,
            )
            rows.add(row)
            rows.arrange(DOWN, aligned_edge=LEFT, buff=0.2)
            rows.next_to(card, DOWN, buff=0.4)
            rows.shift(RIGHT * (ROWS_LEFT - rows.get_left()[0]))
            self.play(FadeIn(row), run_time=0.5)
            if k == 0:  # one survivor's scaling, written out
                j = int(np.flatnonzero(mask)[0])
                scaling = label(
                    _minus(
                        f"unit {j + 1} kept: {fmt(d['a1'][j])} × "
                        f"{fmt(1 / (1 - RATE), 3)} = {fmt(y[j])}"
                    ),
                    font_size=22,
                    color=COLORS["highlight"],
                )
                scaling.to_edge(DOWN, buff=0.5).shift(
                    RIGHT * (ROWS_LEFT - scaling.get_left()[0])
                )
                ring = net.highlight(1, j)
                self.play(FadeIn(scaling), FadeIn(ring), run_time=0.5)
                self.wait(1.5)
                self.play(FadeOut(scaling), FadeOut(ring), run_time=0.4)
            self.wait(1.5)
            self.play(
                FadeOut(crosses), dead.animate.set_stroke(opacity=1), run_time=0.4
            )
            hidden, outs = new_hidden, new_outs
        self.play(FadeOut(rows), run_time=0.4)

        # test time: every unit on, nothing scaled
        hidden_full = net.value_labels(1, d["inference"], font_size=20)
        outs_full = net.value_labels(2, d["p_full"], font_size=20)
        self.play(
            FadeOut(hidden),
            FadeIn(hidden_full),
            FadeOut(outs),
            FadeIn(outs_full),
            run_time=0.8,
        )
        test = EquationPanel(
            formula("dropout", rate=RATE, training=False).latex,
            caption="at test time: every unit on, the identity",
            max_width=6.4,
            font_size=30,
        ).next_to(card, DOWN, buff=0.3)
        self.play(FadeIn(test), run_time=0.6)
        j = 0
        expected = VGroup(
            label(
                f"unit 1 over all {d['masks_counted']} masks,\n"
                "each weighted by its probability:",
                font_size=22,
                color=COLORS["muted"],
            ),
            equation(
                rf"(1-p)\cdot\frac{{{fmt(d['a1'][j])}}}{{1-p}} + p\cdot 0 = "
                rf"{fmt(d['expected'][j])} = a_1",
                font_size=30,
            ),
            label(
                "every unit's expected output is its activation\n"
                f"(largest difference {np.abs(d['expected'] - d['a1']).max():.0e})",
                font_size=22,
                color=COLORS["muted"],
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.18)
        fit(expected, width=6.6).next_to(test, DOWN, buff=0.3).align_to(test, LEFT)
        self.play(FadeIn(expected), run_time=0.8)
        best = int(np.argmax(d["p_full"]))
        verdict = (
            label(
                f"the full network: {names[best]} with p = {fmt(d['p_full'][best])}",
                font_size=22,
                color=COLORS["output"],
            )
            .next_to(net, DOWN, buff=0.15)
            .to_edge(LEFT, buff=0.3)
        )
        self.play(FadeIn(verdict), run_time=0.5)
        self.wait(reading_time(expected[1].tex_string) + 1.5)


def _histograms(values, features, *, color, top) -> VGroup:
    return VGroup(
        *[
            Histogram(
                values[:, f],
                x_range=(-6, 6, 3),
                bins=16,
                top=top,
                color=color,
                width=3.4,
                height=1.2,
            )
            for f in features
        ]
    ).arrange(RIGHT, buff=0.8)


def _stats(hists, means, variances, features) -> VGroup:
    """μ and σ² of each feature, above its histogram."""
    return VGroup(
        *[
            label(
                _minus(f"μ = {fmt(means[f])}, σ² = {fmt(variances[f])}"),
                font_size=20,
                color=COLORS["muted"],
            ).next_to(h.baseline, UP, buff=1.3)
            for h, f in zip(hists, features)
        ]
    )


class BatchNormScene(Scene):
    """One real batch of hidden pre-activations: three features' histograms
    before, normalised, then scaled by γ and shifted by β."""

    def construct(self):
        b = batch_norm_example()
        fs = b["features"]
        head = title(
            "Batch norm on a real batch",
            f"the digits MLP's hidden pre-activations z = xW + b: one batch of "
            f"{b['batch']} training digits, 3 of its {HIDDEN} features",
        )
        self.play(FadeIn(head), run_time=0.6)
        top = 16
        before = _histograms(b["z"], fs, color=COLORS["input"], top=top)
        before.shift(UP * (0.9 - before[0].baseline.get_y()) + RIGHT * 0.6)
        stats = _stats(before, b["mean"], b["variance"], fs)
        names = VGroup(
            *[heading(f"feature {f + 1}", s, buff=0.1) for f, s in zip(fs, stats)]
        )
        row1 = equation("z", font_size=34).next_to(before, LEFT, buff=0.4)
        self.play(FadeIn(before), FadeIn(names), FadeIn(row1), run_time=1)
        self.play(FadeIn(stats), run_time=0.5)
        self.wait(1.5)
        teaching_pause(self)

        after = _histograms(b["xhat"], fs, color=COLORS["hidden"], top=top)
        after.shift(UP * (-1.45 - after[0].baseline.get_y()) + RIGHT * 0.6)
        row2 = equation(r"\hat{x}", font_size=34).next_to(after, LEFT, buff=0.4)
        stats2 = _stats(after, b["xhat_mean"], b["xhat_variance"], fs)
        card = EquationPanel(
            formula("batch_norm").latex,
            caption="batch norm in training: the batch's mean and biased variance",
            max_width=13.4,
            font_size=26,
        ).to_edge(DOWN, buff=0.15)
        self.play(FadeIn(after), FadeIn(row2), FadeIn(stats2), run_time=1)
        words = note("each feature: minus its batch mean, divided by √(σ² + ε)")
        words.next_to(after, DOWN, buff=0.35)
        self.play(FadeIn(words), run_time=0.5)
        self.wait(2)
        teaching_pause(self)
        self.play(FadeOut(words), FadeIn(card), run_time=0.6)
        self.wait(reading_time(card.equation.tex_string))
        teaching_pause(self)

        # then the trained γ and β move and stretch each feature again
        scaled = _histograms(b["out"], fs, color=COLORS["output"], top=top)
        scaled.move_to(after)
        params = VGroup(
            *[
                label(
                    _minus(f"γ = {fmt(b['gamma'][f])}, β = {fmt(b['beta'][f])}"),
                    font_size=20,
                    color=COLORS["output"],
                ).move_to(s)
                for s, f in zip(stats2, fs)
            ]
        )
        row3 = equation(r"\gamma\hat{x} + \beta", font_size=28)
        row3.next_to(scaled, LEFT, buff=0.15)
        self.play(
            FadeOut(after),
            FadeOut(stats2),
            FadeOut(row2),
            FadeIn(scaled),
            FadeIn(params),
            FadeIn(row3),
            run_time=1,
        )
        self.wait(3)


class BatchNormBackwardScene(Scene):
    """∂L/∂x of batch norm for one real element, along its three paths in
    colour, and the textbook shortcut that keeps only the first."""

    def construct(self):
        b = batch_norm_example()
        n, f = b["element"]
        head = title(
            "The batch-norm backward: three paths",
            f"sample {n + 1}, feature {f + 1} of the real batch, with the upstream "
            "gradient g of its loss; in units of 10⁻³",
        )
        self.play(FadeIn(head), run_time=0.6)

        # the computation graph: x feeds x̂ directly, through μ, and through σ²
        at = {
            "x": [-5.6, 0.9, 0],
            "mu": [-3.3, 2.0, 0],
            "var": [-3.3, -0.2, 0],
            "xhat": [-1.0, 0.9, 0],
            "y": [0.9, 0.9, 0],
        }
        nodes = {
            k: equation(t, font_size=36).move_to(at[k])
            for k, t in (
                ("x", "x"),
                ("mu", r"\mu"),
                ("var", r"\sigma^2"),
                ("xhat", r"\hat{x}"),
                ("y", "y"),
            )
        }
        tint = PATH_TINTS

        def edge(a, b_, color):
            return Arrow(
                nodes[a].get_center(),
                nodes[b_].get_center(),
                buff=0.35,
                stroke_width=4,
                color=color,
                max_tip_length_to_length_ratio=0.12,
            )

        edges = VGroup(
            edge("x", "xhat", tint["xhat"]),
            edge("x", "var", tint["variance"]),
            edge("var", "xhat", tint["variance"]),
            edge("x", "mu", tint["mean"]),
            edge("mu", "xhat", tint["mean"]),
            edge("mu", "var", tint["mean"]),
            edge("xhat", "y", COLORS["muted"]),
        )
        self.play(FadeIn(VGroup(*nodes.values())), FadeIn(edges), run_time=1)
        # what the element's gradient is made of: its input, its feature's batch
        # statistics and γ, and the gradient arriving at y (in units of 10⁻³)
        given_tex = ",\\quad ".join(
            (
                f"x = {fmt(b['z'][n, f], 3)}",
                rf"\mu = {fmt(b['mean'][f], 3)}",
                rf"\sigma^2 = {fmt(b['variance'][f], 3)}",
                rf"\gamma = {fmt(b['gamma'][f], 3)}",
                f"g = {fmt(1e3 * b['g'][n, f], 3)}",
                f"N = {b['batch']}",
            )
        )
        given = equation(given_tex, font_size=28, max_width=13).move_to([0, -0.8, 0])
        self.play(FadeIn(given), run_time=0.6)

        terms_tex = {k: latex(t) for k, t in zip(BN_PATHS, bn_backward_terms()[0])}
        # in units of 10⁻³: the gradient of a mean over 32 samples is small
        value = {k: 1e3 * float(b["paths"][k][n, f]) for k in BN_PATHS}
        rows = VGroup()
        for k in BN_PATHS:
            rows.add(
                VGroup(
                    equation(
                        r"\text{through }" + PATH_WORDS[k], font_size=26, color=tint[k]
                    ),
                    equation(
                        terms_tex[k] + " = " + fmt(value[k], 3),
                        font_size=30,
                        color=tint[k],
                    ),
                ).arrange(RIGHT, buff=0.3)
            )
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.3).move_to([4.3, 0.9, 0])
        fit(rows, width=5.6)
        for row in rows:
            self.play(FadeIn(row), run_time=0.6)
            self.wait(reading_time(row[1].tex_string))
        total = 1e3 * float(b["dx"][n, f])
        sum_tex = (
            r"\frac{\partial L}{\partial x} = "
            + " + ".join(f"({fmt(value[k], 3)})" for k in BN_PATHS)
            + f" = {fmt(total, 3)}"
        )
        whole = equation(sum_tex, font_size=32, max_width=12.8)
        whole.move_to([0, -1.75, 0])
        self.play(FadeIn(whole), run_time=0.8)
        self.wait(reading_time(sum_tex))
        teaching_pause(self)
        wrong_tex = (
            r"\text{textbook shortcut } \frac{g\,\gamma}{\sqrt{\sigma^2+\epsilon}} = "
            + fmt(value["xhat"], 3)
            + r" \neq "
            + fmt(total, 3)
        )
        wrong = equation(wrong_tex, font_size=30, color=COLORS["wrong"], max_width=12.8)
        wrong.next_to(whole, DOWN, buff=0.35)
        why = label(
            "it treats μ and σ² as constants, dropping two paths: "
            "nnbook verify refuses it as batch_norm/dx",
            font_size=22,
            color=COLORS["muted"],
        )
        fit(why, width=13).next_to(wrong, DOWN, buff=0.25)
        self.play(
            FadeIn(wrong),
            FadeIn(SurroundingRectangle(wrong, color=COLORS["wrong"], buff=0.1)),
            run_time=0.8,
        )
        self.play(FadeIn(why), run_time=0.5)
        self.wait(reading_time(wrong_tex) + 1)


class MovingAverageScene(Scene):
    """The moving variance of one feature over the real training run, against
    the batch variances it averages; at inference it replaces them."""

    def construct(self):
        m = moving_example()
        steps = np.arange(1, len(m["batch_variance"]) + 1)
        head = title(
            "Training against inference: the moving statistics",
            f"feature {m['feature'] + 1} over the {len(steps)} steps of training "
            f"({EPOCHS} epochs of batches of {BATCH}); the moving variance starts at 1",
        )
        self.play(FadeIn(head), run_time=0.6)
        hi = float(np.ceil(max(m["batch_variance"].max(), 1.0)))
        plot = FunctionPlot(
            steps,
            m["batch_variance"],
            x_range=[0, len(steps), 50],
            y_range=[0, hi, 1],
            width=6.2,
            height=3.4,
            x_label="t",
            y_label=r"\sigma^2",
            color=COLORS["muted"],
            jump=hi,  # one unbroken line: the batches' jumps are the point
        )
        plot.move_to([-3.5, -0.1, 0])
        plot.curve.set_stroke(width=2, opacity=0.7)
        moving = plot.polyline(
            np.concatenate([[0], steps]),
            np.concatenate([[1.0], m["moving_variance"]]),
            color=COLORS["output"],
        )
        keys = VGroup(
            legend("each batch's variance", COLORS["muted"], opacity=0.9),
            legend(
                f"moving variance (momentum {fmt(m['momentum'])})",
                COLORS["output"],
                opacity=1,
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        keys.move_to([3.5, 2.1, 0])
        self.play(FadeIn(plot.axes), FadeIn(plot.labels), FadeIn(keys), run_time=0.8)
        self.play(FadeIn(plot.curve), run_time=1.2)
        self.play(FadeIn(moving), run_time=1.2)
        card = EquationPanel(
            formula("batch_norm_moving_variance").latex,
            caption="after each training step (Keras's momentum 0.99)",
            max_width=13.8,
            font_size=26,
        ).to_edge(DOWN, buff=0.15)
        self.play(FadeIn(card), run_time=0.6)
        self.wait(reading_time(card.equation.tex_string))
        teaching_pause(self)
        rows = VGroup(
            VGroup(
                label("step", font_size=22, color=COLORS["muted"]),
                label("batch σ²", font_size=22, color=COLORS["muted"]),
                label("moving σ²", font_size=22, color=COLORS["output"]),
            )
        )
        for t in (*SHOWN_STEPS, len(steps)):
            rows.add(
                VGroup(
                    label(str(t), font_size=22),
                    number(m["batch_variance"][t - 1], font_size=22),
                    number(
                        m["moving_variance"][t - 1],
                        font_size=22,
                        color=COLORS["output"],
                    ),
                )
            )
        cells = VGroup(*[c for r in rows for c in r]).arrange_in_grid(
            rows=len(rows), cols=3, buff=(0.5, 0.16), col_alignments="rrr"
        )
        cells.next_to(keys, DOWN, buff=0.35).align_to(keys, LEFT)
        dots = VGroup(
            *[
                Dot(
                    plot.point(t, m["moving_variance"][t - 1]),
                    radius=0.06,
                    color=COLORS["output"],
                )
                for t in (*SHOWN_STEPS, len(steps))
            ]
        )
        self.play(FadeIn(cells), FadeIn(dots), run_time=1)
        self.wait(2)
        teaching_pause(self)
        last = m["moving_variance"][-1]
        tail = label(
            f"the start value 1 still weighs {fmt(m['momentum'] ** len(steps), 3)}"
            f" ({fmt(m['momentum'])}{_superscript(len(steps))});\n"
            "at inference every sample is normalised\n"
            f"by σ² = {fmt(last)}, not by its own batch's",
            font_size=22,
            color=COLORS["muted"],
        )
        fit(tail, width=6.2).next_to(cells, DOWN, buff=0.3).align_to(cells, LEFT)
        self.play(FadeIn(tail), run_time=0.6)
        self.wait(3)


class WeightDecayScene(Scene):
    """Adam with an L2 penalty against AdamW on one bowl: the penalty passes
    through Adam's division by √v, the decoupled decay does not."""

    def construct(self):
        ex = decay_example()
        lam = WEIGHT_DECAY
        head = title(
            "L2 through Adam against AdamW",
            f"L = ½(θ − c)ᵀA(θ − c), 16 times steeper along θ₁, minimum at c = "
            f"({fmt(CENTER[0], 0)}, {fmt(CENTER[1], 0)}); η = {fmt(LEARNING_RATE, 1)}, "
            f"λ = {fmt(lam, 1)}, {DECAY_STEPS} steps",
        )
        self.play(FadeIn(head), run_time=0.6)
        g = ex["grid"]
        surf = LossSurface(
            g["x"],
            g["y"],
            g["L"],
            width=5.8,
            height=3.9,
            x_label=r"\theta_0",
            y_label=r"\theta_1",
        )
        surf.to_edge(LEFT, buff=0.8).shift(DOWN * 0.3)
        center = Dot(surf.point(CENTER), radius=0.07, color=COLORS["true"])
        origin = Dot(surf.point((0, 0)), radius=0.06, color=COLORS["text"])
        self.play(FadeIn(surf), FadeIn(center), FadeIn(origin), run_time=1)
        paths = {
            k: surf.path(p, PATH_COLORS[k], stroke_width=2.5, dot_radius=0.025)
            for k, p in ex["paths"].items()
        }
        keys = VGroup(
            *[
                legend(
                    _minus(
                        f"{PATH_NAMES[k]}: ends at ({fmt(p[-1][0])}, {fmt(p[-1][1])})"
                    ),
                    PATH_COLORS[k],
                    opacity=1,
                )
                for k, p in ex["paths"].items()
            ]
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        fit(keys, width=6.2).next_to(surf, RIGHT, buff=0.4).align_to(surf, UP)
        self.play(
            LaggedStart(*[FadeIn(p) for p in paths.values()], lag_ratio=0.5),
            FadeIn(keys),
            run_time=2,
        )
        l2_tex = r"\text{L2: } g + \lambda\theta \text{ is divided by } \sqrt{v}"
        w_tex = r"\text{AdamW: } \theta - \eta\lambda\theta \text{ before the step}"
        sv = ex["sqrt_v"]["l2"]
        why = VGroup(
            equation(l2_tex, font_size=30, color=PATH_COLORS["l2"]),
            label(
                _minus(
                    f"√v after {DECAY_STEPS} steps: {fmt(sv[0])} on θ₀, "
                    f"{fmt(sv[1])} on θ₁:\nθ₁'s decay is divided by a "
                    f"{fmt(sv[1] / sv[0], 1)}× larger number"
                ),
                font_size=22,
                color=COLORS["muted"],
            ),
            equation(w_tex, font_size=30, color=PATH_COLORS["adamw"]),
            label(
                "θ₀ and θ₁ shrink by the same fraction\n"
                f"ηλ = {fmt(LEARNING_RATE * lam, 2)} each step: another end point",
                font_size=22,
                color=COLORS["muted"],
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.22)
        fit(why, width=6.2).next_to(keys, DOWN, buff=0.45).align_to(keys, LEFT)
        for part in why:
            self.play(FadeIn(part), run_time=0.5)
            self.wait(1.5)
        self.wait(3)


CHAPTER = Chapter(
    number=9,
    slug="regularization",
    title="Regularization and normalization",
    module=__name__,
    formulas=(
        "dropout",
        "batch_norm",
        "batch_norm_inference",
        "batch_norm_moving_mean",
        "batch_norm_moving_variance",
        "layer_norm",
        "l2_penalty",
        "adam",
        "adamw",
        "quadratic",
        "dense",
        "tanh",
        "softmax",
    ),
    claims=(
        "dropout/dx",
        "dropout/dx.inference",
        "batch_norm/dx",
        "batch_norm/dgamma",
        "batch_norm/dbeta",
        "batch_norm_inference/dx",
        "layer_norm/dx",
        "layer_norm/dgamma",
        "layer_norm/dbeta",
        "l2_penalty/dw",
        "quadratic/dtheta",
    ),
    scenes=(
        "DropoutScene",
        "BatchNormScene",
        "BatchNormBackwardScene",
        "MovingAverageScene",
        "WeightDecayScene",
    ),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
