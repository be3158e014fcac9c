"""Chapter 6: SGD, momentum, Nesterov, RMSprop and Adam race on one loss surface."""

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
    LaggedStart,
    Rectangle,
    Scene,
    Star,
    ValueTracker,
    VGroup,
    always_redraw,
    linear,
)

from nnmath.registry import formula
from nnmath.runs.trajectories import quadratic_gradient, quadratic_loss, race
from nnmath.runs.trajectories import surface as loss_grid
from nnmath.update_rules import OPTIMIZERS, optimizer
from nnmath.worked import fmt, substituted_latex

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    FunctionPlot,
    Palette,
    equation,
    fit,
    label,
    legend,
    teaching_pause,
    title,
)
from .blocks.surface import LossSurface

__all__ = ["CHAPTER", "AdamStepScene", "RaceScene", "RulesScene", "example"]

#: an ill-conditioned bowl: curvature about 0.8 along the valley and 11 across it
A = np.array([[1.0, 1.5], [1.5, 11.0]])
START = (-4.5, 2.0)
STEPS = 40
#: each optimizer's hyperparameters (Keras's defaults otherwise); plain SGD runs
#: just below its stability limit 2/λmax ≈ 0.178, so it zig-zags
SETTINGS = {
    "sgd": {"learning_rate": 0.17},
    "momentum": {"learning_rate": 0.04, "momentum": 0.8},
    "nesterov": {"learning_rate": 0.04, "momentum": 0.8},
    "rmsprop": {"learning_rate": 0.15},
    "adam": {"learning_rate": 0.4},
}
X_RANGE, Y_RANGE, GRID = (-5.0, 2.0), (-2.5, 2.5), 106
#: the race's end is shown again closer: the last steps of every path
TAIL = 10
PATH_COLORS = Palette(
    {
        "sgd": "path_plain",
        "momentum": "path_amber",
        "nesterov": "path_pink",  # the orange-red it had read as momentum's orange
        "rmsprop": "path_sky",
        "adam": "path_violet",
    }
)
#: decimals of the worked Adam step: β₂ = 0.999 must not print as 1.00
DIGITS = 3
#: the loss plot's floor: log10 of losses below it are drawn at it
LOG_FLOOR = -8.0


def example() -> dict:
    """The surface, every optimizer's path on it and its loss after each step, and
    Adam's first step in numbers."""
    loss = quadratic_loss(A)
    xs, ys = np.linspace(*X_RANGE, GRID), np.linspace(*Y_RANGE, GRID * 5 // 7)
    paths = race(A, START, STEPS, SETTINGS)
    theta0 = np.asarray(START)
    # a box around the minimum holding the last TAIL steps of every path but the
    # widest (Adam's, still swinging: it is drawn where it is inside the box)
    widths = sorted(float(np.abs(p[-TAIL:]).max()) for p in paths.values())
    reach = 1.15 * widths[-2]
    zx = np.linspace(-reach, reach, GRID)
    zy = np.linspace(-reach * 5 / 7, reach * 5 / 7, GRID * 5 // 7)
    return {
        "grid": {"x": xs, "y": ys, "L": loss_grid(loss, xs, ys)},
        "zoom": {"x": zx, "y": zy, "L": loss_grid(loss, zx, zy)},
        "paths": paths,
        "loss": {n: np.array([loss(t) for t in p]) for n, p in paths.items()},
        "adam_first": {
            "theta": theta0,
            "m": np.zeros(2),
            "v": np.zeros(2),
            "g": quadratic_gradient(A)(theta0),
            "t": np.asarray(0.0),
        },
    }


def title_of(name: str) -> str:
    o = OPTIMIZERS[name]
    extra = ", ".join(f"{k} {fmt(v, 2)}" for k, v in SETTINGS[name].items())
    return f"{o.title} ({extra.replace('learning_rate', 'η').replace('momentum', 'μ')})"


class RaceScene(Scene):
    """Five optimizers, one start, the same 40 steps; each step of each path is an
    evaluation of the registered update formulas."""

    def construct(self):
        ex = example()
        head = title(
            "Optimizers race on an ill-conditioned bowl",
            f"L = ½ θᵀAθ, curvature 11 across the valley and 0.8 along it; "
            f"{STEPS} steps from θ = ({fmt(START[0], 1)}, "
            f"{fmt(START[1], 1)})".replace("-", "−"),
        )
        self.play(FadeIn(head), run_time=0.6)
        g = ex["grid"]
        surf = LossSurface(
            g["x"],
            g["y"],
            g["L"],
            width=6.3,
            height=4.5,
            x_label=r"\theta_0",
            y_label=r"\theta_1",
        )
        surf.to_edge(LEFT, buff=0.8).shift(DOWN * 0.45)
        steps = np.arange(STEPS + 1)
        plot = FunctionPlot(
            steps,
            np.zeros_like(steps, dtype=float),
            x_range=[0, STEPS, 10],
            y_range=[LOG_FLOOR, 2, 2],
            width=4.2,
            height=2.1,
            x_label="t",
            y_label=r"\log_{10} L",
            x_axis_at=LOG_FLOOR,
        )
        plot.remove(plot.curve)
        keys = VGroup(
            *[legend(title_of(n), PATH_COLORS[n], opacity=1) for n in SETTINGS]
        )
        keys.arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        fit(keys, width=5.2).scale(0.8)
        side = VGroup(keys, plot).arrange(DOWN, buff=1.0, aligned_edge=LEFT)
        side.next_to(surf, RIGHT, buff=0.55).align_to(surf, UP)
        self.play(
            FadeIn(surf),
            FadeIn(keys),
            FadeIn(plot.axes),
            FadeIn(plot.labels),
            run_time=1.2,
        )

        k = ValueTracker(0)
        logs = {n: np.log10(np.maximum(ex["loss"][n], 10**LOG_FLOOR)) for n in SETTINGS}

        def paths():
            upto = int(round(k.get_value())) + 1
            return VGroup(
                *[
                    surf.path(
                        ex["paths"][n][:upto],
                        PATH_COLORS[n],
                        stroke_width=2.5,
                        dot_radius=0.03,
                    )
                    for n in SETTINGS
                ]
            )

        def curves():
            upto = int(round(k.get_value())) + 1
            return VGroup(
                *[
                    plot.polyline(
                        steps[:upto],
                        logs[n][:upto],
                        color=PATH_COLORS[n],
                        stroke_width=2.5,
                    )
                    for n in SETTINGS
                ]
            )

        drawn, traced = always_redraw(paths), always_redraw(curves)
        self.add(drawn, traced)
        self.play(k.animate.set_value(STEPS), run_time=12, rate_func=linear)
        best = min(SETTINGS, key=lambda n: ex["loss"][n][-1])
        note = label(
            f"lowest after {STEPS} steps: {OPTIMIZERS[best].title},\n"
            f"L = {ex['loss'][best][-1]:.1e}",
            font_size=22,
            color=COLORS["muted"],
            line_spacing=0.8,
        )
        note.next_to(keys, DOWN, buff=0.1).align_to(keys, LEFT)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(2.5)
        teaching_pause(self)

        # the end knots near the minimum: the last steps again, closer
        z = ex["zoom"]
        zoom = LossSurface(
            z["x"],
            z["y"],
            z["L"],
            width=3.6,
            height=3.6 * 5 / 7,
            numbers=False,
            x_label=r"\theta_0",
            y_label=r"\theta_1",
        )
        zoom.next_to(keys, DOWN, buff=0.3).align_to(keys, LEFT).shift(RIGHT * 0.5)
        box = Rectangle(
            width=surf.point((z["x"][-1], 0))[0] - surf.point((z["x"][0], 0))[0],
            height=surf.point((0, z["y"][-1]))[1] - surf.point((0, z["y"][0]))[1],
            stroke_color=COLORS["text"],
            stroke_width=1.5,
        ).move_to(surf.point((0, 0)))
        tails = VGroup(
            *[
                zoom.path(
                    zoom.last_inside(ex["paths"][n][-TAIL:]),
                    PATH_COLORS[n],
                    stroke_width=2.5,
                    dot_radius=0.04,
                )
                for n in SETTINGS
            ]
        )
        star = Star(
            outer_radius=0.09, color=COLORS["text"], fill_opacity=1, stroke_width=0
        )
        star.move_to(zoom.point((0, 0)))
        caption = (
            label(
                f"the last {TAIL} steps, {_closer(ex):.0f}× closer\n"
                f"(|θ₀| ≤ {fmt(z['x'][-1])}); the star: the minimum",
                font_size=20,
                color=COLORS["muted"],
            )
            .next_to(zoom, DOWN, buff=0.1)
            .align_to(zoom, LEFT)
        )
        self.play(
            FadeOut(traced), FadeOut(plot.axes), FadeOut(plot.labels), FadeOut(note)
        )
        self.play(Create(box), FadeIn(zoom), FadeIn(caption))
        self.play(Create(tails), run_time=2)
        self.play(FadeIn(star), run_time=0.4)  # on top of the paths that reach it
        self.wait(3)


def _closer(ex: dict) -> float:
    """How many times the zoom magnifies the map."""
    return (X_RANGE[1] - X_RANGE[0]) / (ex["zoom"]["x"][-1] - ex["zoom"]["x"][0])


class RulesScene(Scene):
    """The update rules, exactly as Keras computes them, each state variable's
    formula reading the state before the step."""

    def construct(self):
        head = title(
            "The update rules, as Keras computes them",
            "each line is one registered formula; all read the state before the step",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = VGroup()
        for name in ("sgd", "momentum", "nesterov", "rmsprop"):
            o = optimizer(name)
            eqs = [
                equation(formula(o.updates[v]).latex, font_size=32)
                for v in o.updates
                if not (name == "nesterov" and v == "v")
            ]
            rows.add(
                VGroup(
                    label(o.title, font_size=28, color=COLORS["muted"]), *eqs
                ).arrange(RIGHT, buff=0.5)
            )
        rows.arrange(DOWN, aligned_edge=LEFT, buff=0.45)
        column = max(r[0].get_right()[0] for r in rows) + 0.5  # equations line up
        for r in rows:
            VGroup(*r[1:]).shift(RIGHT * (column - r[1].get_left()[0]))
        fit(rows, width=12.8).next_to(head, DOWN, buff=0.35).to_edge(LEFT, buff=0.4)
        self.play(LaggedStart(*[FadeIn(r) for r in rows], lag_ratio=0.5), run_time=3)
        self.wait(2)
        teaching_pause(self)
        note = label(
            "Nesterov shares momentum's velocity update v'; RMSprop puts ε "
            "inside the square root",
            font_size=24,
            color=COLORS["muted"],
        )
        note.next_to(rows, DOWN, buff=0.35).align_to(rows, LEFT)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(4)


class AdamStepScene(Scene):
    """Adam's three formulas, then its first step in the race with the numbers in."""

    def construct(self):
        ex = example()
        first = ex["adam_first"]
        o = optimizer("adam")
        fs = o.formulas(**SETTINGS["adam"])
        head = title(
            "Adam, as Keras computes it",
            "bias correction folded into the step size; ε added to √v",
        )
        self.play(FadeIn(head), run_time=0.6)
        cards = {
            v: EquationPanel(fs[v].latex, max_width=12.6, font_size=28)
            for v in o.updates
        }
        panels = VGroup(
            VGroup(cards["m"], cards["v"]).arrange(RIGHT, buff=0.4), cards["theta"]
        ).arrange(DOWN, buff=0.2)
        panels.next_to(head, DOWN, buff=0.25)
        self.play(LaggedStart(*[FadeIn(p) for p in panels], lag_ratio=0.4), run_time=2)
        self.wait(1.5)
        teaching_pause(self)
        caption = label(
            (
                f"step 1 of the race, coordinate 0 (t = 0 steps taken, m = v = 0, "
                f"g = {fmt(first['g'][0])}, "
                f"η = {fmt(SETTINGS['adam']['learning_rate'])})"
            ).replace("-", "−"),
            font_size=22,
            color=COLORS["muted"],
        )
        worked = VGroup(
            *[
                equation(
                    substituted_latex(
                        fs[v],
                        {n: first[n] for n in fs[v].input_names},
                        at={"p": 0},
                        digits=DIGITS,
                    ),
                    font_size=28,
                    max_width=12.6,
                )
                for v in o.updates
            ]
        ).arrange(DOWN, buff=0.25, aligned_edge=LEFT)
        block = VGroup(caption, worked).arrange(DOWN, buff=0.2, aligned_edge=LEFT)
        block.next_to(panels, DOWN, buff=0.3).to_edge(LEFT, buff=0.5)
        self.play(FadeIn(caption), run_time=0.5)
        self.play(
            LaggedStart(*[FadeIn(w) for w in worked], lag_ratio=0.5), run_time=2.5
        )
        self.wait(3.5)
        teaching_pause(self)
        # the insight: at t = 0 the corrections undo the (1 − β) factors exactly
        theta = fs["theta"].numpy(**{n: first[n] for n in fs["theta"].input_names})
        moved = abs(float(theta[0]) - float(first["theta"][0]))
        insight = label(
            f"the first step moves θ by {fmt(moved, DIGITS)} = η: the corrections "
            "turn m into g and √v into |g|,\nso the step is η·g/|g|, whatever "
            "the size of g (ε aside)",
            font_size=22,
            color=COLORS["highlight"],
        )
        insight.next_to(block, DOWN, buff=0.3).align_to(block, LEFT)
        self.play(FadeIn(insight), run_time=0.6)
        self.wait(4)


CHAPTER = Chapter(
    number=6,
    slug="optimizers",
    title="Optimizers",
    module=__name__,
    formulas=(
        "quadratic",
        "sgd",
        "momentum_velocity",
        "momentum",
        "nesterov",
        "rmsprop_velocity",
        "rmsprop",
        "adam_m",
        "adam_v",
        "adam",
    ),
    claims=("quadratic/dtheta",),
    scenes=("RaceScene", "RulesScene", "AdamStepScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
