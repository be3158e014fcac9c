"""What a layer formula claims to compute: a ``keras.layers`` layer, called on
the same inputs.

A formula declares it with ``Formula(keras=keras_layer(...))``: the layer class
and its arguments, which of the formula's inputs is the call's argument and which
are the layer's weights, and which value it gives (the call's output, a weight
after the call such as the moving mean, or the layer's regularization losses).
``nnbook verify`` then builds that layer in float64, sets its weights, calls it
and compares (``keras-layer``), and compares every claim about the formula with
``tf.GradientTape`` through the layer.  The declaration is data only: nothing
here imports TensorFlow (:func:`nnmath.checker.oracle.keras_layer` does).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ROLES", "KerasLayer", "keras_layer"]

#: how a formula's input reaches the layer: the call's argument, a mask the
#: layer draws itself (dropout: the check reads it off the layer and gives it to
#: the formula), ``"call:<name>"`` (one of several tensors the call takes, in
#: the order declared: MultiHeadAttention's query and value, or a keyword of a
#: ``keras.ops`` function), or else a weight of the layer by its attribute
#: name (dotted for a sublayer's: ``"query_dense.kernel"``)
ROLES = ("inputs", "mask")
CALL = "call:"
#: the values a declaration can compare besides a weight read after the call
OUTPUTS = ("outputs", "losses")


@dataclass(frozen=True)
class KerasLayer:
    """A formula's claim: it computes ``output`` of
    ``keras.layers.<layer>(**args)`` called on its inputs.

    Make one with :func:`keras_layer`.
    """

    layer: str
    args: dict
    #: the formula's input name → "inputs", "mask" or the layer's weight attribute
    inputs: dict
    #: None: the layer takes no ``training`` argument (LayerNormalization)
    training: bool | None = None
    #: "outputs" (the call's result), "losses" (Σ layer.losses, the weight
    #: penalties) or a weight attribute read after the call ("moving_mean")
    output: str = "outputs"
    #: layer arguments given by the case's sizes: {"units": "I"}
    sized: dict = field(default_factory=dict)
    #: the call's input shape after the batch axis, by dimension names, for a
    #: layer whose formula has no "inputs" (a Dense built only to hold a
    #: regularized kernel)
    build: tuple = ()
    #: dtype → (rtol, atol) replacing the default, with the reason in ``note``
    #: (Keras casting a hyperparameter through float32)
    tolerance: dict = field(default_factory=dict)
    note: str = ""
    #: keyword arguments of every call (``use_causal_mask=True``)
    call: dict = field(default_factory=dict)
    #: (name, keyword arguments[, why]) of calls that take different code paths,
    #: each checked on every case (MultiHeadAttention with and without
    #: ``return_attention_scores``); a tuple result's first item is compared.
    #: With a ``why``, the variant is not compared on the large-magnitude case
    #: and the row's note says why
    variants: tuple = ()
    #: for a ``keras.ops`` function with a heads axis the formula has not
    #: (``dot_product_attention``): a unit axis there in every tensor
    unit_axis: int | None = None
    #: inputs given to Keras as int32 (token ids)
    integer: tuple = ()

    @property
    def tensors(self) -> dict:
        """The formula's inputs passed to the call as tensors → their keyword."""
        return {
            name: role.removeprefix(CALL)
            for name, role in self.inputs.items()
            if role.startswith(CALL)
        }

    @property
    def text(self) -> str:
        """``keras.layers.BatchNormalization(epsilon=0.001)(x, training=True)``."""
        args = ", ".join(
            [
                *(f"{k}={v!r}" for k, v in self.args.items()),
                *(f"{k}={d}" for k, d in self.sized.items()),
            ]
        )
        if self.layer.startswith("ops."):
            tensors = ", ".join(f"{kw}={n}" for n, kw in self.tensors.items())
            return f"keras.{self.layer}({tensors}{', ' if args else ''}{args})"
        made = f"keras.layers.{self.layer}({args})"
        called = "x" if "inputs" in self.inputs.values() else ", ".join(self.tensors)
        if not called:  # built, never called
            return f"{made}, its {self.output}"
        call = "" if self.training is None else f", training={self.training}"
        call += "".join(f", {k}={v!r}" for k, v in self.call.items())
        what = "" if self.output == "outputs" else f", then its {self.output}"
        paths = (
            ", with and without "
            + ", ".join(sorted({k for _, kw, *_ in self.variants for k in kw}))
            if self.variants
            else ""
        )
        return f"{made}({called}{call}){what}{paths}"


def keras_layer(
    layer: str,
    args: dict,
    inputs: dict,
    *,
    training: bool | None = None,
    output: str = "outputs",
    sized: dict | None = None,
    build: tuple = (),
    tolerance: dict | None = None,
    note: str = "",
    call: dict | None = None,
    variants: tuple = (),
    unit_axis: int | None = None,
    integer: tuple = (),
) -> KerasLayer:
    """Declare that a formula computes ``output`` of ``keras.layers.<layer>``.

    ``args`` are the layer's arguments, ``sized`` those taken from the test
    case's sizes (``{"units": "I"}``); ``inputs`` maps
    each of the formula's inputs to its role (:data:`ROLES`) or to the layer's
    weight attribute.  Raises ValueError naming what is valid.
    """
    called = [r for r in inputs.values() if r == "inputs" or r.startswith(CALL)]
    if not called and not build:
        raise ValueError(
            f"{layer}: no input is the call's argument; valid: map one "
            "input to 'inputs' (or several to 'call:<name>'), or give "
            "build=(dimension names)"
        )
    if output not in OUTPUTS and output not in inputs.values():
        raise ValueError(
            f"{layer}: output {output!r} is neither one of "
            f"{', '.join(OUTPUTS)} nor a weight the formula gives "
            f"(valid: {', '.join(sorted(set(inputs.values())))})"
        )
    return KerasLayer(
        layer,
        dict(args),
        dict(inputs),
        training,
        output,
        dict(sized or {}),
        tuple(build),
        dict(tolerance or {}),
        note,
        dict(call or {}),
        tuple(variants),
        unit_axis,
        tuple(integer),
    )
