"""A chapter file of three slow scenes (each several seconds of real rendering),
each touching ``$NNBOOK_TEST_MARKER.<scene>`` while it renders: for the tests that
interrupt a render of several scenes, with one worker or two."""

import os
import time
from pathlib import Path

from manim import RIGHT, Scene, Square

from chapters import Chapter


def _slow_scene(name: str):
    class SlowScene(Scene):
        """About 120 frames, each held back 50 ms."""

        def construct(self):
            marker = os.environ.get("NNBOOK_TEST_MARKER")
            square = Square()

            def slow(mob, dt):
                if marker:
                    Path(f"{marker}.{name}").touch()
                time.sleep(0.05)

            square.add_updater(slow)
            self.add(square)
            self.play(square.animate.shift(2 * RIGHT), run_time=8)

    SlowScene.__name__ = SlowScene.__qualname__ = name
    return SlowScene


SlowOne, SlowTwo, SlowThree = (
    _slow_scene(n) for n in ("SlowOne", "SlowTwo", "SlowThree")
)

CHAPTER = Chapter(
    number=92,
    slug="slow-scenes",
    title="Three slow scenes",
    module=__name__,
    formulas=(),
    claims=(),
    scenes=("SlowOne", "SlowTwo", "SlowThree"),
)
