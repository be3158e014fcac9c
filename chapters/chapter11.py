"""Chapter 11: LSTM and GRU, on scikit-learn's digits read row by row.

Every number on screen comes from the book's trained classifiers
(:func:`nnmath.runs.recurrent.trained`: a SimpleRNN, an LSTM and a GRU of 16
units, trained with the formulas forward and the claims backward), run on one
test digit: the gates of a step are the cells' own named parts
(:func:`nnmath.library.recurrent.cell_part`), the states the cells' outputs,
the gradients backpropagation through time with the cells' claims, and the
printed GRU errors the library's wrong cells on the same step.
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
    Line,
    Rectangle,
    RoundedRectangle,
    Scene,
    SurroundingRectangle,
    VGroup,
)

from nnmath.library.recurrent import (
    bptt_claims,
    cell_part,
    gru_cell,
    gru_claims,
    lstm_claims,
    unrolled_network,
)
from nnmath.registry import claim, formula
from nnmath.runs.recurrent import (
    BOOK_UNITS,
    Classifier,
    digit_rows,
    gradient_norms,
    trained,
)

from .base import Chapter
from .blocks import (
    COLORS,
    EquationPanel,
    equation,
    fit,
    fmt,
    label,
    reading_time,
    signed,
    teaching_pause,
)
from .blocks import title as title_block
from .blocks.grid import ArrayImage, note

__all__ = [
    "CHAPTER",
    "CarryGradientScene",
    "CarryScene",
    "GRUScene",
    "LSTMStepScene",
    "example",
]

#: the test digit the scenes read (a 6), the step (row) shown, and how many of
#: the 16 units a table shows
DIGIT, STEP, SHOWN = 0, 4, 8
LSTM_GATES = ("i", "f", r"\tilde{c}", "o")
GRU_GATES = ("z", "r", r"\tilde{h}")


def _states(network: str, p: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    """The states after each step and before it, (N, T, H) each: h, h_prev
    (and c, c_prev), the cell's outputs from a zero initial state."""
    out = Classifier(network).forward(p, x)["out"]  # (N, T, width·H)
    H = p["U"].shape[0]
    states = {}
    for i, name in enumerate(("h", "c")[: out.shape[2] // H]):
        after = out[:, :, i * H : (i + 1) * H]
        states[name] = after
        states[f"{name}_prev"] = np.concatenate(
            [np.zeros_like(after[:, :1]), after[:, :-1]], axis=1
        )
    return states


def _gates(cell: str, names: tuple, p: dict, x: np.ndarray, h_prev) -> dict:
    """The gates of ``cell`` at every step, (N, T, H) each: the cell's named
    parts with the step's row x_t and the previous state h_{t−1}."""
    weights = {w: p[w] for w in ("W", "U", "b")}
    return {
        g: np.stack(
            [
                cell_part(cell, g).numpy(x=x[:, t], h=h_prev[:, t], **weights)
                for t in range(x.shape[1])
            ],
            axis=1,
        )
        for g in names
    }


def lstm_steps(x: np.ndarray) -> dict:
    """The trained LSTM on digits x (N, T, F): every step's gates i, f, c̃, o
    and states c_{t−1}, c_t, h_{t−1}, h_t, (N, T, H) each."""
    p = trained("lstm").params
    states = _states("lstm", p, x)
    return {**_gates("lstm_cell", LSTM_GATES, p, x, states["h_prev"]), **states}


def gru_steps(x: np.ndarray) -> dict:
    """The trained GRU on digits x: every step's gates z, r, h̃ and states;
    and the two printed GRUs (z and 1 − z swapped; the reset gate applied
    before the recurrent product) at each step, on the same inputs, weights
    and previous state as Keras's."""
    p = trained("gru").params
    states = _states("gru", p, x)
    out = {**_gates("gru_cell", GRU_GATES, p, x, states["h_prev"]), **states}
    weights = {w: p[w] for w in ("W", "U", "b")}
    for name, cell in (
        ("swapped", gru_cell(swap=True, name="gru_cell_swapped")),
        ("reset_before", gru_cell(reset_after=False, name="gru_cell_reset_before")),
    ):
        out[name] = np.stack(
            [
                cell.numpy(x=x[:, t], h=states["h_prev"][:, t], **weights)
                for t in range(x.shape[1])
            ],
            axis=1,
        )
    return out


def _relative(wrong: dict, right: dict, name: str) -> float:
    return float(
        np.linalg.norm(wrong[name] - right[name]) / np.linalg.norm(right[name])
    )


def printed_errors(x: np.ndarray, y: np.ndarray) -> dict:
    """How far the printed backward passes are from the proved one on the
    trained networks: ‖wrong − right‖/‖right‖ of ∂L/∂U on ``x``."""
    out = {}
    for network, name, claims in (
        ("lstm", "no_carry", lstm_claims(".no_carry", carry=False)),
        ("lstm", "no_tanh_prime", lstm_claims(".no_tanh_prime", tanh_prime=False)),
        ("gru", "swapped", gru_claims(swap=True, suffix=".swapped")),
    ):
        p = trained(network).params
        right, _ = Classifier(network).backward(p, x, y)
        wrong, _ = Classifier(network, claims=claims).backward(p, x, y)
        out[name] = _relative(wrong, right, "U")
    return out


def printed_claims() -> dict:
    """The printed backward passes as BPTT claims about Keras's cells, by the
    name the prose gives them: the LSTM without the carry g^c (its ∂L/∂c₀),
    without tanh′(c) (its ∂L/∂b), and the GRU's gradient with z and 1 − z
    swapped (its ∂L/∂U)."""
    lstm, gru = unrolled_network("lstm"), unrolled_network("gru")
    made = (
        ("no_carry", lstm, lstm_claims(".no_carry", carry=False), "c0"),
        ("no_tanh_prime", lstm, lstm_claims(".no_tanh_prime", tanh_prime=False), "b"),
        ("swapped", gru, gru_claims(swap=True, suffix=".swapped"), "U"),
    )
    out = {}
    for name, net, cells, wrt in made:
        suffix = "." + name
        out[name] = next(c for c in bptt_claims(net, cells, suffix) if c.wrt == wrt)
    return out


def printed_cells() -> dict:
    """The printed GRU cells, each as the network Keras's GRU is checked
    against: z and 1 − z swapped, the reset gate before the product."""
    return {
        "swapped": unrolled_network(
            "gru", cell=gru_cell(swap=True, name="gru_cell_swapped")
        ),
        "reset_before": unrolled_network(
            "gru", cell=gru_cell(reset_after=False, name="gru_cell_reset_before")
        ),
    }


def example() -> dict:
    """The trained classifiers on one test digit; their gradients over time
    and the LSTM's forget gates on the whole test set."""
    data = digit_rows()
    x, y = data.x_test[DIGIT : DIGIT + 1], data.y_test[DIGIT : DIGIT + 1]
    runs = {n: trained(n) for n in ("rnn", "lstm", "gru")}
    norms = {
        n: gradient_norms(n, runs[n].params, data.x_test, data.y_test)
        for n in ("rnn", "lstm")
    }
    lstm = {k: v[0] for k, v in lstm_steps(x).items()}  # (T, H) each
    kept = np.prod(lstm["f"][1:], axis=0)  # c_0's share of c_{T−1}, per unit
    return {
        "digit": x[0],
        "label": int(np.argmax(y)),
        "predicted": {
            n: int(Classifier(n).predict(r.params, x)[0]) for n, r in runs.items()
        },
        "accuracy": {n: r.test_accuracy for n, r in runs.items()},
        "losses": {n: (r.losses[0], r.losses[-1]) for n, r in runs.items()},
        "epochs": len(runs["lstm"].losses) - 1,
        "units": BOOK_UNITS,
        "tests": len(data.x_test),
        "lstm": lstm,
        "kept": kept,
        "carry_unit": int(np.argmax(kept)),
        "gru": {k: v[0] for k, v in gru_steps(x).items()},
        "norms": {
            "rnn": norms["rnn"]["h"],
            "lstm_h": norms["lstm"]["h"],
            "lstm_c": norms["lstm"]["c"],
        },
        "mean_f": lstm_steps(data.x_test)["f"].mean(axis=(0, 2)),
        "errors": printed_errors(x, y),
    }


# -- what the scenes draw ----------------------------------------------------------
def worked_unit(terms, result: float, shown: int = SHOWN) -> int:
    """The first of the shown units whose arithmetic adds up on screen: each
    row of ``terms`` is a list of products (tuples of factors, one array over
    the units each), summed; with every factor and the result rounded to two
    decimals as printed, the sum of the products rounds to the result shown.
    A student can check that unit with the numbers in front of them."""
    for unit in range(shown):
        total = sum(
            np.prod([float(fmt(f[unit])) for f in product]) for product in terms
        )
        if fmt(total) == fmt(result[unit]):
            return unit
    return 0


def parts(latex: str, keep=None) -> str:
    """A formula's LaTeX one named part per line (``align*`` lines, aligned at
    each part's first ``=``), the parts picked by position; the text is the
    formula's, only the layout changes."""
    pieces = latex.split(r",\quad ")
    chosen = [pieces[i] for i in keep] if keep is not None else pieces
    return r" \\ ".join(piece.replace(" = ", " &= ", 1) for piece in chosen)


class ValueTable(VGroup):
    """Rows of numbers in aligned columns, one column per unit, each row's
    name (LaTeX) on the left: ``rows`` is [(latex, values, colour)]; row 0 is
    the header of unit numbers."""

    def __init__(self, rows, *, font_size: float = 22, gap: float = 0.2):
        super().__init__()
        self.count = len(rows[0][1])
        cells = VGroup(label(" ", font_size=18))
        cells.add(
            *[
                label(f"unit {u + 1}", font_size=20, color=COLORS["muted"])
                for u in range(self.count)
            ]
        )
        for name, values, color in rows:
            cells.add(equation(name, font_size=font_size * 1.3, color=COLORS["muted"]))
            for v in values:
                cells.add(label(signed(v), font_size=font_size, color=color))
        cells.arrange_in_grid(
            rows=len(rows) + 1,
            cols=self.count + 1,
            buff=(0.3, gap),
            col_alignments="l" + "r" * self.count,
        )
        self.cells = cells
        self.add(cells)

    def row(self, r: int) -> VGroup:
        """Row ``r`` (0 = the header), its name first."""
        width = self.count + 1
        return VGroup(*self.cells[r * width : (r + 1) * width])

    def cell(self, r: int, unit: int):
        return self.cells[r * (self.count + 1) + 1 + unit]

    def column(self, unit: int, rows) -> VGroup:
        return VGroup(*[self.cell(r, unit) for r in rows])


def _digit(image: np.ndarray, step: int | None, height: float = 2.6) -> VGroup:
    """The digit as pixels, with a frame around row ``step``."""
    picture = ArrayImage(image, height=height, signed=False, scale=False)
    group = VGroup(picture)
    if step is not None:
        side = height / image.shape[0]
        frame = Rectangle(
            width=picture.frame.width + 0.12,
            height=side + 0.08,
            stroke_color=COLORS["highlight"],
            stroke_width=4,
        )
        frame.move_to(
            [picture.frame.get_center()[0], picture.pixel(step, 0).get_center()[1], 0]
        )
        group.add(frame)
    return group


def product(*factors: float) -> str:
    """Factors as the worked lines print them: a negative one in brackets."""
    text = [
        signed(f) if f >= 0 or fmt(f) == fmt(0) else f"({signed(f)})" for f in factors
    ]
    return " × ".join(text)


CAND, HCAND = r"\tilde{c}", r"\tilde{h}"


class LSTMStepScene(Scene):
    """One step of the trained LSTM on a real digit: the gates i, f, c̃, o and
    the new cell state and output, unit by unit."""

    def construct(self):
        data = digit_rows()
        x, y = data.x_test[DIGIT : DIGIT + 1], data.y_test[DIGIT : DIGIT + 1]
        st = {k: v[0, STEP, :SHOWN] for k, v in lstm_steps(x).items()}
        head = title_block(
            "One LSTM step, on a handwritten digit",
            f"the trained LSTM reads row t = {STEP} of a {int(np.argmax(y))}, "
            f"8 pixels; units 1–{SHOWN} of {BOOK_UNITS}",
        )
        self.play(FadeIn(head), run_time=0.6)
        digit = _digit(x[0], STEP).move_to([-5.6, 0.0, 0])
        row_name = label(f"xₜ = row {STEP}", font_size=22, color=COLORS["highlight"])
        row_name.next_to(digit, DOWN, buff=0.2)
        self.play(FadeIn(digit), FadeIn(row_name), run_time=0.8)
        panel = EquationPanel(
            parts(formula("lstm_cell").latex), max_width=8.8, font_size=28
        ).move_to([1.6, -0.9, 0])
        legend = VGroup(
            label(
                "gates: i input, f forget, o output (σ: between 0 and 1);", font_size=22
            ),
            label("the candidate c̃ (tanh); Keras's order i, f, c̃, o", font_size=22),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        legend.next_to(panel, UP, buff=0.2).align_to(panel, LEFT)
        self.play(FadeIn(panel), FadeIn(legend), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)

        rows = [
            (r"c_{t-1}", st["c_prev"], COLORS["text"]),
            (r"f", st["f"], COLORS["hidden"]),
            (r"i", st["i"], COLORS["hidden"]),
            (CAND, st[CAND], COLORS["hidden"]),
            (r"c_t = f\,c_{t-1} + i\,\tilde{c}", st["c"], COLORS["output"]),
            (r"o", st["o"], COLORS["hidden"]),
            (r"h_t = o \tanh(c_t)", st["h"], COLORS["output"]),
        ]
        table = ValueTable(rows).move_to([1.4, -0.3, 0])
        self.play(
            FadeOut(panel),
            FadeOut(legend),
            FadeIn(table.row(0)),
            FadeIn(table.row(1)),
            run_time=0.8,
        )
        self.play(
            LaggedStart(*[FadeIn(table.row(r)) for r in (2, 3, 4)], lag_ratio=0.5),
            run_time=1.5,
        )
        say = note("one number per unit: f keeps, i writes, both between 0 and 1")
        self.play(FadeIn(say), run_time=0.5)
        self.wait(2)
        teaching_pause(self)

        terms = ((st["f"], st["c_prev"]), (st["i"], st[CAND]))
        u = worked_unit(terms, st["c"])
        box = SurroundingRectangle(
            table.column(u, range(1, 6)), color=COLORS["highlight"], buff=0.08
        )
        line = label(
            f"unit {u + 1}:  cₜ = {product(st['f'][u], st['c_prev'][u])} + "
            f"{product(st['i'][u], st[CAND][u])} = {signed(st['c'][u])}",
            font_size=24,
            color=COLORS["highlight"],
        ).to_edge(DOWN, buff=0.3)
        self.play(
            FadeIn(table.row(5)), FadeOut(say), FadeIn(box), FadeIn(line), run_time=1
        )
        self.wait(3.5)
        teaching_pause(self)
        last = note(
            "hₜ = o·tanh(cₜ) goes to the next step; after the last row, to the readout"
        )
        self.play(
            FadeIn(table.row(6)),
            FadeIn(table.row(7)),
            FadeOut(box),
            FadeOut(line),
            FadeIn(last),
            run_time=1,
        )
        self.wait(3)


def _tex(latex: str, font_size: float = 30, color=None):
    return equation(latex, font_size=font_size, color=color or COLORS["text"])


class CarryScene(Scene):
    """One unit's cell state over the eight rows: each step multiplies it by
    the forget gate and adds what the input gate writes."""

    def construct(self):
        data = digit_rows()
        x, y = data.x_test[DIGIT : DIGIT + 1], data.y_test[DIGIT : DIGIT + 1]
        st = {k: v[0] for k, v in lstm_steps(x).items()}  # (T, H)
        kept = np.prod(st["f"][1:], axis=0)
        k = int(np.argmax(kept))
        T = x.shape[1]
        f, write, c = st["f"][:, k], st["i"][:, k] * st[CAND][:, k], st["c"][:, k]
        head = title_block(
            "The cell state: a carry path through time",
            f"unit {k + 1} of the trained LSTM over the {T} rows of the same "
            f"{int(np.argmax(y))}: the unit whose state keeps the most",
        )
        self.play(FadeIn(head), run_time=0.6)
        xs = [-3.7 + 1.4 * t for t in range(T)]
        y_box, y_f, y_w = 1.1, -0.2, -0.85
        names = VGroup(
            _tex(r"c_t", 30).move_to([-5.9, y_box, 0]),
            _tex(r"f_t", 30).move_to([-5.9, y_f, 0]),
            _tex(r"i_t\,\tilde{c}_t", 30).move_to([-5.9, y_w, 0]),
        )
        start = label("c₋₁ = 0", font_size=22, color=COLORS["muted"]).move_to(
            [-4.9, y_box + 0.6, 0]
        )
        steps = VGroup(
            *[
                label(f"t = {t}", font_size=20, color=COLORS["muted"]).move_to(
                    [xs[t], y_box + 0.6, 0]
                )
                for t in range(T)
            ]
        )
        boxes, values, arrows = VGroup(), VGroup(), VGroup()
        for t in range(T):
            box = RoundedRectangle(
                corner_radius=0.08,
                width=1.0,
                height=0.55,
                stroke_color=COLORS["output"],
            ).move_to([xs[t], y_box, 0])
            boxes.add(box)
            values.add(
                label(signed(c[t]), font_size=22, color=COLORS["output"]).move_to(box)
            )
            if t:
                arrows.add(
                    Arrow(
                        boxes[t - 1].get_right(),
                        box.get_left(),
                        buff=0.04,
                        stroke_width=3,
                        max_tip_length_to_length_ratio=0.3,
                        color=COLORS["muted"],
                    )
                )
        gates = VGroup(
            *[
                label(signed(v), font_size=22, color=COLORS["hidden"]).move_to(
                    [xs[t], y_f, 0]
                )
                for t, v in enumerate(f)
            ]
        )
        writes = VGroup(
            *[
                label(signed(v), font_size=22, color=COLORS["hidden"]).move_to(
                    [xs[t], y_w, 0]
                )
                for t, v in enumerate(write)
            ]
        )
        self.play(
            FadeIn(names),
            FadeIn(start),
            FadeIn(steps),
            FadeIn(boxes),
            FadeIn(arrows),
            run_time=0.8,
        )
        self.play(
            LaggedStart(
                *[FadeIn(VGroup(gates[t], writes[t], values[t])) for t in range(T)],
                lag_ratio=0.4,
            ),
            run_time=3,
        )
        rule = _tex(r"c_t = f_t\,c_{t-1} + i_t\,\tilde{c}_t", 34).move_to([0, -1.9, 0])
        self.play(FadeIn(rule), run_time=0.6)
        self.wait(reading_time(rule.tex_string))
        teaching_pause(self)

        # one step worked out: the last one whose two-decimal arithmetic adds up
        t = next(
            (
                t
                for t in range(T - 1, 0, -1)
                if fmt(float(fmt(f[t])) * float(fmt(c[t - 1])) + float(fmt(write[t])))
                == fmt(c[t])
            ),
            T - 1,
        )
        ring = VGroup(
            SurroundingRectangle(boxes[t - 1], color=COLORS["highlight"], buff=0.06),
            SurroundingRectangle(
                VGroup(boxes[t], gates[t], writes[t]),
                color=COLORS["highlight"],
                buff=0.08,
            ),
        )
        worked = label(
            f"t = {t}:  {product(f[t], c[t - 1])} + {product(write[t])} = "
            f"{signed(c[t])}",
            font_size=24,
            color=COLORS["highlight"],
        ).next_to(rule, DOWN, buff=0.3)
        self.play(FadeIn(ring), FadeIn(worked), run_time=0.8)
        self.wait(3)
        teaching_pause(self)

        carry = _tex(r"\frac{\partial c_t}{\partial c_{t-1}} = f_t", 34)
        said = VGroup(
            label(
                f"what c₀ leaves in c₇:  f₁·f₂·…·f₇ = {signed(kept[k])}", font_size=24
            ),
            label("no weight matrix and no squashing on this path:", font_size=22),
            label(
                "backward, the gradient along c is multiplied by the same f",
                font_size=22,
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.12)
        VGroup(carry, said).arrange(RIGHT, buff=0.5).move_to([0, -2.2, 0])
        self.play(
            FadeOut(rule),
            FadeOut(worked),
            FadeOut(ring),
            FadeIn(carry),
            FadeIn(said),
            run_time=0.8,
        )
        self.wait(reading_time(carry.tex_string) + 2)


class CarryGradientScene(Scene):
    """‖∂L/∂c_t‖ along the cell state at every step, next to the SimpleRNN's
    ‖∂L/∂h_t‖, both trained, on the whole test set."""

    def construct(self):
        data = digit_rows()
        norms = {
            n: gradient_norms(n, trained(n).params, data.x_test, data.y_test)
            for n in ("rnn", "lstm")
        }
        mean_f = lstm_steps(data.x_test)["f"].mean(axis=(0, 2))
        T = len(mean_f)
        head = title_block(
            "The gradient along c, next to the SimpleRNN's",
            f"the norm of ∂L/∂· at each step t; L the mean loss over the "
            f"{len(data.x_test)} test digits; both networks trained",
        )
        self.play(FadeIn(head), run_time=0.6)
        rows = [
            ("SimpleRNN  ‖∂L/∂hₜ‖", norms["rnn"]["h"], COLORS["input"]),
            ("LSTM  ‖∂L/∂cₜ‖ along c", norms["lstm"]["c"], COLORS["output"]),
            ("LSTM  ‖∂L/∂hₜ‖", norms["lstm"]["h"], COLORS["hidden"]),
            ("LSTM  mean fₜ", mean_f, COLORS["derivative"]),
        ]
        cells = VGroup(label("t", font_size=22, color=COLORS["muted"]))
        cells.add(
            *[label(str(t), font_size=22, color=COLORS["muted"]) for t in range(T)]
        )
        for name, values, color in rows:
            cells.add(label(name, font_size=22, color=color))
            cells.add(*[label(signed(v, 3), font_size=22, color=color) for v in values])
        cells.arrange_in_grid(
            rows=len(rows) + 1,
            cols=T + 1,
            buff=(0.32, 0.22),
            col_alignments="l" + "r" * T,
        )
        cells.move_to([0, 1.2, 0])
        width = T + 1

        def row(r):
            return VGroup(*cells[r * width : (r + 1) * width])

        self.play(FadeIn(row(0)), FadeIn(row(1)), run_time=0.8)
        rnn_rule = EquationPanel(
            parts(claim("rnn_cell/dh").latex, keep=(0, 2)),
            max_width=8.5,
            font_size=28,
            caption="the claim rnn_cell/dh: each step back, a product with U",
        ).move_to([0, -1.6, 0])
        rnn_say = label(
            "and the slope of tanh, 1 − tanh², for the SimpleRNN",
            font_size=22,
            color=COLORS["input"],
        ).next_to(rnn_rule, DOWN, buff=0.15)
        self.play(FadeIn(rnn_rule), FadeIn(rnn_say), run_time=0.8)
        self.wait(reading_time(rnn_rule.equation.tex_string))
        teaching_pause(self)

        c_claim = claim("lstm_cell/dc").latex.split(r",\quad ")
        gamma = next(p for p in c_claim if p.startswith(r"{\gamma}"))
        lstm_rule = EquationPanel(
            parts(r",\quad ".join([c_claim[0], gamma])),
            max_width=8.5,
            font_size=28,
            caption="the claim lstm_cell/dc: along c, each step back is × f",
        ).move_to([0, -1.4, 0])
        self.play(
            FadeOut(rnn_rule),
            FadeOut(rnn_say),
            FadeIn(row(2)),
            FadeIn(row(4)),
            FadeIn(lstm_rule),
            run_time=0.8,
        )
        self.wait(reading_time(lstm_rule.equation.tex_string))
        teaching_pause(self)
        zero = VGroup(
            label("‖∂L/∂c₇‖ = 0: the loss reads h₇ only", font_size=22),
            label(
                f"over {T} steps neither gradient vanishes here; along c each "
                f"step back is × f, about {signed(mean_f.mean())} on average",
                font_size=22,
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        zero.to_edge(DOWN, buff=0.25)
        # the two gradients as bars under their columns, on one scale
        pairs = (
            (norms["rnn"]["h"], COLORS["input"]),
            (norms["lstm"]["c"], COLORS["output"]),
        )
        top = max(float(values.max()) for values, _ in pairs)
        base, tallest = -2.55, 1.75
        bars = VGroup()
        for t in range(T):
            x = cells[1 + t].get_center()[0]
            for j, (values, color) in enumerate(pairs):
                if values[t] <= 0:
                    continue
                height = tallest * float(values[t]) / top
                bars.add(
                    Rectangle(
                        width=0.26,
                        height=height,
                        fill_color=color,
                        fill_opacity=0.85,
                        stroke_width=0,
                    ).move_to([x - 0.15 + 0.3 * j, base + height / 2, 0])
                )
        axis = Line(
            [cells[1].get_center()[0] - 0.5, base, 0],
            [cells[T].get_center()[0] + 0.5, base, 0],
            stroke_width=2,
            color=COLORS["muted"],
        )
        self.play(FadeOut(lstm_rule), run_time=0.5)
        self.play(
            FadeIn(row(3)),
            FadeIn(axis),
            LaggedStart(*[FadeIn(b) for b in bars], lag_ratio=0.1),
            FadeIn(zero),
            run_time=1.5,
        )
        self.wait(3.5)


class GRUScene(Scene):
    """One step of the trained GRU, Keras's convention stated; and the two
    printed GRUs on the same step."""

    def construct(self):
        data = digit_rows()
        x, y = data.x_test[DIGIT : DIGIT + 1], data.y_test[DIGIT : DIGIT + 1]
        st = {k: v[0, STEP, :SHOWN] for k, v in gru_steps(x).items()}
        head = title_block(
            "The GRU, as Keras computes it",
            f"the trained GRU at row t = {STEP} of the same {int(np.argmax(y))}; "
            f"units 1–{SHOWN} of {BOOK_UNITS}",
        )
        self.play(FadeIn(head), run_time=0.6)
        pieces = formula("gru_cell").latex.split(r",\quad ")[1:]  # from sˣ on
        panel = EquationPanel(
            parts(r",\quad ".join(pieces)), max_width=8.4, font_size=28
        ).move_to([1.5, -1.1, 0])
        legend = VGroup(
            label(
                "Keras's gate order z, r, h̃; reset_after=True, its default:",
                font_size=22,
            ),
            label(
                "r multiplies hU + b₁ after the product (the bias is 2 rows)",
                font_size=22,
            ),
            VGroup(
                _tex(r"h' = z\,h + (1 - z)\,\tilde{h}", 28, COLORS["highlight"]),
                label(": z weights the old state", font_size=22),
            ).arrange(RIGHT, buff=0.1),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        fit(legend, width=8.4).next_to(panel, UP, buff=0.2).align_to(panel, LEFT)
        digit = _digit(x[0], STEP).move_to([-5.6, 0.0, 0])
        self.play(FadeIn(digit), FadeIn(panel), FadeIn(legend), run_time=0.8)
        self.wait(reading_time(panel.equation.tex_string))
        teaching_pause(self)

        rows = [
            (r"h_{t-1}", st["h_prev"], COLORS["text"]),
            (r"z", st["z"], COLORS["hidden"]),
            (r"r", st["r"], COLORS["hidden"]),
            (HCAND, st[HCAND], COLORS["hidden"]),
            (r"h_t = z\,h_{t-1} + (1 - z)\,\tilde{h}", st["h"], COLORS["output"]),
            (r"h_t\ \text{swapped}", st["swapped"], COLORS["wrong"]),
            (r"h_t\ \text{reset before}", st["reset_before"], COLORS["wrong"]),
        ]
        table = ValueTable(rows).move_to([0, 0.1, 0])
        self.play(
            FadeOut(panel),
            FadeOut(legend),
            FadeOut(digit),
            *[FadeIn(table.row(r)) for r in range(5)],
            run_time=1,
        )
        terms = ((st["z"], st["h_prev"]), (1 - st["z"], st[HCAND]))
        u = worked_unit(terms, st["h"])
        box = SurroundingRectangle(
            table.column(u, range(1, 6)), color=COLORS["highlight"], buff=0.08
        )
        line = label(
            f"unit {u + 1}:  hₜ = {product(st['z'][u], st['h_prev'][u])} + "
            f"{product(1 - st['z'][u], st[HCAND][u])} = {signed(st['h'][u])}",
            font_size=24,
            color=COLORS["highlight"],
        ).to_edge(DOWN, buff=0.3)
        self.play(FadeIn(table.row(5)), FadeIn(box), FadeIn(line), run_time=1)
        self.wait(3.5)
        teaching_pause(self)
        wrong = VGroup(
            label(
                "printed GRUs on the same weights: z and 1 − z swapped; "
                "r applied to h before the product",
                font_size=22,
                color=COLORS["wrong"],
            ),
            label(
                "other numbers: nnbook verify's check against Keras's GRU fails both",
                font_size=22,
            ),
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.1)
        wrong.to_edge(DOWN, buff=0.25)
        self.play(
            FadeOut(box),
            FadeOut(line),
            FadeIn(table.row(6)),
            FadeIn(table.row(7)),
            FadeIn(wrong),
            run_time=1,
        )
        self.wait(3.5)


CHAPTER = Chapter(
    number=11,
    slug="lstm",
    title="LSTM and GRU",
    module=__name__,
    formulas=(
        "lstm_cell",
        "gru_cell",
        "rnn_cell",
        "dense",
        "categorical_crossentropy_logits",
        "sgd",
        "clip_by_norm",
    ),
    claims=(
        "lstm_cell/dx",
        "lstm_cell/dh",
        "lstm_cell/dc",
        "lstm_cell/dW",
        "lstm_cell/dU",
        "lstm_cell/db",
        "gru_cell/dx",
        "gru_cell/dh",
        "gru_cell/dW",
        "gru_cell/dU",
        "gru_cell/db",
        "rnn_cell/dx",
        "rnn_cell/dh",
        "rnn_cell/dW",
        "rnn_cell/dU",
        "rnn_cell/db",
        "lstm/dx",
        "lstm/dh0",
        "lstm/dc0",
        "lstm/dW",
        "lstm/dU",
        "lstm/db",
        "gru/dx",
        "gru/dh0",
        "gru/dW",
        "gru/dU",
        "gru/db",
        "dense/dW",
        "dense/db",
        "dense/dx",
        "categorical_crossentropy_logits/dz",
    ),
    scenes=("LSTMStepScene", "CarryScene", "CarryGradientScene", "GRUScene"),
    example=example,
    prose_file=str(Path(__file__).with_suffix(".md")),
)
