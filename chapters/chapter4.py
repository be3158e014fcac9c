"""Chapter 4: gradient descent on the classic example X = [1, 2, 3], y = [2, 4, 6]."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from manim import (
    DL,
    DOWN,
    LEFT,
    RIGHT,
    UP,
    UR,
    Create,
    Dot,
    FadeIn,
    FadeOut,
    LaggedStart,
    Scene,
    Star,
    SurroundingRectangle,
    VGroup,
    linear,
)

from nnmath import ShapeError
from nnmath.registry import claim, formula
from nnmath.runs import tutorials
from nnmath.runs.trajectories import (
    CLASSIC_X,
    CLASSIC_Y,
    RULES,
    descend,
    linreg_loss,
    stability_limit,
    surface,
    tutorial_error_matrix,
)
from nnmath.worked import fmt, substituted_latex

from .base import Chapter
from .blocks import (
    COLORS,
    Palette,
    code,
    equation,
    fit,
    label,
    legend,
    matrix,
    reading_time,
    teaching_pause,
    title,
    verdict,
)
from .blocks.surface import LossSurface

__all__ = [
    "CHAPTER",
    "DescentScene",
    "LearningRateScene",
    "TrapScene",
    "TutorialLoopScene",
    "VariantsScene",
    "example",
    "step_equations",
    "tutorial_loop",
]

START = (0.0, 0.0)
#: the walk-through's learning rate and the three the rates scene compares
LEARNING_RATE = 0.15
RATES = {"too small": 0.002, "good": 0.15, "diverges": 0.19}
RATE_STEPS, WALK_STEPS, VARIANT_STEPS = 25, 12, 24
VARIANT_RATE, BATCH_SIZE, SEED = 0.05, 2, 4
#: the tutorial's loop runs as long as the tutorials run it
TUTORIAL_EPOCHS = 1000
#: the map: w across, b up
W_RANGE, B_RANGE, GRID = (-1.0, 5.0), (-2.0, 3.0), 121
#: the variants scene looks closer, at the part of the map the paths cover
ZOOM_W, ZOOM_B = (-0.25, 2.75), (-0.5, 1.5)
#: the descent scene zooms in where its steps get small (steps 1 to 12)
STEPS_W, STEPS_B = (0.8, 3.0), (0.3, 1.3)
#: the variants scene's last steps, closer: where the three paths end
ENDS_W, ENDS_B, ENDS = (1.6, 1.9), (0.45, 0.75), 8
PATH_COLORS = Palette(
    {
        "batch": "highlight",
        "mini-batch": "derivative",
        "stochastic": "negative",
        "too small": "input",
        "good": "highlight",
        "diverges": "negative",
    }
)


def example() -> dict:
    """The data, the loss on a grid, and every run the scenes draw."""
    x, y = CLASSIC_X, CLASSIC_Y
    ws, bs = np.linspace(*W_RANGE, GRID), np.linspace(*B_RANGE, GRID * 5 // 6)
    zw, zb = np.linspace(*ZOOM_W, GRID), np.linspace(*ZOOM_B, GRID * 2 // 3)
    walk = descend(x, y, START, LEARNING_RATE, WALK_STEPS)
    try:
        formula("linreg_mse").numpy(x=x.reshape(3, 1), y=y, w=2.0, b=0.0)
        message = ""
    except ShapeError as exc:
        message = str(exc)
    errors = tutorial_error_matrix(x.reshape(3, 1), y, 2.0, 0.0)
    # where the loss is least: least squares on [x, 1] (+ 0.0: no "-0" on screen)
    best = np.linalg.lstsq(np.column_stack([x, np.ones_like(x)]), y, rcond=None)[0]
    return {
        "x": x,
        "y": y,
        "minimum": np.round(best, 12) + 0.0,
        "grid": {
            "w": ws,
            "b": bs,
            "L": surface(lambda t: linreg_loss(x, y, t), ws, bs),
        },
        "zoom": {
            "w": zw,
            "b": zb,
            "L": surface(lambda t: linreg_loss(x, y, t), zw, zb),
        },
        "steps": {
            "w": (sw := np.linspace(*STEPS_W, GRID)),
            "b": (sb := np.linspace(*STEPS_B, GRID // 2)),
            "L": surface(lambda t: linreg_loss(x, y, t), sw, sb),
        },
        "ends": {
            "w": (ew := np.linspace(*ENDS_W, GRID)),
            "b": (eb := np.linspace(*ENDS_B, GRID)),
            "L": surface(lambda t: linreg_loss(x, y, t), ew, eb),
        },
        "walk": {"theta": walk.theta, "loss": walk.loss, "G": np.stack(walk.grads)},
        "rates": {
            name: {"theta": run.theta, "loss": run.loss}
            for name, run in (
                (name, descend(x, y, START, lr, RATE_STEPS))
                for name, lr in RATES.items()
            )
        },
        "limit": stability_limit(x, y),
        "variants": {
            v: descend(
                x, y, START, VARIANT_RATE, VARIANT_STEPS, v, BATCH_SIZE, SEED
            ).theta
            for v in RULES
        },
        "trap": {
            "errors": errors,
            "trap_loss": float(np.mean(errors**2)),
            "loss": linreg_loss(x, y, np.array([2.0, 0.0])),
            "message": message,
        },
    }


def tutorial_loop() -> dict:
    """The tutorial's own loop on X shaped (3, 1), next to the registered batch
    rule on x shaped (3,): same η, same number of steps, from w = b = 0; and
    verify's verdict on the gradient that loop computes."""
    from nnmath.checker.checks import check_finite_differences, check_symbolic

    x, y = CLASSIC_X, CLASSIC_Y
    column = x.reshape(-1, 1)
    w, b = tutorials.linear_regression(column, y, LEARNING_RATE, TUTORIAL_EPOCHS)
    run = descend(x, y, START, LEARNING_RATE, TUTORIAL_EPOCHS)
    wrong = tutorials.dw_claim()
    return {
        "column": column,
        "tutorial": np.array([w, b]),
        "right": run.theta[-1],
        "tutorial_loss": linreg_loss(x, y, np.array([w, b])),
        "loss": run.loss[-1],
        "mean_target": float(y.mean()),
        "verdict": [
            c.line for c in (check_symbolic(wrong), check_finite_differences(wrong))
        ],
        "source": tutorials.source(tutorials.gradients, tutorials.linear_regression),
    }


def _with_lhs(latex: str, lhs: str) -> str:
    """A substituted equation with its left-hand side written as the book writes it."""
    return f"{lhs} = {latex.split(' = ', 1)[1]}"


def step_equations(ex: dict, k: int) -> list[str]:
    """Step k + 1 of the walk with its numbers in: the update of w and of b by
    ``gd_batch``, from the per-sample gradients G the claims give at step k."""
    theta, G = ex["walk"]["theta"][k], ex["walk"]["G"][k]
    rule = formula("gd_batch", learning_rate=LEARNING_RATE)
    return [
        _with_lhs(
            substituted_latex(rule, {"theta": theta, "G": G}, at={"p": p}),
            f"{name}_{{{k + 1}}}",
        )
        for p, name in enumerate(("w", "b"))
    ]


#: the left edge of the text column beside a map
COLUMN = np.array([0.0, 0.0, 0.0])


def _map(
    ex: dict, width: float, height: float, grid: str = "grid", **kw
) -> LossSurface:
    g = ex[grid]
    return LossSurface(g["w"], g["b"], g["L"], width=width, height=height, **kw)


class TrapScene(Scene):
    """``w*X + b - y`` with X of shape (3, 1) and y of shape (3,): NumPy quietly
    builds a 3×3 matrix; nnbook's shape check refuses."""

    def construct(self):
        ex = example()
        trap = ex["trap"]
        head = title("The broadcasting trap", "X shaped (3, 1) against y shaped (3,)")
        self.play(FadeIn(head), run_time=0.6)
        X = VGroup(
            label("X  (3, 1)", font_size=24, color=COLORS["muted"]),
            matrix(ex["x"], font_size=30),
        ).arrange(DOWN, buff=0.2)
        Y = VGroup(
            label("y  (3,)", font_size=24, color=COLORS["muted"]),
            matrix(ex["y"][None, :], font_size=30),
        ).arrange(DOWN, buff=0.2)
        E = VGroup(
            label("2·X + 0 − y  (3, 3)", font_size=24, color=COLORS["muted"]),
            matrix(trap["errors"], font_size=30),
        ).arrange(DOWN, buff=0.2)
        row = VGroup(X, Y, E).arrange(RIGHT, buff=1.0, aligned_edge=UP)
        row.move_to([0, 1.0, 0])
        self.play(FadeIn(X), FadeIn(Y), run_time=1)
        self.play(FadeIn(E), run_time=1.2)
        entries = E[1].get_entries()
        diag = VGroup(
            *[
                SurroundingRectangle(entries[4 * i], color=COLORS["true"], buff=0.06)
                for i in range(3)
            ]
        )
        self.play(Create(diag), run_time=1)
        note = label(
            f"w = 2, b = 0 fits every point, yet the mean of these squares is "
            f"{fmt(trap['trap_loss'])}, not {fmt(trap['loss'])}:\neach x is paired "
            "with every y, and only the diagonal is a real error",
            font_size=24,
            line_spacing=0.9,
        ).next_to(row, DOWN, buff=0.45)
        self.play(FadeIn(note), run_time=0.8)
        self.wait(1.5)
        teaching_pause(self)
        refusal = VGroup(
            label("nnbook checks shapes first:", font_size=24, color=COLORS["muted"]),
            label(
                "ShapeError: " + trap["message"].replace("; ", ";\n"),
                font_size=22,
                color=COLORS["wrong"],
                line_spacing=0.9,
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        fit(refusal, width=13).to_edge(DOWN, buff=0.4)
        self.play(FadeIn(refusal), run_time=0.8)
        self.wait(4)


class TutorialLoopScene(Scene):
    """The tutorial's training loop, broadcast included, run to the end: where it
    lands next to where the registered rule lands, and verify's verdict on the
    gradient it computes."""

    def construct(self):
        tl = tutorial_loop()
        xs, ys = (", ".join(fmt(v, 0) for v in a) for a in (CLASSIC_X, CLASSIC_Y))
        head = title(
            "The tutorial's loop, broadcast and all",
            f"η = {fmt(LEARNING_RATE)}, {TUTORIAL_EPOCHS} steps from w = b = 0,"
            f" on X = [{xs}] stored as a {tl['column'].shape} column, "
            f"y = [{ys}]",
        )
        self.play(FadeIn(head), run_time=0.6)
        listing = code(tl["source"], width=6.0)
        listing.to_corner(UP + LEFT, buff=0.3).shift(DOWN * 1.15)
        self.play(FadeIn(listing), run_time=1)
        self.wait(1.5)
        teaching_pause(self)

        def result(name: str, theta, loss: float, color) -> VGroup:
            return VGroup(
                label(name, font_size=22, color=COLORS["muted"]),
                label(
                    f"w = {fmt(theta[0])},  b = {fmt(theta[1])}",
                    font_size=28,
                    color=color,
                ),
                label(
                    f"its mean squared error: {fmt(loss)}", font_size=22, color=color
                ),
            ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)

        ends = VGroup(
            label(f"after {TUTORIAL_EPOCHS} steps", font_size=24),
            result(
                "the tutorial, X shaped (3, 1)",
                tl["tutorial"],
                tl["tutorial_loss"],
                COLORS["wrong"],
            ),
            result(
                "gd_batch on x shaped (3,)", tl["right"], tl["loss"], COLORS["true"]
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.35)
        ends.next_to(listing, RIGHT, buff=0.5).align_to(listing, UP)
        self.play(FadeIn(ends[:2]), run_time=1)
        self.wait(1)
        teaching_pause(self)
        self.play(FadeIn(ends[2]), run_time=1)
        why = label(
            f"its line is flat at b = {fmt(tl['mean_target'])}, the mean "
            "target:\nthe best fit to every x paired with every y",
            font_size=22,
            color=COLORS["highlight"],
            line_spacing=0.9,
        )
        why.next_to(ends, DOWN, buff=0.35).align_to(ends, LEFT)
        self.play(FadeIn(why), run_time=0.8)
        self.wait(1.5)
        teaching_pause(self)
        report = VGroup(
            label(
                "nnbook verify, on dw as this code computes it:",
                font_size=22,
                color=COLORS["muted"],
            ),
            verdict(tl["verdict"], width=13),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        report.to_edge(DOWN, buff=0.3)
        self.play(FadeIn(report), run_time=1)
        self.wait(3)


class DescentScene(Scene):
    """Batch gradient descent walks down the loss surface; the first steps are
    written out with their numbers."""

    def construct(self):
        ex = example()
        walk = ex["walk"]
        head = title(
            "Gradient descent on y = wx + b",
            f"X = [1, 2, 3], y = [2, 4, 6], η = {fmt(LEARNING_RATE)}, from w = b = 0",
        )
        self.play(FadeIn(head), run_time=0.6)
        surf = _map(ex, 4.6, 3.9).to_edge(LEFT, buff=0.8).shift(DOWN * 0.5)
        best = ex["minimum"]
        star = Star(
            outer_radius=0.12, color=COLORS["text"], fill_opacity=1, stroke_width=0
        )
        star.move_to(surf.point(best))
        where = label(
            f"minimum ({fmt(best[0], 0)}, {fmt(best[1], 0)})", font_size=22
        ).next_to(star, DOWN, buff=0.12)
        self.play(FadeIn(surf), FadeIn(star), FadeIn(where), run_time=1)
        rules = VGroup(
            equation(claim("linreg_mse/dw").latex, font_size=26, max_width=6.7),
            equation(claim("linreg_mse/db").latex, font_size=26, max_width=6.7),
            equation(formula("gd_batch").latex, font_size=26, max_width=6.7),
        ).arrange(DOWN, buff=0.15, aligned_edge=LEFT)
        rules.to_edge(UP, buff=1.4).align_to(COLUMN, LEFT)
        self.play(FadeIn(rules), run_time=1)
        line, dots = surf.path(walk["theta"], COLORS["highlight"])
        self.play(FadeIn(dots[0]), run_time=0.3)
        worked = VGroup()
        for k in range(3):
            grads = VGroup(
                label(
                    f"step {k + 1}: G, one row per sample (∂ℓ/∂w, ∂ℓ/∂b)",
                    font_size=22,
                    color=COLORS["muted"],
                ),
                matrix(walk["G"][k], font_size=24, v_buff=0.4),
            ).arrange(DOWN, buff=0.12, aligned_edge=LEFT)
            written = step_equations(ex, k)
            eqs = VGroup(*[equation(e, font_size=26, max_width=6.7) for e in written])
            eqs.arrange(DOWN, buff=0.15, aligned_edge=LEFT)
            block = VGroup(grads, eqs).arrange(DOWN, buff=0.2, aligned_edge=LEFT)
            block.next_to(rules, DOWN, buff=0.3).align_to(rules, LEFT)
            step = surf.path(walk["theta"][k : k + 2], COLORS["highlight"])
            self.play(FadeOut(worked), FadeIn(block), run_time=0.8)
            self.play(Create(step[0]), FadeIn(step[1][1]), run_time=0.8)
            self.wait(max(map(reading_time, written)) - 0.8)
            worked = block
        self.play(
            Create(line),
            LaggedStart(*[FadeIn(d) for d in dots[3:]], lag_ratio=0.3),
            run_time=2.5,
            rate_func=linear,
        )
        self.wait(0.5)
        teaching_pause(self)
        # the last steps overlap at this scale: zoom in where they get small
        zoom = _map(ex, 5.6, 3.0, "steps", x_step=0.5, y_step=0.5)
        zoom.to_edge(RIGHT, buff=0.5).align_to(surf.frame, UP).shift(UP * 0.35)
        frame = SurroundingRectangle(
            VGroup(*[Dot(surf.point(c)) for c in zip(STEPS_W, STEPS_B)]),
            buff=0,
            color=COLORS["text"],
            stroke_width=1.5,
        )
        after = walk["theta"][1:]  # the start, (0, 0), is off this map
        _, marks = zoom.path(after, COLORS["highlight"], dot_radius=0.06)
        trail, _ = zoom.path(after, COLORS["highlight"], stroke_width=2)
        numbers = _step_numbers(zoom, walk["theta"])
        self.play(FadeOut(worked), FadeOut(rules), Create(frame), run_time=0.8)
        self.play(FadeIn(zoom), run_time=0.8)
        self.play(
            Create(trail),
            LaggedStart(*[FadeIn(m) for m in marks], lag_ratio=0.3),
            LaggedStart(*[FadeIn(n) for n in numbers], lag_ratio=0.3),
            run_time=3,
            rate_func=linear,
        )
        final = walk["theta"][-1]
        summary = label(
            f"after {WALK_STEPS} steps: w = {fmt(final[0])}, b = {fmt(final[1])},\n"
            f"L = {fmt(walk['loss'][-1])} (it started at {fmt(walk['loss'][0])});\n"
            "each step crosses the narrow valley\n"
            "and overshoots, a little less each time",
            font_size=22,
            line_spacing=0.9,
        )
        summary.next_to(zoom, DOWN, buff=0.2).align_to(zoom.frame, LEFT)
        self.play(FadeIn(summary), run_time=0.8)
        self.wait(3.5)  # two lines of text


def _step_numbers(surf: LossSurface, theta: np.ndarray) -> VGroup:
    """Each step's number by its point: above a point the step climbed to in b,
    below one it fell to, so that the numbers of a zig-zag alternate sides.  A
    number that would cover an earlier one is left out (the last steps crowd)."""
    numbers = VGroup()
    for k in range(1, len(theta)):
        side = UP if theta[k][1] >= theta[k - 1][1] else DOWN
        number = label(str(k), font_size=20, color=COLORS["text"])
        number.next_to(surf.point(theta[k]), side, buff=0.1)
        if not any(_overlap(number, n) for n in numbers):
            numbers.add(number)
    return numbers


def _overlap(a, b, gap: float = 0.05) -> bool:
    (al, ab, _), (ar, at, _) = a.get_corner(DL), a.get_corner(UR)
    (bl, bb, _), (br, bt, _) = b.get_corner(DL), b.get_corner(UR)
    return al < br + gap and bl < ar + gap and ab < bt + gap and bb < at + gap


class LearningRateScene(Scene):
    """The same descent with three learning rates: crawling, converging, exploding."""

    def construct(self):
        ex = example()
        head = title(
            "Three learning rates, same start",
            "batch descent is stable only for η < 2/λₘₐₓ = "
            f"{fmt(ex['limit'])}, "
            "λₘₐₓ the loss's largest curvature",
        )
        self.play(FadeIn(head), run_time=0.6)
        panels = []
        for name, lr in RATES.items():
            surf = _map(ex, 3.9, 3.3, numbers=False, levels=7)
            caption = label(
                f"η = {fmt(lr, 3)}: {name}", font_size=24, color=PATH_COLORS[name]
            ).next_to(surf, UP, buff=0.15)
            loss = ex["rates"][name]["loss"]
            result = label(f"L: {fmt(loss[0])} → {fmt(loss[-1])}", font_size=22)
            panels.append((surf, caption, result, name))
        for k, (surf, caption, result, _) in enumerate(panels):
            x = (k - 1) * 4.35
            surf.move_to([x, -0.35, 0])
            caption.next_to(surf, UP, buff=0.15)
            result.next_to(surf, DOWN, buff=0.2)
        self.play(
            *[FadeIn(s) for s, *_ in panels],
            *[FadeIn(c) for _, c, *_ in panels],
            run_time=1.2,
        )
        paths = [
            s.path(ex["rates"][n]["theta"], PATH_COLORS[n], dot_radius=0.035)
            for s, _, _, n in panels
        ]
        self.play(
            *[Create(p[0]) for p in paths],
            *[FadeIn(p[1]) for p in paths],
            run_time=4,
            rate_func=linear,
        )
        # the divergent steps numbered: each overshoots further than the last
        surf, *_ = panels[2]
        shown = surf.visible(ex["rates"]["diverges"]["theta"])
        numbers = _step_numbers(surf, shown)
        self.play(*[FadeIn(r) for _, _, r, _ in panels], FadeIn(numbers), run_time=0.8)
        key = label(
            f"{RATE_STEPS} steps each; the divergent path leaves the map",
            font_size=22,
            color=COLORS["muted"],
        ).to_edge(DOWN, buff=0.2)
        self.play(FadeIn(key), run_time=0.5)
        self.wait(3.5)


class VariantsScene(Scene):
    """Batch, mini-batch and stochastic descent: one rule, three choices of which
    samples' gradients are averaged."""

    def construct(self):
        ex = example()
        head = title(
            "Batch, mini-batch, stochastic",
            f"η = {fmt(VARIANT_RATE)}, {VARIANT_STEPS} steps each, from w = b = 0",
        )
        self.play(FadeIn(head), run_time=0.6)
        surf = (
            _map(ex, 6.0, 4.0, "zoom", x_step=0.5, y_step=0.5)
            .to_edge(LEFT, buff=0.8)
            .shift(DOWN * 0.4)
        )
        self.play(FadeIn(surf), run_time=1)
        names = {
            "batch": "batch: all 3 samples",
            "mini-batch": f"mini-batch of {BATCH_SIZE}",
            "stochastic": "stochastic: 1 sample",
        }
        eqs = VGroup()
        for v, rule in RULES.items():
            eqs.add(
                VGroup(
                    legend(names[v], PATH_COLORS[v], opacity=1),
                    equation(formula(rule).latex, font_size=28, max_width=6.2),
                ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
            )
        eqs.arrange(DOWN, aligned_edge=LEFT, buff=0.35).align_to(surf, UP)
        eqs.next_to(surf, RIGHT, buff=0.6, coor_mask=[1, 0, 0])
        self.play(FadeIn(eqs), run_time=1)
        paths = [
            surf.path(ex["variants"][v], PATH_COLORS[v], dot_radius=0.035)
            for v in RULES
        ]
        self.play(
            *[Create(p[0]) for p in paths],
            *[FadeIn(p[1]) for p in paths],
            run_time=5,
            rate_func=linear,
        )
        note = label(
            "noisier steps, but each costs\n1/3 or 2/3 of a full-batch gradient",
            font_size=22,
            color=COLORS["muted"],
            line_spacing=0.9,
        )
        note.next_to(eqs, DOWN, buff=0.45).align_to(eqs, LEFT)
        self.play(FadeIn(note), run_time=0.6)
        self.wait(2.5)
        teaching_pause(self)

        # the three ends overlap at this scale: their last steps, closer
        keys = VGroup(*[e[0] for e in eqs])
        placed = keys.copy().arrange(DOWN, aligned_edge=LEFT, buff=0.15)
        placed.align_to(surf, UP).align_to(keys, LEFT)
        ends = _map(ex, 2.6, 2.6, "ends", x_step=0.1, y_step=0.1, numbers=False)
        ends.next_to(placed, DOWN, buff=0.25).align_to(placed, LEFT).shift(RIGHT * 0.3)
        box = SurroundingRectangle(
            VGroup(*[Dot(surf.point(c), radius=0) for c in zip(ENDS_W, ENDS_B)]),
            buff=0,
            color=COLORS["text"],
            stroke_width=1.5,
        )
        tails = VGroup(
            *[
                ends.path(
                    ends.last_inside(ex["variants"][v][-ENDS:]),
                    PATH_COLORS[v],
                    dot_radius=0.05,
                )
                for v in RULES
            ]
        )
        caption = (
            label(
                f"the last {ENDS} steps, {_magnified(ex):.0f}× closer:\n"
                "batch walks straight, the others jitter about it",
                font_size=20,
                color=COLORS["muted"],
                line_spacing=0.9,
            )
            .next_to(ends, DOWN, buff=0.15)
            .align_to(placed, LEFT)
        )
        self.play(
            FadeOut(note),
            *[FadeOut(e[1]) for e in eqs],
            *[k.animate.move_to(p) for k, p in zip(keys, placed)],
            run_time=0.8,
        )
        self.play(Create(box), FadeIn(ends), run_time=0.8)
        self.play(Create(tails), FadeIn(caption), run_time=1.5)
        self.wait(3.5)


def _magnified(ex: dict) -> float:
    """How much closer the variants' end map is than their whole map."""
    return (ZOOM_W[1] - ZOOM_W[0]) / (ENDS_W[1] - ENDS_W[0])


CHAPTER = Chapter(
    number=4,
    slug="gradient-descent",
    title="Gradient descent",
    module=__name__,
    formulas=("linreg_mse", "gd_batch", "gd_minibatch", "gd_stochastic"),
    claims=(
        "linreg_mse/dw",
        "linreg_mse/db",
        "gd_batch/dtheta",
        "gd_minibatch/dtheta",
        "gd_stochastic/dG",
    ),
    scenes=(
        "TrapScene",
        "TutorialLoopScene",
        "DescentScene",
        "LearningRateScene",
        "VariantsScene",
    ),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
