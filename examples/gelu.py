"""A lecturer's own chapter, outside the book: the GELU activation.

nnbook verify examples/gelu.py     # proves the derivative three ways
nnbook render examples/gelu.py     # verifies, then renders the plot scene
nnbook slides examples/gelu.py     # the same scene as slides, a click per pause
"""

import numpy as np
import sympy as sp
from manim import DOWN, UP, Create, MathTex, Scene, Write

from chapters import Chapter
from chapters.blocks import COLORS, FunctionPlot, equation, teaching_pause, title
from nnmath import Claim, claim, formula
from nnmath.library.activations import elementwise
from nnmath.registry import register, register_claims

z = sp.Symbol("z", real=True)
c = sp.Symbol("c", positive=True)  # 0.044715, kept symbolic so the page prints c
u = sp.sqrt(2 / sp.pi) * (z + c * z**3)
GELU = z / 2 * (1 + sp.tanh(u))  # the tanh form used by BERT and GPT-2


@register("gelu")
def _gelu():
    return elementwise(
        "gelu",
        "Gaussian error linear unit (tanh form)",
        GELU,
        symbol=r"\operatorname{GELU}",
        tf="tf.nn.gelu(z, approximate=True)",
        constants={"c": 0.044715},
        # verify found this: TensorFlow rounds 0.044715 to float32 before casting
        # it to float64, which moves float64 results by about 1e-9
        tf_tolerance={"float64": (1e-7, 1e-8)},
        tf_note="tf.nn.gelu holds 0.044715 in float32 (0.044714998…)",
    )


@register_claims
def _claims():
    slope = (1 + sp.tanh(u)) / 2 + z / 2 * (1 - sp.tanh(u) ** 2) * sp.diff(u, z)
    return [
        Claim("gelu'", formula("gelu"), "z", slope, "GELU'(z), by the product rule")
    ]


class GeluScene(Scene):
    """GELU and its derivative, every point computed by nnmath."""

    def construct(self):
        zs = np.linspace(-4, 4, 321)[None, :]
        value = formula("gelu").numpy(z=zs)[0]
        slope = claim("gelu'").gradient.numpy(z=zs, g=np.ones_like(zs))[0]
        heading = title("The GELU activation", "a smooth ReLU")
        eq = equation(formula("gelu").latex, max_width=12).next_to(
            heading, DOWN, buff=0.3
        )
        eq.set_x(0)
        plot = FunctionPlot(
            zs[0],
            value,
            x_range=(-4, 4, 1),
            y_range=(-1, 4, 1),
            width=9,
            height=4.2,
            y_label=r"\operatorname{GELU}(z)",
        )
        plot.to_edge(DOWN, buff=0.4)
        derivative = plot.polyline(zs[0], slope, color=COLORS["output"])
        name = MathTex(r"\operatorname{GELU}'(z)", font_size=30, color=COLORS["output"])
        name.next_to(plot.point(3, slope[-40]), UP)
        self.play(Write(heading), Write(eq))
        teaching_pause(self)  # a click, in `nnbook slides`; nothing in a video
        self.play(Create(plot), run_time=2)
        teaching_pause(self)
        self.play(Create(derivative), Write(name), run_time=1.5)
        self.wait(1)


CHAPTER = Chapter(
    number=101,
    slug="gelu",
    title="The GELU activation",
    module=__name__,
    formulas=("gelu",),
    claims=("gelu'",),
    scenes=("GeluScene",),
    prose_file="gelu.md",
)
