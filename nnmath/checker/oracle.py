"""TensorFlow, the independent oracle.  The only module that imports it.

Each formula carries its reference as TensorFlow source (``Formula.tf``); it is
evaluated here exactly as ``nnbook show`` prints it.  Gradients come from
``tf.GradientTape`` on ``L = Σ g·output`` (or on the loss itself when it is a
scalar), so they are TensorFlow's own, not ours.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import numpy as np

from ..claim import UPSTREAM, Claim
from ..formula import Formula

__all__ = [
    "tensorflow",
    "forward",
    "reference",
    "gradient",
    "keras_trajectories",
    "keras_layer",
    "keras_rnn",
    "OracleUnavailable",
]


class OracleUnavailable(RuntimeError):
    pass


@lru_cache(maxsize=1)
def tensorflow():
    """Import TensorFlow quietly and deterministically, once."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-stable CPU results
    try:
        import tensorflow as tf
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise OracleUnavailable(
            "TensorFlow is not installed; run ./run.sh setup "
            "(or pip install tensorflow-cpu)"
        ) from exc
    tf.get_logger().setLevel("ERROR")
    tf.config.experimental.enable_op_determinism()
    return tf


def _remembered(store: dict, key, compute):
    """``compute()``, kept in ``store`` under ``key`` (a few at a time)."""
    if key not in store:
        value = compute()
        if len(store) >= 16:
            store.clear()
        store[key] = value
    return store[key]


def _arrays_key(arrays: dict) -> tuple:
    return tuple((k, _bytes(v)) for k, v in sorted(arrays.items()))


def _bytes(a: np.ndarray) -> tuple:
    a = np.asarray(a)
    return (a.dtype.str, a.shape, a.tobytes())


def _tensors(tf, formula: Formula, arrays: dict, dtype: str) -> dict:
    return {
        n: tf.constant(np.asarray(arrays[n]), dtype=dtype) for n in formula.input_names
    }


def _fit_in_order(model, loss, x, y, orders, batch_size: int) -> tuple[list, list]:
    """Keras ``fit``, one epoch per given order (no shuffling of its own): the
    loss on all of ``x`` before the first epoch and after each, and the seconds
    each epoch's ``fit`` took (the loss evaluations left out)."""
    losses, seconds = [float(loss(y, model(x)))], []
    for order in orders:
        start = time.perf_counter()
        model.fit(
            x[order],
            y[order],
            batch_size=batch_size,
            epochs=1,
            shuffle=False,
            verbose=0,
        )
        seconds.append(time.perf_counter() - start)
        losses.append(float(loss(y, model(x))))
    return losses, seconds


def reference(formula: Formula, tensors: dict):
    """The formula's TensorFlow reference evaluated on ``tensors`` (by input
    name); the inputs are globals too, so that a lambda in the reference sees
    them."""
    return eval(formula.tf, {"tf": tensorflow(), **tensors})  # noqa: S307 - our own source


def forward(formula: Formula, arrays: dict, dtype: str = "float64") -> np.ndarray:
    tf = tensorflow()
    return np.asarray(reference(formula, _tensors(tf, formula, arrays, dtype)))


def gradient(claim: Claim, arrays: dict, dtype: str = "float64") -> np.ndarray:
    """TensorFlow's ∂L/∂wrt of L = Σ g·output (or of the scalar output).  One
    tape gives the gradient with respect to every input, kept for the next
    claim about the same formula on the same arrays."""
    f = claim.formula
    names = (*f.input_names, *([UPSTREAM] if f.output_shape else []))
    key = (f.tf, names, _arrays_key({n: arrays[n] for n in names}), dtype)
    grads = _remembered(_GRADIENTS, key, lambda: _gradients(f, arrays, dtype))
    return grads[claim.wrt].copy()


#: recent answers of :func:`gradient`
_GRADIENTS: dict = {}


def _gradients(f: Formula, arrays: dict, dtype: str) -> dict[str, np.ndarray]:
    tf = tensorflow()
    env = _tensors(tf, f, arrays, dtype)
    zeros = {n: np.zeros(np.shape(arrays[n])) for n in f.input_names}
    with tf.GradientTape() as tape:
        tape.watch(list(env.values()))
        out = reference(f, env)
        if f.output_shape and out.shape.num_elements() == 0:
            # L sums over no outputs: its gradient is exactly 0.  TensorFlow 2.21's
            # conv2d filter gradient crashes the process (a segmentation fault) or
            # leaves its result uninitialised on an output of size 0
            return zeros
        if f.output_shape:
            out = tf.reduce_sum(out * tf.constant(arrays[UPSTREAM], dtype=dtype))
    found = tape.gradient(out, list(env.values()))
    grads = {}
    for name, grad in zip(env, found):
        if isinstance(grad, tf.IndexedSlices):  # tf.gather's: rows, made dense
            grad = tf.convert_to_tensor(grad)
        grads[name] = zeros[name] if grad is None else np.asarray(grad)
    return grads


def keras_trajectories(
    keras_class: str, args: dict, runs: list, slots: dict
) -> list[dict[str, np.ndarray]]:
    """``tf.keras.optimizers.<keras_class>(**args)`` fed gradients one step at a
    time: ``runs`` is a list of (θ₀, gradients of every step), each one variable
    of the same optimizer, as a model's weights are.

    Returns, per run, the variable and each slot (``slots``: our name → the
    optimizer's attribute) after every step, stacked.  The optimizer is built
    while Keras's floatx is float64, so its learning-rate variable is not
    rounded to float32, and float hyperparameters are passed as NumPy float64:
    Keras's ``ops.cast(self.momentum, dtype)`` (SGD's μ, Adam's β in βᵗ) would
    otherwise convert a Python float through float32 first (0.9 → 0.899999976).

    A step is one ``apply_gradients`` in a ``tf.function``, as ``fit`` runs it;
    each variable's update reads only its own gradient, its own slots and the
    shared step count (an optimizer with ``global_clipnorm``, which couples
    them, is run once per variable).  The same call again (the claims about
    one optimizer's θ, m and v) is answered from memory.
    """
    if args.get("global_clipnorm") is not None and len(runs) > 1:
        return [keras_trajectories(keras_class, args, [r], slots)[0] for r in runs]
    key = (
        keras_class,
        tuple(sorted((k, repr(v)) for k, v in args.items())),
        tuple(sorted(slots.items())),
        tuple(_bytes(a) for run in runs for a in run),
    )
    answer = _remembered(
        _TRAJECTORIES, key, lambda: _trajectories(keras_class, args, runs, slots)
    )
    return [{k: v.copy() for k, v in run.items()} for run in answer]


#: recent answers of :func:`keras_trajectories`
_TRAJECTORIES: dict = {}


def _trajectories(keras_class: str, args: dict, runs: list, slots: dict) -> list:
    tf = tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        opt = getattr(tf.keras.optimizers, keras_class)(
            **{k: np.float64(v) if isinstance(v, float) else v for k, v in args.items()}
        )
    finally:
        keras.config.set_floatx(floatx)
    variables = [
        tf.Variable(np.asarray(theta0, np.float64), dtype=tf.float64)
        for theta0, _ in runs
    ]
    opt.build(variables)
    # a slot Keras does not keep with these arguments (SGD's momentums when
    # momentum is 0) is left out of the result
    kept = {s: attr for s, attr in slots.items() if getattr(opt, attr, None)}

    @tf.function
    def step(gradients):
        opt.apply_gradients(zip(gradients, variables))

    out: list[dict[str, list]] = [{"theta": [], **{s: [] for s in kept}} for _ in runs]
    for t in range(len(runs[0][1])):
        step([tf.constant(grads[t], dtype=tf.float64) for _, grads in runs])
        for k, var in enumerate(variables):
            out[k]["theta"].append(var.numpy())
            for s, attr in kept.items():
                out[k][s].append(getattr(opt, attr)[k].numpy())
    return [{k: np.stack(v) for k, v in run.items()} for run in out]


def keras_layer(
    decl,
    arrays: dict,
    sizes: dict,
    *,
    seed: int = 0,
    wrt: str | None = None,
    upstream: np.ndarray | None = None,
    variant: dict | None = None,
) -> dict:
    """The Keras layer a formula declares (:class:`nnmath.keras_layer.KerasLayer`),
    built in float64 with its weights set from ``arrays`` and called on them.

    Returns ``value`` (the call's output, the layer's summed regularization
    losses, or a weight read after the call, as declared), ``drawn`` (inputs the
    layer drew itself: a dropout mask, read off a fresh layer with the same seed
    applied to ones, which draws the same mask on its first call) and, with
    ``wrt``, ``grad``: ``tf.GradientTape``'s gradient of Σ upstream·value (or of
    the value itself when it is a scalar) with respect to that input or weight
    (an ``IndexedSlices``, as an embedding's, made dense).  A declaration whose
    layer is ``"ops.<name>"`` calls that ``keras.ops`` function instead, its
    tensors by keyword; ``variant`` adds keyword arguments to the call (a tuple
    result's first item is the output).

    One tape gives the gradient with respect to every input and weight at once,
    and the answer is kept: the claims about one layer (multi-head attention's
    ten) ask for the same call, each about another of its arguments.
    """
    key = (
        repr(decl),
        _arrays_key(arrays),
        tuple(sorted(sizes.items())),
        seed,
        wrt is not None,
        None if upstream is None else _bytes(upstream),
        repr(sorted((variant or {}).items())),
    )
    answer = _remembered(
        _LAYERS,
        key,
        lambda: _keras_layer(
            decl,
            arrays,
            sizes,
            seed=seed,
            gradients=wrt is not None,
            upstream=upstream,
            variant=variant,
        ),
    )
    return {
        "value": answer["value"].copy(),
        "drawn": {k: v.copy() for k, v in answer["drawn"].items()},
        "grad": None if wrt is None else answer["grads"][wrt].copy(),
    }


#: recent answers of :func:`keras_layer` and :func:`keras_rnn`
_LAYERS: dict = {}


def _keras_layer(
    decl,
    arrays: dict,
    sizes: dict,
    *,
    seed: int,
    gradients: bool,
    upstream: np.ndarray | None,
    variant: dict | None,
) -> dict:
    from operator import attrgetter

    tensorflow()
    import keras
    import tensorflow as tf

    roles = decl.inputs
    x_name = next((n for n, role in roles.items() if role == "inputs"), None)
    mask_name = next((n for n, role in roles.items() if role == "mask"), None)
    tensors = decl.tensors  # several call tensors: name → keyword
    kwargs = {**decl.call, **(variant or {})}
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")

    def constant(name):
        if name in decl.integer:
            return tf.constant(np.asarray(arrays[name]).astype(np.int32))
        return tf.constant(arrays[name], tf.float64)

    try:

        def fresh():
            args = {**decl.args, **{k: sizes[d] for k, d in decl.sized.items()}}
            if mask_name is not None:
                args["seed"] = seed
            layer = getattr(keras.layers, decl.layer)(**args)
            if tensors:
                layer.build(*(np.shape(arrays[n]) for n in tensors))
            else:
                shape = (
                    np.shape(arrays[x_name])[1:]
                    if x_name is not None
                    else tuple(sizes[d] for d in decl.build)
                )
                layer.build((None, *shape))
            for name, role in roles.items():
                if _weight(role):
                    attrgetter(role)(layer).assign(np.asarray(arrays[name], np.float64))
            return layer

        def call(layer, x):
            if decl.training is None:
                return layer(x, **kwargs)
            return layer(x, training=decl.training, **kwargs)

        drawn = {}
        if mask_name is not None:
            kept = call(fresh(), tf.ones(np.shape(arrays[x_name]), tf.float64))
            drawn[mask_name] = (np.asarray(kept) != 0).astype(np.float64)
        op = decl.layer.startswith("ops.")
        layer = None if op else fresh()
        x = None if x_name is None else constant(x_name)
        given = {n: constant(n) for n in tensors}
        # every float tensor the call reads, then every weight: the targets
        targets = {} if x is None else {x_name: x}
        targets.update((n, t) for n, t in given.items() if n not in decl.integer)
        with tf.GradientTape() as tape:
            if gradients:
                tape.watch(list(targets.values()))
            if op:
                value = _keras_op(keras, tf, decl, given, kwargs)
            elif given:
                out = layer(*given.values(), **kwargs)
                value = out[0] if isinstance(out, (tuple, list)) else out
            else:
                out = None if x is None else call(layer, x)
                if decl.output == "outputs":
                    value = out
                elif decl.output == "losses":
                    value = tf.add_n(layer.losses)
                else:
                    value = getattr(layer, decl.output)
            loss = (
                value
                if upstream is None
                else tf.reduce_sum(value * tf.constant(upstream, tf.float64))
            )
        grads = {}
        if gradients:
            for name, role in roles.items():
                if layer is not None and _weight(role):  # the backend's tf.Variable
                    targets[name] = attrgetter(role)(layer).value
            found = tape.gradient(loss, list(targets.values()))
            for name, grad in zip(targets, found):
                if isinstance(grad, tf.IndexedSlices):  # an embedding's rows
                    grad = tf.convert_to_tensor(grad)
                if grad is None:  # an argument the value does not read
                    grad = np.zeros(np.shape(arrays[name]))
                grads[name] = np.asarray(grad)
        value = np.asarray(value)
    finally:
        keras.config.set_floatx(floatx)
    return {"value": value, "drawn": drawn, "grads": grads}


def _weight(role: str) -> bool:
    """A role that names a layer's weight attribute (not the input, a mask
    or a call's tensor)."""
    return role not in ("inputs", "mask") and not role.startswith("call:")


def _keras_op(keras, tf, decl, given: dict, kwargs: dict):
    """``keras.ops.<name>(**tensors, **args)``; with ``unit_axis``, every tensor
    gets a unit (heads) axis there, a mask one at axis 1 (Keras's (B, heads,
    T, S)), and the result loses it again."""
    axis = decl.unit_axis
    by_keyword = {}
    for name, kw in decl.tensors.items():
        tensor = given[name]
        if kw == "mask":
            tensor = tf.cast(tensor if axis is None else tensor[:, None], tf.bool)
        elif axis is not None:
            tensor = tf.expand_dims(tensor, axis)
        by_keyword[kw] = tensor
    out = getattr(keras.ops, decl.layer.removeprefix("ops."))(
        **by_keyword, **decl.args, **kwargs
    )
    return out if axis is None else tf.squeeze(out, axis)


def train_keras(
    x: np.ndarray,
    y: np.ndarray,
    params: dict,
    orders: list,
    *,
    activation: str,
    head: str,
    learning_rate: float,
    batch_size: int,
    x_test: np.ndarray | None = None,
    batch_norm: bool = False,
    dropout: tuple[float, int] | None = None,
) -> dict:
    """Keras's own ``fit`` of the two-layer perceptron, from ``params`` (our
    convention, W[out, in]) and in the batch order ``orders`` (one permutation per
    epoch, ``shuffle=False``), everything in float64.

    ``batch_norm`` puts a ``BatchNormalization`` between the first dense layer and
    its activation (``params`` then holds gamma, beta, moving_mean and
    moving_variance); ``dropout=(rate, seed)`` puts a ``Dropout(rate, seed=seed)``
    after the activation, and the result's ``mask`` is the mask it drew on its
    first call (a fresh layer with the same seed draws it again on ones).

    Returns the training loss before the first step and after every epoch (by the
    Keras loss object on ``model(x)``, so batch norm uses its moving statistics
    and dropout is off), the final weights in our convention, the seconds each
    ``fit`` epoch took, and the logits on ``x_test``.
    """

    tensorflow()
    import keras

    hidden = params["W1"].shape[0]
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")  # layers, loss and the SGD learning rate
    try:
        first = keras.layers.Dense(
            hidden, activation=None if batch_norm else activation
        )
        middle = (
            [keras.layers.BatchNormalization(), keras.layers.Activation(activation)]
            if batch_norm
            else []
        )
        if dropout is not None:
            middle.append(keras.layers.Dropout(dropout[0], seed=dropout[1]))
        last = keras.layers.Dense(params["W2"].shape[0])
        model = keras.Sequential([keras.Input((x.shape[1],)), first, *middle, last])
        first.set_weights([params["W1"].T, params["b1"]])
        last.set_weights([params["W2"].T, params["b2"]])
        if batch_norm:
            middle[0].set_weights(
                [params[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")]
            )
        loss = {
            "softmax": keras.losses.CategoricalCrossentropy,
            "sigmoid": keras.losses.BinaryCrossentropy,
        }[head](from_logits=True)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=loss
        )
        losses, seconds = _fit_in_order(model, loss, x, y, orders, batch_size)
        (W1, b1), (W2, b2) = first.get_weights(), last.get_weights()
        out = {"W1": W1.T, "b1": b1, "W2": W2.T, "b2": b2}
        if batch_norm:
            out.update(
                zip(
                    ("gamma", "beta", "moving_mean", "moving_variance"),
                    middle[0].get_weights(),
                )
            )
        mask = None
        if dropout is not None:
            fresh = keras.layers.Dropout(dropout[0], seed=dropout[1])
            ones = np.ones((min(batch_size, len(orders[0])), hidden))
            mask = (np.asarray(fresh(ones, training=True)) != 0).astype(np.float64)
        logits = None if x_test is None else np.asarray(model(x_test))
    finally:
        keras.config.set_floatx(floatx)
    return {
        "losses": losses,
        "params": out,
        "seconds_per_epoch": seconds,
        "test_logits": logits,
        "mask": mask,
    }


def _transformer_model(
    keras, tf, params: dict, *, length: int, heads: int, key_dim: int, positional: str
):
    """The character transformer of :mod:`nnmath.runs.transformer` as Keras
    layers, weights set from ``params`` (our convention: dense W[out, in]):
    ``Embedding``, plus the positional encoding computed by TensorFlow from
    ``positional`` (the formula's reference source), a causal
    ``MultiHeadAttention``, ``Add`` and ``LayerNormalization`` after it and after
    a ``Dense`` relu → ``Dense`` feed-forward (post-LN), a ``Dense`` readout."""
    vocabulary, width = params["E"].shape
    hidden = params["W1"].shape[0]
    zeros = tf.zeros((1, length, width), tf.float64)
    pe = eval(positional, {"tf": tf, "x": zeros})  # noqa: S307 - our own source
    ids = keras.Input((length,), dtype="int32")
    embed = keras.layers.Embedding(vocabulary, width)
    h = keras.ops.add(embed(ids), pe)
    mha = keras.layers.MultiHeadAttention(heads, key_dim)
    norm1, norm2 = keras.layers.LayerNormalization(), keras.layers.LayerNormalization()
    ffn1 = keras.layers.Dense(hidden, activation="relu")
    ffn2, out = keras.layers.Dense(width), keras.layers.Dense(vocabulary)
    u = norm1(keras.layers.Add()([h, mha(h, h, use_causal_mask=True)]))
    v = norm2(keras.layers.Add()([u, ffn2(ffn1(u))]))
    model = keras.Model(ids, out(v))
    embed.set_weights([params["E"]])
    mha.set_weights([params[k] for k in MHA_WEIGHTS])
    norm1.set_weights([params["gamma1"], params["beta1"]])
    norm2.set_weights([params["gamma2"], params["beta2"]])
    for layer, w, b in ((ffn1, "W1", "b1"), (ffn2, "W2", "b2"), (out, "W3", "b3")):
        layer.set_weights([params[w].T, params[b]])
    # each of our parameters as the Keras variable it is (kernels transposed)
    variables = {"E": embed.embeddings}
    for name, var in zip(MHA_WEIGHTS, mha.weights):
        variables[name] = var
    for layer, g, b in ((norm1, "gamma1", "beta1"), (norm2, "gamma2", "beta2")):
        variables[g], variables[b] = layer.gamma, layer.beta
    for layer, w, b in ((ffn1, "W1", "b1"), (ffn2, "W2", "b2"), (out, "W3", "b3")):
        variables[w], variables[b] = layer.kernel, layer.bias
    return model, variables


#: MultiHeadAttention's weights in Keras's order, by our names
MHA_WEIGHTS = ("W_q", "b_q", "W_k", "b_k", "W_v", "b_v", "W_o", "b_o")


def transformer_keras_gradients(
    x: np.ndarray,
    y: np.ndarray,
    params: dict,
    *,
    heads: int,
    key_dim: int,
    positional: str,
) -> dict:
    """The Keras model's logits on ``x`` and ``tf.GradientTape``'s gradient of
    its ``CategoricalCrossentropy(from_logits=True)`` against the next
    characters ``y``, for every parameter (by our names and layout)."""
    tf = tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        model, variables = _transformer_model(
            keras,
            tf,
            params,
            length=x.shape[1],
            heads=heads,
            key_dim=key_dim,
            positional=positional,
        )
        vocabulary = params["E"].shape[0]
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        with tf.GradientTape() as tape:
            logits = model(x.astype(np.int32))
            value = loss(np.eye(vocabulary)[y], logits)
        names = list(variables)
        grads = tape.gradient(value, [variables[n].value for n in names])
        out = {}
        for name, g in zip(names, grads):
            g = np.asarray(tf.convert_to_tensor(g))  # the embedding's IndexedSlices
            out[name] = g.T if name in ("W1", "W2", "W3") else g
    finally:
        keras.config.set_floatx(floatx)
    return {"logits": np.asarray(logits), "loss": float(value), "grads": out}


def train_transformer_keras(
    x: np.ndarray,
    y: np.ndarray,
    params: dict,
    orders: list,
    *,
    heads: int,
    key_dim: int,
    positional: str,
    learning_rate: float,
    batch_size: int,
) -> dict:
    """Keras's own ``fit`` of the character transformer (see
    :func:`_transformer_model`), from ``params`` and in the batch order
    ``orders`` (``shuffle=False``), in float64, with ``SGD`` and
    ``CategoricalCrossentropy(from_logits=True)``.

    Returns the training loss on all of ``x`` before the first step and after
    every epoch, and the seconds each ``fit`` epoch took.
    """

    tf = tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        model, _ = _transformer_model(
            keras,
            tf,
            params,
            length=x.shape[1],
            heads=heads,
            key_dim=key_dim,
            positional=positional,
        )
        vocabulary = params["E"].shape[0]
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=loss
        )
        onehot = np.eye(vocabulary)[y]
        xs = x.astype(np.int32)
        losses, seconds = _fit_in_order(model, loss, xs, onehot, orders, batch_size)
    finally:
        keras.config.set_floatx(floatx)
    return {"losses": losses, "seconds_per_epoch": seconds}


def keras_rnn(
    layer_name: str,
    arrays: dict,
    initial: list[str],
    weights: tuple[str, ...],
    wrt: str | None = None,
) -> dict:
    """``keras.layers.<layer_name>`` (SimpleRNN, LSTM, GRU) built in float64 with
    the kernel, recurrent kernel and bias ``weights`` (in that order) from
    ``arrays``, called on ``arrays["x"]`` from the ``initial`` states with
    ``return_sequences`` and ``return_state``.  With ``wrt``: GradientTape's
    ∂L/∂wrt of L = Σ g·(every h_t, and the last c_T for an LSTM: the outputs
    Keras returns), g being ``arrays["g"]`` over [h | c] at every step.

    One tape gives the gradient with respect to x, every initial state and
    every weight, and the answer is kept: a network's claims ask for the
    same call, each about another argument."""
    key = (layer_name, _arrays_key(arrays), tuple(initial), tuple(weights))
    answer = _remembered(
        _LAYERS,
        (*key, wrt is not None),
        lambda: _keras_rnn(layer_name, arrays, initial, weights, wrt is not None),
    )
    result = {"h": answer["h"].copy(), "last": [v.copy() for v in answer["last"]]}
    if wrt is not None:
        result["grad"] = answer["grads"][wrt].copy()
    return result


def _keras_rnn(
    layer_name: str, arrays: dict, initial: list, weights: tuple, gradients: bool
) -> dict:
    tf = tensorflow()
    import keras

    N, T, F = np.shape(arrays["x"])
    H = np.shape(arrays[initial[0]])[1]
    cls = getattr(keras.layers, layer_name)
    layer = cls(H, return_sequences=True, return_state=True, dtype="float64")
    layer.build((N, T, F))
    cell = layer.cell
    variables = dict(zip(weights, (cell.kernel, cell.recurrent_kernel, cell.bias)))
    for name, var in variables.items():
        var.assign(np.asarray(arrays[name], np.float64))
    x = tf.constant(arrays["x"], tf.float64)
    states = [tf.constant(arrays[i], tf.float64) for i in initial]
    watched = {"x": x, **dict(zip(initial, states))}
    with tf.GradientTape() as tape:
        tape.watch(list(watched.values()))
        seq, *last = layer(x, initial_state=states if len(states) > 1 else states[0])
        if gradients:
            g = tf.constant(arrays[UPSTREAM], tf.float64)
            loss = tf.reduce_sum(seq * g[:, :, :H])
            if len(last) > 1:  # the LSTM's c: Keras returns the last one only
                loss += tf.reduce_sum(last[1] * g[:, -1, H:])
    result = {"h": np.asarray(seq), "last": [np.asarray(v) for v in last]}
    if gradients:
        targets = {**watched, **variables}
        found = tape.gradient(loss, list(targets.values()))
        result["grads"] = {n: np.asarray(g) for n, g in zip(targets, found)}
    return result


def train_rnn_keras(
    x: np.ndarray,
    y: np.ndarray,
    params: dict,
    orders: list,
    *,
    layer: str,
    learning_rate: float,
    batch_size: int,
    clipnorm: float | None = None,
    x_test: np.ndarray | None = None,
) -> dict:
    """Keras's own ``fit`` of the recurrent classifier of
    :mod:`nnmath.runs.recurrent`: ``keras.layers.<layer>`` (SimpleRNN, LSTM)
    on sequences ``x`` (N, T, F) from a zero state, a ``Dense`` readout on its
    last output, ``CategoricalCrossentropy(from_logits=True)`` and
    ``SGD(learning_rate, clipnorm=clipnorm)``, everything in float64, from
    ``params`` (W, U, b in Keras's layout; W_out[out, in]) and in the batch
    order ``orders`` (``shuffle=False``).

    Returns the training loss before the first step and after every epoch, the
    final weights by our names, the seconds each ``fit`` epoch took and the
    logits on ``x_test``."""

    tensorflow()
    import keras

    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        units = params["U"].shape[0]
        rnn = getattr(keras.layers, layer)(units)
        readout = keras.layers.Dense(params["W_out"].shape[0])
        model = keras.Sequential([keras.Input(x.shape[1:]), rnn, readout])
        rnn.set_weights([params["W"], params["U"], params["b"]])
        readout.set_weights([params["W_out"].T, params["b_out"]])
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
        options = {} if clipnorm is None else {"clipnorm": clipnorm}
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=learning_rate, **options),
            loss=loss,
        )
        losses, seconds = _fit_in_order(model, loss, x, y, orders, batch_size)
        W, U, b = rnn.get_weights()
        W_out, b_out = readout.get_weights()
        logits = None if x_test is None else np.asarray(model(x_test))
    finally:
        keras.config.set_floatx(floatx)
    return {
        "losses": losses,
        "params": {"W": W, "U": U, "b": b, "W_out": W_out.T, "b_out": b_out},
        "seconds_per_epoch": seconds,
        "test_logits": logits,
    }
