"""A chapter file whose scenes end badly, each its own way, between two good ones:
for the tests that a failed scene fails alone, in one line naming it."""

import ctypes
import os
import sys

from manim import Scene, Square

from chapters import Chapter

print("a chapter file that prints while it loads")


class Good(Scene):
    def construct(self):
        print("a scene that prints while it renders")
        self.add(Square())
        self.wait(0.2)


class HardExit(Scene):
    def construct(self):
        os._exit(3)  # as a worker killed outright: no exception, no answer


class Segfault(Scene):
    def construct(self):
        ctypes.string_at(0)  # a crash in native code: SIGSEGV


class Exits(Scene):
    def construct(self):
        sys.exit(3)


class AlsoGood(Good):
    pass


CHAPTER = Chapter(
    number=93,
    slug="crashing",
    title="Scenes that crash",
    module=__name__,
    formulas=(),
    claims=(),
    scenes=("Good", "HardExit", "Segfault", "Exits", "AlsoGood"),
)
