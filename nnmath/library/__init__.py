"""The book's formulas and the claims made about them; importing registers them."""

# one import per line, in book order
from . import activations  # noqa: F401
from . import layers  # noqa: F401
from . import losses  # noqa: F401
from . import mlp  # noqa: F401
from . import descent  # noqa: F401
from . import optimizers  # noqa: F401
from . import conv  # noqa: F401
from . import regularization  # noqa: F401
from . import attention  # noqa: F401
