"""The book's formulas and the claims made about them; importing registers them."""

# one import per line, in book order
from . import (
    activations,  # noqa: F401
    attention,  # noqa: F401
    conv,  # noqa: F401
    descent,  # noqa: F401
    layers,  # noqa: F401
    losses,  # noqa: F401
    mlp,  # noqa: F401
    optimizers,  # noqa: F401
    recurrent,  # noqa: F401
    regularization,  # noqa: F401
)
