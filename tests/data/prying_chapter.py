"""A chapter file whose equation tries to typeset a file of the machine: Manim's
LaTeX may read only in its own temporary folder, so the render must fail."""

from manim import MathTex, Scene

from chapters import Chapter


class Prying(Scene):
    def construct(self):
        self.add(MathTex(r"\input{/etc/hostname}"))
        self.wait(0.2)


CHAPTER = Chapter(
    number=98,
    slug="prying",
    title="Prying",
    module=__name__,
    formulas=(),
    claims=(),
    scenes=("Prying",),
)
