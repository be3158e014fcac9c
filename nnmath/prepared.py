"""A formula prepared for one shape per input: a call that costs what its NumPy
costs (issue 19, ``bench/overhead.py``).

:meth:`Formula.numpy <nnmath.formula.Formula.numpy>` checks a signature's shapes
once, but every call still builds its signature (the names and shapes as passed)
and looks it up: about 2 µs, as much as a small batch's arithmetic.  A loop that
calls a formula at the same shapes again and again (a training epoch, a
recurrent cell's T steps) prepares it once for those shapes instead.  Preparing
makes every check :meth:`Formula.numpy` would make of those shapes, raising as it
does; it then compiles a guard for them, such as::

    def dense_prepared(x, W, b):
        if (
            type(x) is _ndarray and x.shape == (32, 64)
            and type(W) is _ndarray and W.shape == (10, 64)
            and type(b) is _ndarray and b.shape == (10,)
        ):
            try:
                return _lowered(x, W, b)
            except _OutOfBounds as exc:
                raise _OutOfBounds(f"dense {exc}") from None
        return _numpy(x=x, W=W, b=b)

that is, a few integer comparisons in front of the lowered function.  A call the
guard does not pass (another shape, a list, an ``np.matrix``) goes to
:meth:`Formula.numpy`, which checks and computes it as always: a prepared call
raises exactly what the unprepared call raises, and returns what it returns.
The values are checked on every call (``check_inputs``, a dropout mask), as
:meth:`Formula.numpy` checks them.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from typing import TYPE_CHECKING, Callable

import numpy as np

from .formula import OutOfBounds

if TYPE_CHECKING:
    from .formula import Formula

__all__ = ["prepare", "prepare_together"]

#: the names the guard's code reads besides the inputs (no input may take one)
GLOBALS = (
    "_ndarray",
    "_lowered",
    "_numpy",
    "_check",
    "_OutOfBounds",
    "_formulas",
    "_checks",
    "_unchecked",
    "_agree",
    "values",
)
#: how far a value computed together may be from its formula's own, in units
#: of the last place of that value's largest entry: a sum over an axis the two
#: lay out differently adds the same terms in another order (∂L/∂b of the
#: LSTM: ≤ 20 measured at N = 1000, see lower_together)
TOGETHER_ULPS = 64


def shape_of(formula: Formula, name: str, shape: object) -> tuple[int, ...]:
    """``shape`` as a tuple of Python integers; ValueError if it is not a shape."""
    try:
        sizes = tuple(operator.index(s) for s in shape)  # type: ignore[union-attr]
    except TypeError:
        sizes = None
    if sizes is None or any(s < 0 for s in sizes):
        raise ValueError(
            f"{formula.name}.prepare: {name}={shape!r} is not a shape; give each "
            "input's shape as a tuple of sizes (an array's .shape)"
        )
    return sizes


def prepare(formula: Formula, shapes: dict[str, object]) -> Callable[..., np.ndarray]:
    """:meth:`Formula.prepare`: check ``shapes`` as a call would, then compile the
    guard for them (the module's docstring shows one)."""
    shapes = {k: shape_of(formula, k, v) for k, v in shapes.items()}
    sizes = formula.bind_shapes(shapes)  # every shape check, raising as numpy()
    names = formula.input_names
    taken = sorted(set(names) & set(GLOBALS))
    if taken:  # no formula names an input so; if one did, say so, never misread
        raise ValueError(
            f"{formula.name}.prepare: an input may not be named {', '.join(taken)}"
        )
    lowered = formula.lowered
    args = ", ".join(names)
    call = ", ".join(
        [*names, *(f"{d}={sizes[d]!r}" for d in lowered.dim_args)]
    )  # the size keywords, as numpy() passes them
    guard = "\n        and ".join(
        f"type({n}) is _ndarray and {n}.shape == {shapes[n]!r}" for n in names
    )
    check = (
        "        _check({" + ", ".join(f"{n!r}: {n}" for n in names) + "})\n"
        if formula.check_inputs is not None
        else ""
    )
    keywords = ", ".join(f"{n}={n}" for n in names)
    name = f"{formula.name}_prepared"
    source = (
        f"def {name}({args}):\n"
        f"    if (\n        {guard or 'True'}\n    ):\n"
        f"{check}"
        f"        try:\n"
        f"            return _lowered({call})\n"
        f"        except _OutOfBounds as exc:\n"
        f'            raise _OutOfBounds(f"{formula.name} {{exc}}") from None\n'
        f"    return _numpy({keywords})\n"
    )
    namespace = {
        "_ndarray": np.ndarray,  # exactly: a subclass goes to numpy(), made an array
        "_lowered": lowered.function,
        "_numpy": formula.numpy,
        "_check": formula.check_inputs,
        "_OutOfBounds": OutOfBounds,
    }
    exec(compile(source, f"<nnmath {name}>", "exec"), namespace)
    function = namespace[name]
    function.formula, function.shapes, function.source = formula, shapes, source
    return function


def prepare_together(
    name: str, formulas: Sequence[Formula], shapes: dict[str, object]
) -> Callable[..., tuple]:
    """Several formulas of shared inputs prepared for one shape per input, as one
    function returning their values as a tuple (in order): what any two of them
    compute is computed once (:func:`nnmath.lowering.lower_together`, which
    says how close the values are to each formula's own).  Every check each formula's
    :meth:`~nnmath.formula.Formula.prepare` makes is made here, raising as it
    does, and the formulas must agree on every size they share.  A call at
    other shapes goes to each formula's :meth:`~nnmath.formula.Formula.numpy`.
    The first call's values are compared with each formula's own lowering,
    which ``nnbook verify`` checks (within :data:`TOGETHER_ULPS`): a
    :class:`~nnmath.lowering.LoweringError` if they differ.
    """
    names = list(dict.fromkeys(i for f in formulas for i in f.input_names))
    shapes = {k: shape_of(formulas[0], k, v) for k, v in shapes.items()}
    missing = [n for n in names if n not in shapes]
    if missing:
        raise ValueError(f"{name}.prepare: no shape for {', '.join(missing)}")
    sizes: dict[str, int] = {}
    for f in formulas:
        bound = f.bind_shapes({n: shapes[n] for n in f.input_names})
        for d, size in bound.items():
            if sizes.setdefault(d, size) != size:
                raise ValueError(
                    f"{name}.prepare: {f.name} gives {d}={size}, an earlier "
                    f"formula {d}={sizes[d]}"
                )
    taken = sorted(set(names) & set(GLOBALS))
    if taken:
        raise ValueError(
            f"{name}.prepare: an input may not be named {', '.join(taken)}"
        )
    lowered = _together(name, tuple(formulas))
    call = ", ".join([*names, *(f"{d}={sizes[d]!r}" for d in lowered.dim_args)])
    guard = "\n        and ".join(
        f"type({n}) is _ndarray and {n}.shape == {shapes[n]!r}" for n in names
    )
    checks = "".join(
        f"        _checks[{k}]({{{', '.join(f'{n!r}: {n}' for n in f.input_names)}}})\n"
        for k, f in enumerate(formulas)
        if f.check_inputs is not None
    )
    separately = ", ".join(
        f"_formulas[{k}].numpy({', '.join(f'{n}={n}' for n in f.input_names)})"
        for k, f in enumerate(formulas)
    )
    source = (
        f"def {name}({', '.join(names)}):\n"
        f"    if (\n        {guard or 'True'}\n    ):\n"
        f"{checks}"
        f"        try:\n"
        f"            values = _lowered({call})\n"
        f"        except _OutOfBounds as exc:\n"
        f'            raise _OutOfBounds(f"{name} {{exc}}") from None\n'
        f"        if _unchecked:\n"
        f"            _agree(values, {{{', '.join(f'{n!r}: {n}' for n in names)}}})\n"
        f"        return values\n"
        f"    return ({separately},)\n"
    )
    unchecked = [True]

    def agree(values: tuple, arrays: dict) -> None:
        """The first call's values against each formula's own lowering, the one
        ``nnbook verify`` checks: the function trained with is held to it."""
        for f, value in zip(formulas, values, strict=True):
            own = f.numpy(**{n: arrays[n] for n in f.input_names})
            scale = np.spacing(np.max(np.abs(own), initial=0.0))
            if np.shape(value) != np.shape(own) or not np.all(
                np.abs(value - own) <= TOGETHER_ULPS * scale
            ):
                from .lowering import LoweringError

                raise LoweringError(
                    f"{name}: {f.name} computed together with "
                    f"{', '.join(g.name for g in formulas if g is not f)} is not "
                    "what its own lowering computes"
                )
        unchecked.clear()

    namespace = {
        "_ndarray": np.ndarray,
        "_lowered": lowered.function,
        "_formulas": list(formulas),
        "_checks": [f.check_inputs for f in formulas],
        "_OutOfBounds": OutOfBounds,
        "_unchecked": unchecked,
        "_agree": agree,
    }
    exec(compile(source, f"<nnmath {name}>", "exec"), namespace)
    function = namespace[name]
    function.formulas, function.shapes, function.source = formulas, shapes, source
    function.lowered = lowered
    return function


@functools.lru_cache(maxsize=64)
def _together(name: str, formulas: tuple):
    """One lowering per set of formulas (they are the registry's, kept alive)."""
    from .lowering import lower_together

    return lower_together(name, formulas)
