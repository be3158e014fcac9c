"""A chapter file outside the book, for the render tests: two short scenes, each
reading one formula."""

from manim import Scene, Text

from chapters import Chapter
from nnmath import formula


def _value_scene(name: str):
    class ValueScene(Scene):
        def construct(self):
            value = float(formula(name).numpy(z=[[0.5]])[0, 0])
            self.add(Text(f"{name}(0.5) = {value:.4f}", font_size=36))
            self.wait(0.4)

    ValueScene.__name__ = ValueScene.__qualname__ = f"{name.title()}Scene"
    return ValueScene


SigmoidScene = _value_scene("sigmoid")
TanhScene = _value_scene("tanh")


CHAPTER = Chapter(
    number=90,
    slug="tiny",
    title="Tiny test chapter",
    module=__name__,
    formulas=(),
    claims=(),
    scenes=("SigmoidScene", "TanhScene"),
)
