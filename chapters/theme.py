"""The book's colours, as roles: one :class:`Theme` per look (``dark``, the
book's own, and ``light``, for a projector or paper), and nothing else in the
chapters names a colour.

A scene asks for a role (``COLORS["muted"]``, ``COLORS["wrong"]``); which
colour that is depends on the theme in use, chosen per render with
``--theme`` and carried to the render's fresh process in :data:`ENV` (set by
:func:`use`).  Colours are hex strings, which Manim accepts, so this module
imports no Manim: the CLI can list the themes without loading it.
:func:`apply_to_manim` sets what Manim draws by default (the background, and
the colour of text, lines, axes and brackets, white in Manim) for the theme.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = [
    "COLORS",
    "DARK",
    "DEFAULT",
    "ENV",
    "LIGHT",
    "Palette",
    "THEMES",
    "Theme",
    "apply_to_manim",
    "contrast_ratio",
    "current",
    "get",
    "use",
    "using",
]

#: the environment variable that names the theme in use (inherited by the
#: render's fresh processes)
ENV = "NNBOOK_THEME"
DEFAULT = "dark"


@dataclass(frozen=True)
class Theme:
    """A look: the colour of each role, as ``#RRGGBB``."""

    name: str
    #: the background's colour in words, for a scene that names it ("black: no
    #: change" in an edge map, where a small value fades into the background)
    background_word: str
    #: the frame's background, and the text and lines Manim draws by default
    background: str
    text: str
    #: captions, axes, annotations: quieter than text, still read
    muted: str
    #: what should recede: a network's idle edges, a padding cell
    faint: str
    #: the fill of an equation card, a grid's cell and a padding cell
    panel: str
    cell: str
    pad: str
    #: the fill behind a code listing
    code: str
    # one meaning per colour, across the book
    input: str
    hidden: str
    output: str
    highlight: str
    positive: str
    negative: str
    curve: str
    derivative: str
    region: str
    leaky: str
    true: str
    wrong: str
    # several paths drawn together (optimizers, regularizers), told apart
    path_plain: str
    path_amber: str
    path_pink: str
    path_sky: str
    path_violet: str
    #: a loss surface's heat map, from low loss to high
    heat: tuple[str, ...]
    #: the Pygments style of code listings
    code_style: str
    #: reveal.js's theme for the decks of ``nnbook slides``
    reveal: str

    def roles(self) -> dict[str, str]:
        """Every role that is one colour, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in _NOT_COLOURS
        }


_NOT_COLOURS = {"name", "background_word", "heat", "code_style", "reveal"}

#: the book's look since its first chapter: Manim's own palette on black
DARK = Theme(
    name="dark",
    background_word="black",
    background="#000000",
    text="#FFFFFF",
    muted="#BBBBBB",  # Manim's GREY_B
    faint="#444444",  # Manim's GREY_D
    panel="#1B1B24",
    cell="#1B1B24",
    pad="#101014",
    code="#1C1C22",
    input="#58C4DD",  # Manim's BLUE
    hidden="#5CD0B3",  # TEAL
    output="#FF862F",  # ORANGE
    highlight="#F7D96F",  # YELLOW
    positive="#58C4DD",
    negative="#FC6255",  # RED
    curve="#F7D96F",
    derivative="#83C167",  # GREEN
    region="#FC6255",
    leaky="#58C4DD",
    true="#83C167",
    wrong="#FC6255",
    path_plain="#F2F2F2",
    path_amber="#F4A261",
    path_pink="#FF6FB5",  # the orange-red it had read as momentum's orange
    path_sky="#8ECAE6",
    path_violet="#C77DFF",
    heat=("#0B1026", "#1F3B73", "#2F7F8F", "#9BBF63", "#F2D16B"),
    code_style="monokai",
    reveal="black",
)

#: white, with dark saturated colours: a washed-out projector (or paper) loses
#: contrast, so each colour keeps a WCAG contrast ratio of 4.5 or more against
#: the background and the cards (tests/test_theme.py measures them); the same
#: hue family per role as the dark theme, so a lecture reads the same
LIGHT = Theme(
    name="light",
    background_word="white",
    background="#FFFFFF",
    text="#111111",
    muted="#555555",
    faint="#8C8C8C",
    panel="#F3F3F6",
    cell="#F3F3F6",
    pad="#E6E6EA",
    code="#F2F2F5",
    input="#1565C0",
    hidden="#00695C",
    output="#A34400",
    highlight="#7B1FA2",  # yellow cannot be dark: purple is the accent on white
    positive="#1565C0",
    negative="#C62828",
    curve="#7B1FA2",
    derivative="#1B6E20",
    region="#C62828",
    leaky="#1565C0",
    true="#1B6E20",
    wrong="#C62828",
    path_plain="#333333",
    path_amber="#8F5A00",
    path_pink="#C2185B",
    path_sky="#0263A8",
    path_violet="#6A1B9A",
    heat=("#FFFFFF", "#F1F1EE", "#E3E2DC", "#D4D3CB", "#C6C4BA"),
    code_style="default",
    reveal="white",
)

THEMES: dict[str, Theme] = {t.name: t for t in (DARK, LIGHT)}


def get(name: str) -> Theme:
    """The theme called ``name``; a ValueError naming the valid ones otherwise."""
    try:
        return THEMES[name]
    except KeyError:
        raise ValueError(
            f"invalid theme {name!r}; valid: {', '.join(THEMES)}"
        ) from None


def current() -> Theme:
    """The theme in use: :data:`ENV`'s, or the dark one."""
    return get(os.environ.get(ENV) or DEFAULT)


def use(name: str) -> Theme:
    """Use the theme ``name`` from now on, in this process and the processes it
    starts; return it."""
    theme = get(name)
    os.environ[ENV] = theme.name
    return theme


@contextmanager
def using(name: str) -> Iterator[Theme]:
    """:func:`use` for the length of a ``with`` block: afterwards the caller's
    theme again, and Manim's defaults for it if Manim is imported (a render
    run in the caller's own process must not leave its theme behind)."""
    before = os.environ.get(ENV)
    try:
        yield use(name)
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
        if "manim" in sys.modules:
            apply_to_manim(current())


class _Roles(Mapping):
    """``COLORS[role]``: the role's colour in the theme in use, looked up when
    asked (a scene built after :func:`use` gets the new theme's colours)."""

    def __getitem__(self, role: str) -> str:
        roles = current().roles()
        if role not in roles:
            raise KeyError(f"no colour role {role!r}; valid: {', '.join(roles)}")
        return roles[role]

    def __iter__(self) -> Iterator[str]:
        return iter(current().roles())

    def __len__(self) -> int:
        return len(current().roles())

    def __repr__(self) -> str:
        return f"COLORS({current().name}: {current().roles()})"


COLORS: Mapping[str, str] = _Roles()


class Palette(Mapping):
    """A chapter's own names for roles (``{"momentum": "path_amber"}``), looked
    up like :data:`COLORS`: each name gives its role's colour in the theme in
    use."""

    def __init__(self, roles: Mapping[str, str]):
        missing = [r for r in roles.values() if r not in DARK.roles()]
        if missing:
            raise KeyError(
                f"no colour role {missing[0]!r}; valid: {', '.join(DARK.roles())}"
            )
        self.roles = dict(roles)

    def __getitem__(self, name: str) -> str:
        return COLORS[self.roles[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.roles)

    def __len__(self) -> int:
        return len(self.roles)


def _luminance(colour: str) -> float:
    """WCAG 2's relative luminance of ``#RRGGBB``."""
    h = colour.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours, from 1 (the same) to 21."""
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


#: Manim's classes whose default colour is white (or, for SurroundingRectangle,
#: yellow) whatever the background; VMobject's default reaches text, lines,
#: axes, arrows, matrices and braces
_DEFAULTS = {
    "VMobject": "text",
    "Dot": "text",
    "Rectangle": "text",
    "SurroundingRectangle": "highlight",
}


def apply_to_manim(theme: Theme) -> None:
    """Make Manim draw ``theme`` by default: its background, and its text colour
    for what a scene leaves uncoloured.  For the dark theme, Manim's own
    defaults (which are the dark theme's), so its frames stay as they were."""
    import manim  # late: the CLI imports this module without Manim

    manim.config.background_color = theme.background
    for name, role in _DEFAULTS.items():
        cls = getattr(manim, name)
        if theme is DARK:
            cls.set_default()  # Manim's originals
        else:
            cls.set_default(color=getattr(theme, role))
