"""A chapter file outside the book whose one scene renders for several seconds and
says (by touching $NNBOOK_TEST_MARKER) when it is mid-render: for the tests that
interrupt a render."""

import os
import time
from pathlib import Path

from manim import RIGHT, Scene, Square

from chapters import Chapter


class SlowScene(Scene):
    """About 120 frames, each held back 50 ms: several seconds of real rendering."""

    def construct(self):
        marker = os.environ.get("NNBOOK_TEST_MARKER")
        square = Square()

        def slow(mob, dt):
            if marker:
                Path(marker).touch()
            time.sleep(0.05)

        square.add_updater(slow)
        self.add(square)
        self.play(square.animate.shift(2 * RIGHT), run_time=8)


CHAPTER = Chapter(
    number=91,
    slug="slow",
    title="Slow test chapter",
    module=__name__,
    formulas=(),
    claims=(),
    scenes=("SlowScene",),
)
