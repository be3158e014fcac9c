"""The colour themes: legible palettes, one source of colour, the theme in the
render's cache key, and ``--theme`` on the command line."""

from __future__ import annotations

import ast
import os
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import chapters
from chapters import theme as themes
from chapters.theme import COLORS, DARK, LIGHT, THEMES, Palette, contrast_ratio

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).parent / "data"

#: roles drawn as text (labels, numbers, equations in that colour): WCAG AA's
#: 4.5 against the background, and against the cards and cells text sits on
TEXT_ROLES = (
    "text",
    "muted",
    "input",
    "hidden",
    "output",
    "highlight",
    "positive",
    "negative",
    "curve",
    "derivative",
    "region",
    "leaky",
    "true",
    "wrong",
    "path_plain",
    "path_amber",
    "path_pink",
    "path_sky",
    "path_violet",
)
#: what text is drawn on
GROUNDS = ("background", "panel", "cell")


# -- the palettes ---------------------------------------------------------------
def test_contrast_ratio_is_wcags():
    # WCAG's own end points and a published pair: #777 on white is 4.48
    assert contrast_ratio("#FFFFFF", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#123456", "#123456") == pytest.approx(1.0)
    assert contrast_ratio("#777777", "#FFFFFF") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#000000", "#FFFFFF") == contrast_ratio("#FFFFFF", "#000000")


@pytest.mark.parametrize("theme", THEMES.values(), ids=list(THEMES))
def test_every_text_colour_reads_on_what_it_is_drawn_on(theme):
    roles = theme.roles()
    low = {
        (role, ground): round(contrast_ratio(roles[role], roles[ground]), 2)
        for role in TEXT_ROLES
        for ground in GROUNDS
        if contrast_ratio(roles[role], roles[ground]) < 4.5
    }
    assert not low, f"{theme.name}: below 4.5: {low}"


@pytest.mark.parametrize("theme", THEMES.values(), ids=list(THEMES))
def test_quiet_roles_recede_but_stay_visible(theme):
    # faint (idle edges, padding) is meant to be quieter than muted text; 2 is
    # the dark theme's Manim GREY_D on black (2.16), kept so its frames stay
    bg = theme.background
    assert 2.0 <= contrast_ratio(theme.faint, bg) < contrast_ratio(theme.muted, bg)
    # a card, a cell and padding are told apart from the background, not loudly
    for fill in (theme.panel, theme.cell, theme.pad):
        assert contrast_ratio(fill, bg) < 1.5


def test_light_is_white_with_dark_colours_and_dark_is_todays_look():
    assert LIGHT.background == "#FFFFFF" and DARK.background == "#000000"
    # every light colour is darker than the dark theme's, for the same role
    for role in TEXT_ROLES:
        assert contrast_ratio(getattr(LIGHT, role), "#000000") < contrast_ratio(
            getattr(DARK, role), "#000000"
        ), role
    # the dark theme is the book's look before themes: Manim's constants
    assert (DARK.input, DARK.highlight, DARK.wrong, DARK.muted) == (
        "#58C4DD",
        "#F7D96F",
        "#FC6255",
        "#BBBBBB",
    )


def test_roles_that_share_a_colour_share_it_in_every_theme():
    """One meaning per colour: two roles drawn alike in one theme (positive and
    input) are alike in the other, and two told apart are told apart."""
    names = list(DARK.roles())
    for theme in THEMES.values():
        for a in names:
            for b in names:
                same_dark = DARK.roles()[a] == DARK.roles()[b]
                assert (theme.roles()[a] == theme.roles()[b]) == same_dark, (
                    theme.name,
                    a,
                    b,
                )


def test_heat_maps_run_from_low_to_high_loss_away_from_the_background():
    for theme in THEMES.values():
        ratios = [contrast_ratio(c, theme.background) for c in theme.heat]
        assert ratios == sorted(ratios), theme.name  # low loss nearest the frame


# -- choosing a theme -------------------------------------------------------------
def test_colors_follow_the_theme_in_use(monkeypatch):
    monkeypatch.delenv(themes.ENV, raising=False)
    assert themes.current() is DARK and COLORS["text"] == "#FFFFFF"
    monkeypatch.setenv(themes.ENV, "light")  # what use() sets for the workers
    assert COLORS["text"] == LIGHT.text and COLORS["wrong"] == LIGHT.wrong
    tints = Palette({"sgd": "path_plain"})
    assert tints["sgd"] == LIGHT.path_plain
    monkeypatch.setenv(themes.ENV, "dark")
    assert tints["sgd"] == DARK.path_plain


def test_use_sets_the_theme_for_child_processes(monkeypatch):
    # recorded, so that the light theme does not outlive the test (an unset
    # variable deleted is not recorded: use() then leaked into later tests)
    monkeypatch.setenv(themes.ENV, "dark")
    assert themes.use("light") is LIGHT
    assert os.environ[themes.ENV] == "light"


def test_an_unknown_theme_or_role_names_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="invalid theme 'blue'; valid: dark, light"):
        themes.get("blue")
    monkeypatch.setenv(themes.ENV, "blue")
    with pytest.raises(ValueError, match="valid: dark, light"):
        themes.current()
    monkeypatch.delenv(themes.ENV)
    with pytest.raises(KeyError, match="no colour role 'grey'"):
        COLORS["grey"]
    with pytest.raises(KeyError, match="no colour role 'grey'"):
        Palette({"x": "grey"})


def test_manim_draws_the_themes_defaults_and_restores_its_own():
    """Manim's text, lines, arrows, axes and dots are white unless told; in the
    light theme they are the theme's text colour, and the dark theme gives
    Manim's own defaults back."""
    import manim

    def colours():
        made = {
            "Text": manim.Text("a"),
            "Line": manim.Line(),
            "Arrow": manim.Arrow(),
            "Dot": manim.Dot(),
            "Rectangle": manim.Rectangle(),
            "Axes": manim.Axes(),
        }
        return {
            name: {
                (m.get_stroke_color() if m.stroke_width else m.get_fill_color())
                .to_hex()
                .upper()
                for m in mob.family_members_with_points()
            }
            for name, mob in made.items()
        }

    saved = manim.config.background_color
    try:
        themes.apply_to_manim(LIGHT)
        assert manim.config.background_color.to_hex().upper() == "#FFFFFF"
        assert all(c == {LIGHT.text} for c in colours().values()), colours()
        themes.apply_to_manim(DARK)
        assert all(c == {"#FFFFFF"} for c in colours().values()), colours()
    finally:
        themes.apply_to_manim(DARK)
        manim.config.background_color = saved


# -- no colour outside the theme ----------------------------------------------------
HEX = re.compile(r"#[0-9A-Fa-f]{6}\b|#[0-9A-Fa-f]{3}\b")


def raw_colours(source: str, colour_names: set[str]) -> list[str]:
    """What in ``source`` names a colour: a Manim colour constant imported or
    used as ``manim.X``, a star import of Manim, or a hex literal."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("manim"):
            for alias in node.names:
                if alias.name == "*" or alias.name in colour_names:
                    found.append(f"line {node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.Attribute) and node.attr in colour_names:
            if isinstance(node.value, ast.Name) and node.value.id == "manim":
                found.append(f"line {node.lineno}: manim.{node.attr}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for hit in HEX.findall(node.value):
                found.append(f"line {node.lineno}: {hit}")
    return found


@pytest.fixture(scope="module")
def colour_names() -> set[str]:
    import manim
    from manim.utils.color import ManimColor

    names = {n for n, v in vars(manim).items() if isinstance(v, ManimColor)}
    assert {"WHITE", "GREY_B", "BLUE", "YELLOW"} <= names
    return names


def test_the_colour_lint_catches_each_way_of_naming_a_colour(colour_names):
    assert raw_colours("from manim import BLUE, DOWN\n", colour_names)
    assert raw_colours("from manim import *\n", colour_names)
    assert raw_colours("import manim\nx = manim.GREY_B\n", colour_names)
    assert raw_colours('x = {"fill_color": "#1b1b24"}\n', colour_names)
    assert raw_colours("x = '#fff'\n", colour_names)
    clean = 'from manim import DOWN, Text\nx = COLORS["muted"]\ny = "# a note"\n'
    assert not raw_colours(clean, colour_names)


def test_no_chapter_or_block_names_a_colour(colour_names, tmp_path):
    """Colours come from chapters/theme.py only, in the book's chapters, the
    examples and the skeleton a lecturer starts from."""
    from chapters.skeleton import write_skeleton

    sources = [
        p
        for p in sorted((ROOT / "chapters").rglob("*.py"))
        + sorted((ROOT / "examples").glob("*.py"))
        if p != ROOT / "chapters" / "theme.py"
    ]
    assert len(sources) > 20
    sources += [p for p in write_skeleton(tmp_path / "week1.py") if p.suffix == ".py"]
    found = {
        str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p.name): hits
        for p in sources
        if (hits := raw_colours(p.read_text(encoding="utf-8"), colour_names))
    }
    assert not found, found


# -- the theme reaches the render ---------------------------------------------------
def test_the_theme_is_part_of_the_render_cache_key(tmp_path):
    from publishing.cache import SceneCache
    from publishing.render import scene_job

    ch1 = chapters.get("1")

    def key(theme: str) -> str:
        job = scene_job(ch1, "NeuronScene", out_dir=tmp_path, theme=theme)
        return SceneCache.request_key(job.request)

    assert key("light") != key("dark")
    assert key("light") == key("light") and key("dark") == key("dark")
    default = scene_job(ch1, "NeuronScene", out_dir=tmp_path)
    assert SceneCache.request_key(default.request) == key("dark")


def test_a_job_with_an_unknown_theme_is_refused():
    from publishing.render import scene_job

    with pytest.raises(ValueError, match="valid: dark, light"):
        scene_job(chapters.get("1"), "NeuronScene", theme="sepia")


def test_the_light_site_frames_videos_in_white_and_the_dark_one_is_unchanged():
    from publishing.site import CSS, site_css

    assert site_css("dark") == CSS
    assert "background: #000;" in CSS
    assert site_css("light").endswith(".player video { background: #FFFFFF; }\n")


def test_the_light_deck_uses_revealjss_white_theme():
    from publishing import slides

    assert LIGHT.reveal == "white" and DARK.reveal == "black"
    for theme in THEMES.values():
        assert f"dist/theme/{theme.reveal}.css" in slides._REVEALJS_FILES


@pytest.mark.parametrize("command", ["render", "slides", "build"])
def test_an_unknown_theme_is_a_one_line_usage_error(command):
    from cli.main import cli

    result = CliRunner().invoke(cli, [command, "chapter1", "--theme", "blue"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert "'blue'" in lines[0] and "'dark'" in lines[0] and "'light'" in lines[0]


@pytest.mark.render
def test_a_light_render_is_white_with_dark_text_and_cached_apart(tmp_path, nnbook):
    """The tiny chapter's scene leaves its text uncoloured: Manim's white, which
    the light theme must turn dark on a white frame.  Each theme is its own
    cache entry: the second theme renders, the same theme again is cached."""
    from PIL import Image

    (tmp_path / "tiny.py").write_text((DATA / "tiny_chapter.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("NNBOOK_CACHE", themes.ENV)}
    pixels = {}
    for theme in ("light", "dark", "light"):
        done = nnbook(
            "render", "tiny.py", "--format", "png", "--theme", theme,
            "-o", "media", "--no-verify", cwd=tmp_path, env=env,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        status = done.stderr
        frame = tmp_path / "media" / "chapter90" / "SigmoidScene.png"
        pixels.setdefault(theme, []).append(
            (status, np.asarray(Image.open(frame).convert("L"), dtype=int).ravel())
        )
    (light_status, light), (again_status, _) = pixels["light"]
    (dark_status, dark), = pixels["dark"]  # fmt: skip
    assert "SigmoidScene: rendered" in light_status
    assert "SigmoidScene: rendered" in dark_status  # not the light one's entry
    assert "SigmoidScene: cached" in again_status

    # the light frame: white around, dark glyphs; the dark one the other way
    assert (light > 245).mean() > 0.9 and (light < 60).mean() > 0.001
    assert (dark < 10).mean() > 0.9 and (dark > 200).mean() > 0.001


@pytest.mark.render
def test_a_light_deck_loads_revealjss_white_theme_on_white_slides(tmp_path, nnbook):
    (tmp_path / "tiny.py").write_text((DATA / "tiny_chapter.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("NNBOOK_CACHE", themes.ENV)}
    done = nnbook(
        "slides", "tiny.py", "--theme", "light", "-o", "out", "--media", "media",
        "--no-verify", cwd=tmp_path, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    deck = tmp_path / done.stdout.strip()
    html = deck.read_text()
    sheets = re.findall(r'href="([^"]*/dist/theme/[a-z-]+\.css)"', html)
    assert [Path(s).name for s in sheets] == ["white.css"]
    assert (deck.parent / sheets[0]).is_file()  # copied beside it: works offline
    # manim-slides takes each slide's colour from the scene's background
    assert set(re.findall(r'data-background-color="([^"]*)"', html)) == {"white"}


def test_a_render_in_the_callers_process_gives_its_theme_back(monkeypatch, tmp_path):
    """A light render run in the caller's own process (one worker, a library
    caller) leaves the caller's theme as it was: the light theme had stayed
    in use for everything after it (a later test's equation came out #111111
    where it expected white)."""
    from publishing import render

    seen = []

    def render_in_theme(job, media, theme, settings):
        seen.append((themes.current().name, settings["background_color"]))
        raise render.RenderError("stop here")

    monkeypatch.setattr(render, "_render_in_theme", render_in_theme)
    monkeypatch.setenv(themes.ENV, "dark")
    job = render.SceneJob(
        "chapters.chapter1", "NeuronScene", "l", "mp4", "x", theme="light"
    )
    with pytest.raises(render.RenderError):
        render._manim_render(job, str(tmp_path))
    assert seen == [("light", LIGHT.background)]
    assert os.environ[themes.ENV] == "dark" and COLORS["text"] == DARK.text


def test_using_a_theme_gives_the_callers_back(monkeypatch):
    monkeypatch.setenv(themes.ENV, "dark")
    monkeypatch.delenv(themes.ENV)  # recorded: unset before, unset after
    with themes.using("light") as theme:
        assert theme is LIGHT and themes.current() is LIGHT
    assert themes.ENV not in os.environ and themes.current() is DARK
    with pytest.raises(ValueError, match="valid: dark, light"):
        with themes.using("blue"):
            pass
    assert themes.ENV not in os.environ
