"""The teaching pauses: where a lecture waits for a click.

A scene calls :func:`teaching_pause` where the story pauses (an equation has
appeared, a layer of the forward pass is done, one factor of the chain rule is
shown).  Rendered as a plain video the call does nothing and adds no frame, so
``render`` and ``build`` produce the same video as before.  ``nnbook slides``
renders the same scene class mixed with manim-slides' ``Slide`` base (see
:mod:`publishing.slides`), whose ``next_slide`` ends one slide there.
"""

from __future__ import annotations


def teaching_pause(scene) -> None:
    """End the current slide here when ``scene`` renders as slides; otherwise
    nothing (a plain Manim ``Scene`` has no ``next_slide``)."""
    next_slide = getattr(scene, "next_slide", None)
    if next_slide is not None:
        next_slide()
