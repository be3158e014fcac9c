"""A chapter file outside the book, for the PDF's render test: two short scenes
(one with an underscore in its name), the sigmoid and its derivative claim, and
prose with inline and display maths, a table and Unicode."""

from manim import Scene, Text

from chapters import Chapter
from nnmath import formula


class Value_Scene(Scene):  # noqa: N801 (an underscore LaTeX must print as one)
    """The sigmoid at one point, computed by nnmath."""

    def construct(self):
        value = float(formula("sigmoid").numpy(z=[[0.5]])[0, 0])
        self.add(Text(f"sigmoid(0.5) = {value:.4f}", font_size=36))
        self.wait(0.4)


class SlopeScene(Scene):
    """The slope of tanh at one point, shown as a number."""

    def construct(self):
        value = float(formula("tanh").numpy(z=[[0.5]])[0, 0])
        self.add(Text(f"tanh(0.5) = {value:.4f}", font_size=36))
        self.wait(0.4)


CHAPTER = Chapter(
    number=93,
    slug="printed",
    title="A chapter on paper",
    module=__name__,
    formulas=("sigmoid",),
    claims=("sigmoid'",),
    scenes=("Value_Scene", "SlopeScene"),
    prose_file="pdf_chapter.md",
)
