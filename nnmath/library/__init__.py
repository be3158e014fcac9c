"""The book's formulas and the claims made about them; importing registers them."""

from . import activations, layers, losses  # noqa: F401
