"""A chapter file whose scene looks up a claim the CHAPTER does not declare, and
the claim is wrong (the tutorials' σ'(a) for σ'(z)): the render gate must
refuse it, though the declared lists verify."""

import numpy as np
import sympy as sp
from manim import Scene, Text

from chapters import Chapter
from nnmath import Claim, claim, formula
from nnmath.registry import register_claims

WRONG = "sigmoid'.at_activation"


@register_claims
def _claims():
    z = formula("sigmoid").var
    s = 1 / (1 + sp.exp(-z))
    a = s.subs(z, s)  # the slope taken at the activation a = σ(z)
    return [Claim(WRONG, formula("sigmoid"), "z", a * (1 - a), "σ'(a), a = σ(z)")]


class SlopeScene(Scene):
    def construct(self):
        z = np.array([[0.5]])
        slope = claim(WRONG).gradient.numpy(z=z, g=np.ones_like(z))
        self.add(Text(f"slope at 0.5: {float(slope[0, 0]):.4f}", font_size=36))
        self.wait(0.4)


CHAPTER = Chapter(
    number=92,
    slug="unverified",
    title="A scene's unverified claim",
    module=__name__,
    formulas=("sigmoid",),
    claims=("sigmoid'",),
    scenes=("SlopeScene",),
)
