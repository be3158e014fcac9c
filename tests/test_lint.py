"""``nnbook lint``: the layout rules catch what a lecturer would see, on a chapter
file written to break each of them, and pass a tidy one.

Dry runs only (no video): a few seconds each, spent typesetting.
"""

from __future__ import annotations

import textwrap

import pytest

from chapters.blocks.style import (
    MIN_DIGIT_PIXELS,
    TEX_PIXELS_PER_POINT,
    TEXT_PIXELS_PER_POINT,
    latex_text,
    reading_time,
    terms,
)

BAD = """
from manim import DOWN, LEFT, RIGHT, UP, FadeIn, FadeOut, MathTex, Scene, Text, Write
from chapters import Chapter
from nnmath import formula

class BadScene(Scene):
    def construct(self):
        formula("sigmoid")
        tiny = Text("read me if you can", font_size=12).to_edge(UP)
        rate = Text("learning rate η = 0.1", font_size=30).to_edge(DOWN)
        self.play(FadeIn(tiny), FadeIn(rate))
        self.remove(rate)
        first = Text("first label", font_size=30)
        second = Text("second label", font_size=30).shift(0.1 * DOWN + 0.3 * RIGHT)
        self.play(FadeIn(first), FadeIn(second))
        self.play(FadeOut(first), FadeOut(second))
        past = Text("past the edge", font_size=30).move_to(6.5 * RIGHT + 2 * DOWN)
        self.play(FadeIn(past))
        flash = MathTex(r"L = a + b - c", font_size=40).to_edge(LEFT)
        self.play(Write(flash), run_time=1)
        self.wait(0.5)
        self.play(FadeOut(flash))

CHAPTER = Chapter(number=95, slug="bad", title="Bad layout", module=__name__,
                  formulas=(), claims=(), scenes=("BadScene",))
"""

GOOD = """
from manim import DOWN, UP, FadeIn, FadeOut, MathTex, Scene, Text, Write
from chapters import Chapter

class GoodScene(Scene):
    def construct(self):
        title = Text("A tidy scene", font_size=36).to_edge(UP)
        self.play(FadeIn(title))
        eq = MathTex(r"L = a + b - c", font_size=44)
        self.play(Write(eq), run_time=1)
        self.wait(3.5)
        note = Text("held long enough to read", font_size=26).next_to(eq, DOWN)
        self.play(FadeIn(note))
        self.wait(1)
        self.play(FadeOut(eq), FadeOut(note))

CHAPTER = Chapter(number=96, slug="good", title="Good layout", module=__name__,
                  formulas=(), claims=(), scenes=("GoodScene",))
"""


@pytest.mark.parametrize(
    "tex, n",
    [
        ("L = a + b - c", 4),
        (r"-\frac{1}{N} \sum_n y_n", 1),  # a leading minus is a sign
        ("y = -x", 2),  # so is one after an operator
        (r"z = \sigma\left(w_{1} + b\right)", 2),  # a bracketed sum is one term
        ("{a + b} = c", 2),
    ],
)
def test_an_equations_terms_are_what_outer_plus_minus_and_equals_separate(tex, n):
    assert terms(tex) == n
    assert reading_time(tex) == 1.5 + 0.5 * n


def test_lint_names_each_broken_rule_with_scene_time_and_mobject(tmp_path, nnbook):
    (tmp_path / "bad.py").write_text(textwrap.dedent(BAD))
    done = nnbook("lint", "bad.py", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 5, lines
    small, maths, overlap, offframe, brief = lines
    assert small == (
        "BadScene at 1.0 s: small: Text 'read me if you can' at font size 12.0: "
        "digits 7.0 px tall at 480p, the least is 8.7"
    )
    assert maths == (
        "BadScene at 1.0 s: plain-maths: Text 'learning rate η = 0.1' sets η as text"
    )
    assert overlap == (
        "BadScene at 2.0 s: overlap: Text 'first label' overlaps Text 'second label'"
    )
    assert offframe.startswith(
        "BadScene at 4.0 s: offframe: Text 'past the edge' is cut off at the right by "
    )
    # shown at 5 s, gone when the fade-out starts at 5.5 s: 4 terms need 3.5 s
    assert brief == (
        "BadScene at 5.0 s: brief: MathTex 'L = a + b - c' is on screen 0.5 s "
        "after it is shown; 4 terms need 3.5 s"
    )
    assert "5 layout violation(s) in 1 scene(s)" in done.stderr


def test_lint_passes_a_tidy_scene_and_keeps_its_equations_typeset(tmp_path, nnbook):
    (tmp_path / "good.py").write_text(textwrap.dedent(GOOD))
    done = nnbook("lint", "good.py", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""
    assert "no layout violations in 1 scene(s)" in done.stderr
    assert list((tmp_path / "media" / ".cache" / "tex").rglob("*.svg"))


def test_lint_rejects_an_unknown_chapter_in_one_line(tmp_path, nnbook):
    done = nnbook("lint", "chapter99", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


def test_the_least_digit_height_is_the_one_the_help_states(nnbook):
    done = nnbook("lint", "--help")
    helped = " ".join(done.stdout.split())
    assert f"digits at least {MIN_DIGIT_PIXELS} px tall" in helped


@pytest.mark.parametrize("size", [14, 20, 36])
def test_the_points_to_pixels_are_what_manim_draws(size):
    from manim import MathTex, Text

    from chapters.blocks.text import FONT

    per_unit = 480 / 8  # pixels per scene unit at 480p
    tex = MathTex("0123456789", font_size=size).height * per_unit
    text = Text("0123456789", font=FONT, font_size=size).height * per_unit
    assert tex == pytest.approx(TEX_PIXELS_PER_POINT * size, rel=0.02)
    assert text == pytest.approx(TEXT_PIXELS_PER_POINT * size, rel=0.02)


@pytest.mark.parametrize(
    "text, latex",
    [
        ("η = 0.15", r"$\eta $ = 0.15"),
        ("δ₂ₖ = a − y", r"$\delta _{2k}$ = a $-$ y"),  # one group per run
        ("tanh′(z₁)", r"tanh${}^{\prime}$(z$_{1}$)"),
        ("∂ℓ/∂w", r"$\partial \ell $/$\partial $w"),
        ("50% & x_1 {#}", r"50\% \& x\_1 \{\#\}"),  # LaTeX's specials, escaped
        ("plain words", "plain words"),
        # regression: η < 2/λ printed as "η ¡ 2/λ" (text-mode < is ¡ in OT1)
        ("η < 2/λ, a > b | c", r"$\eta $ $<$ 2/$\lambda $, a $>$ b $\vert $ c"),
    ],
)
def test_maths_in_a_label_becomes_latex_maths_and_the_rest_stays_text(text, latex):
    assert latex_text(text) == latex


def test_a_label_with_maths_is_typeset_with_digits_as_tall_as_a_texts():
    from manim import Tex, Text

    from chapters.blocks.text import label

    words, maths = label("rate 0.15", font_size=24), label("η 0.15", font_size=24)
    assert isinstance(words, Text) and isinstance(maths, Tex)
    per_unit = 480 / 8
    digits = [
        m.family_members_with_points()[-1].height * per_unit for m in (words, maths)
    ]
    assert digits[1] == pytest.approx(digits[0], rel=0.05)


def test_an_equation_colours_the_pieces_it_is_given_and_refuses_absent_ones():
    from manim import ManimColor

    from chapters.blocks.text import equation

    eq = equation(r"L = a {x}_{n,j}", colors={"{x}_{n,j}": "#58C4DD"})
    glyphs = [m.get_color() for m in eq.family_members_with_points()]
    # x, n, the comma and j are blue; L, = and a stay white
    assert glyphs.count(ManimColor("#58C4DD")) == 4
    assert glyphs.count(ManimColor("#FFFFFF")) == 3
    with pytest.raises(ValueError, match="not in the equation"):
        equation(r"L = a {x}_{n,j}", colors={"{y}_{n}": "#58C4DD"})


MORPH = """
from manim import DOWN, UP, FadeIn, MathTex, Scene, Transform
from chapters import Chapter

class MorphScene(Scene):
    def construct(self):
        tall = MathTex(r"L = \\frac{\\sum_{n=0}^{N-1} a_n}{N}", font_size=40)
        self.play(FadeIn(tall.to_edge(UP)))
        self.wait(4)
        # the same size, flatter: Manim's font_size (height over the height it
        # was made at) read 13.0 here
        self.play(Transform(tall, MathTex(r"L = 1 + 2", font_size=40).to_edge(UP)))
        self.wait(4)
        other = MathTex(r"M = \\frac{\\sum_{n=0}^{N-1} b_n}{N}", font_size=40)
        self.play(FadeIn(other.to_edge(DOWN)))
        self.wait(4)
        self.play(Transform(other, MathTex(r"M = 3", font_size=12).to_edge(DOWN)))
        self.wait(4)

CHAPTER = Chapter(number=94, slug="morph", title="Morph", module=__name__,
                  formulas=(), claims=(), scenes=("MorphScene",))
"""


def test_a_transformed_equation_is_measured_and_named_as_what_it_now_shows(
    tmp_path, nnbook
):
    (tmp_path / "morph.py").write_text(MORPH)
    done = nnbook("lint", "morph.py", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "MorphScene at 16.0 s: small: MathTex 'M = 3' at font size 12.0: digits "
        "5.2 px tall at 480p, the least is 8.7"
    ]
