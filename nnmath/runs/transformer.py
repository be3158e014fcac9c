"""A tiny character-level causal transformer on the Zen of Python, trained with
the book's formulas forward and its claims backward.

The model (post-LN, as in "Attention is all you need" and Keras's own
``keras_hub`` encoder by default)::

    h = embedding(ids) + positional encoding
    u = layer_norm(h + multi_head_attention(h, h), causal)
    v = layer_norm(u + dense(relu(dense(u))))
    loss = categorical cross-entropy of dense(v) against the next character

Every forward step is a registered formula; every backward step is a claim's
gradient formula, the very expressions ``nnbook verify`` proves.  The text
ships with Python (``this.s``, ROT13); :func:`zen` reads it from the module's
source with :mod:`ast` instead of importing it, because ``import this`` prints
the whole Zen to standard output, which would end up in a CLI's output.
"""

from __future__ import annotations

import ast
import codecs
import importlib.util
import time
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from ..library.attention import MHA_PROOF_PARAMS, mha_claims
from ..registry import claim, claims, formula
from .training import epoch_orders, glorot_uniform, minibatches, sgd_step

__all__ = [
    "Batches",
    "Transformer",
    "TrainingRun",
    "corpus",
    "heads",
    "train",
    "trained",
    "zen",
]


def zen() -> str:
    """The Zen of Python, decoded from ``this.s`` without running ``this``."""
    source = Path(importlib.util.find_spec("this").origin).read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["s"]:
            return codecs.decode(ast.literal_eval(node.value), "rot13")
    raise LookupError("this.py has no assignment to s")  # pragma: no cover


@dataclass(frozen=True)
class Batches:
    """The text as windows of ``length`` characters and their next characters."""

    text: str
    length: int

    @cached_property
    def alphabet(self) -> str:
        return "".join(sorted(set(self.text)))

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.alphabet.index(ch) for ch in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.alphabet[int(i)] for i in ids)

    @cached_property
    def windows(self) -> tuple[np.ndarray, np.ndarray]:
        """(inputs, targets): non-overlapping windows, targets shifted by one."""
        ids = self.encode(self.text)
        count = (len(ids) - 1) // self.length
        x = ids[: count * self.length].reshape(count, self.length)
        y = ids[1 : count * self.length + 1].reshape(count, self.length)
        return x, y


def corpus(length: int = 16) -> Batches:
    return Batches(zen(), length)


@dataclass
class Transformer:
    """One post-LN block between an embedding and a readout, in float64."""

    vocabulary: int
    length: int
    width: int = 16
    # the heads of the registered claims, which verify proves
    heads: int = MHA_PROOF_PARAMS["heads"]
    key_dim: int = MHA_PROOF_PARAMS["key_dim"]  # 1/√4 exact in float32, as Keras's
    hidden: int = 32
    epsilon: float = 1e-3  # LayerNormalization's default

    def __post_init__(self) -> None:
        self.mha = formula(
            "multi_head_attention", heads=self.heads, key_dim=self.key_dim, causal=True
        )
        # the registered claims, which verify proves, for their heads; the same
        # claims built for this formula otherwise
        registered = [
            c for c in claims("multi_head_attention") if c.formula is self.mha
        ]
        self.mha_grad = {c.wrt: c.gradient for c in registered or mha_claims(self.mha)}
        self.embed, self.pe = formula("embedding"), formula("positional_encoding")
        self.norm = formula("layer_norm", epsilon=self.epsilon)
        self.dense, self.relu = formula("dense"), formula("relu")
        self.loss_formula = formula("categorical_crossentropy_logits")
        self.g_embed = claim("embedding/dE").gradient
        self.g_norm = {
            w: claim(f"layer_norm/d{w}").gradient for w in ("x", "gamma", "beta")
        }
        self.g_dense = {w: claim(f"dense/d{w}").gradient for w in ("W", "x", "b")}
        self.g_relu = claim("relu'").gradient
        self.g_loss = claim("categorical_crossentropy_logits/dz").gradient

    def init(self, seed: int = 0) -> dict[str, np.ndarray]:
        """Glorot-uniform kernels, zero biases, γ = 1, β = 0, as Keras starts."""
        rng = np.random.default_rng(seed)
        D, H, K, F, V = (
            self.width,
            self.heads,
            self.key_dim,
            self.hidden,
            self.vocabulary,
        )

        def glorot(shape, fan_in, fan_out):
            return glorot_uniform(rng, shape, fan_in=fan_in, fan_out=fan_out)

        p = {"E": rng.uniform(-0.05, 0.05, size=(V, D))}
        for z in "qkv":
            p[f"W_{z}"] = glorot((D, H, K), D, H * K)
            p[f"b_{z}"] = np.zeros((H, K))
        p["W_o"], p["b_o"] = glorot((H, K, D), H * K, D), np.zeros(D)
        p["gamma1"], p["beta1"] = np.ones(D), np.zeros(D)
        p["W1"], p["b1"] = glorot((F, D), D, F), np.zeros(F)  # dense: W[out, in]
        p["W2"], p["b2"] = glorot((D, F), F, D), np.zeros(D)
        p["gamma2"], p["beta2"] = np.ones(D), np.zeros(D)
        p["W3"], p["b3"] = glorot((V, D), D, V), np.zeros(V)
        return p

    def _attention_weights(self, p: dict) -> dict:
        return {k: p[k] for k in self.mha.input_names if k not in ("x", "y")}

    def block(self, p: dict, h: np.ndarray) -> dict[str, np.ndarray]:
        """The post-LN transformer block on h (N, T, D): attention, residual,
        layer norm; feed-forward, residual, layer norm.  Each position's rows
        go through the norms and the dense layers as (N·T, D)."""
        n, t, width = h.shape
        a = self.mha.numpy(x=h, y=h, **self._attention_weights(p))
        r1 = (h + a).reshape(n * t, width)
        u = self.norm.numpy(x=r1, gamma=p["gamma1"], beta=p["beta1"])
        z1 = self.dense.numpy(x=u, W=p["W1"], b=p["b1"])
        f1 = self.relu.numpy(z=z1)
        f2 = self.dense.numpy(x=f1, W=p["W2"], b=p["b2"])
        r2 = u + f2
        v = self.norm.numpy(x=r2, gamma=p["gamma2"], beta=p["beta2"])
        return {
            **{"a": a, "r1": r1, "u": u, "z1": z1},
            **{"f1": f1, "f2": f2, "r2": r2, "v": v},
        }

    def forward(self, p: dict, ids: np.ndarray) -> dict[str, np.ndarray]:
        """Embedding plus positional encoding, the block, the dense readout."""
        h = self.pe.numpy(x=self.embed.numpy(ids=ids, E=p["E"]))
        parts = self.block(p, h)
        logits = self.dense.numpy(x=parts["v"], W=p["W3"], b=p["b3"])
        return {"h": h, **parts, "logits": logits}

    def onehot(self, targets: np.ndarray) -> np.ndarray:
        return np.eye(self.vocabulary)[targets.ravel()]

    def loss(self, p: dict, ids: np.ndarray, targets: np.ndarray) -> float:
        logits = self.forward(p, ids)["logits"]
        return float(self.loss_formula.numpy(z=logits, y=self.onehot(targets)))

    def backward(self, p: dict, ids: np.ndarray, targets: np.ndarray) -> dict:
        """Every parameter's gradient, one claim at a time, top to bottom."""
        n, t = ids.shape
        c = self.forward(p, ids)
        gd, gn = self.g_dense, self.g_norm
        grads: dict[str, np.ndarray] = {}

        def dense_back(x, w, b, g, name):
            args = {"x": x, "W": p[w], "b": p[b], "g": g}
            grads[w], grads[b] = gd["W"].numpy(**args), gd["b"].numpy(**args)
            return gd["x"].numpy(**args)

        def norm_back(x, gamma, beta, g):
            args = {"x": x, "gamma": p[gamma], "beta": p[beta], "g": g}
            grads[gamma], grads[beta] = (
                gn["gamma"].numpy(**args),
                gn["beta"].numpy(**args),
            )
            return gn["x"].numpy(**args)

        dz = self.g_loss.numpy(z=c["logits"], y=self.onehot(targets))
        dv = dense_back(c["v"], "W3", "b3", dz, "out")
        dr2 = norm_back(c["r2"], "gamma2", "beta2", dv)
        df1 = dense_back(c["f1"], "W2", "b2", dr2, "ffn2")
        dz1 = self.g_relu.numpy(z=c["z1"], g=df1)
        du = dr2 + dense_back(c["u"], "W1", "b1", dz1, "ffn1")
        dr1 = norm_back(c["r1"], "gamma1", "beta1", du).reshape(n, t, self.width)
        args = {"x": c["h"], "y": c["h"], **self._attention_weights(p), "g": dr1}
        for name in self._attention_weights(p):
            grads[name] = self.mha_grad[name].numpy(**args)
        # self-attention: h is the query and the value input, and the residual
        dh = dr1 + self.mha_grad["x"].numpy(**args) + self.mha_grad["y"].numpy(**args)
        grads["E"] = self.g_embed.numpy(
            ids=ids, E=p["E"], g=dh
        )  # the PE adds a constant
        return grads

    def sample(self, p: dict, batches: Batches, prompt: str, count: int) -> str:
        """``count`` characters after ``prompt``, each the most likely next one."""
        text = prompt
        for _ in range(count):
            ids = batches.encode(text[-self.length :])[None, :]
            logits = self.forward(p, ids)["logits"]
            text += batches.decode([np.argmax(logits[-1])])
        return text


@dataclass
class TrainingRun:
    """A run: the model, its final and initial parameters, the training loss
    before the first step and after each epoch, each epoch's batch order and
    the seconds its steps took (the loss evaluations left out, as Keras's fit)."""

    model: Transformer
    params: dict
    losses: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    initial: dict = field(default_factory=dict)
    seconds_per_epoch: list = field(default_factory=list)


def train(
    batches: Batches | None = None,
    *,
    epochs: int = 3,
    batch_size: int = 8,
    learning_rate: float = 0.5,
    seed: int = 0,
    **model: int,
) -> TrainingRun:
    """SGD on the Zen's windows, one seeded order per epoch; the training loss
    on every window before the first step and after every epoch."""
    batches = batches or corpus()
    x, y = batches.windows
    net = Transformer(len(batches.alphabet), batches.length, **model)
    p = net.init(seed)
    run = TrainingRun(net, p, initial={k: v.copy() for k, v in p.items()})
    run.losses.append(net.loss(p, x, y))
    for order in epoch_orders(len(x), epochs, seed):
        run.orders.append(order)
        start = time.perf_counter()
        for idx in minibatches(order, batch_size):
            p = sgd_step(p, net.backward(p, x[idx], y[idx]), learning_rate)
        run.seconds_per_epoch.append(time.perf_counter() - start)
        run.losses.append(net.loss(p, x, y))
    run.params = p
    return run


#: the book's run (chapter 12): SGD at 1.0 for this many epochs, a few seconds
BOOK_EPOCHS = 40
BOOK_LEARNING_RATE = 1.0


@lru_cache(maxsize=1)
def trained() -> TrainingRun:
    """The book's character transformer, trained once per process and kept in
    memory: no weight file is ever written."""
    return train(corpus(), epochs=BOOK_EPOCHS, learning_rate=BOOK_LEARNING_RATE)


def heads(run: TrainingRun, text: str) -> dict[str, np.ndarray]:
    """Multi-head attention of the trained block on ``text``, head by head, with
    the registered formulas: each head's Q, K, V (``dense`` on the head's
    kernel slice), its logits QKᵀ/√d_k (``dense`` with K as the weights), its
    weights (``attention`` with the identity as values: A·I = A), its context
    (``attention`` with V), the contexts side by side and the output projection
    (``dense`` with W_o flattened to (heads·key_dim, D)).  ``out`` equals
    ``multi_head_attention`` on the same input (tests/test_chapter12.py)."""
    net, p = run.model, run.params
    b = Batches(zen(), net.length)
    ids = b.encode(text)[None, :]
    h = net.pe.numpy(x=net.embed.numpy(ids=ids, E=p["E"]))[0]
    length, dense = len(text), net.dense
    causal = formula("attention", causal=True)
    eye = np.eye(length)[None]
    parts: dict[str, list] = {k: [] for k in ("Q", "K", "V", "z", "A", "C")}
    for head in range(net.heads):
        for z in "QKV":
            w, bias = p[f"W_{z.lower()}"][:, head, :], p[f"b_{z.lower()}"][head]
            parts[z].append(dense.numpy(x=h, W=w.T, b=bias))
        q, k, v = parts["Q"][-1], parts["K"][-1], parts["V"][-1]
        scaled = q / np.sqrt(net.key_dim)  # the 1/√d_k of the attention formula
        parts["z"].append(dense.numpy(x=scaled, W=k, b=np.zeros(length)))
        parts["A"].append(causal.numpy(q=q[None], k=k[None], v=eye)[0])
        parts["C"].append(causal.numpy(q=q[None], k=k[None], v=v[None])[0])
    stacked = {k: np.stack(v) for k, v in parts.items()}
    concat = np.concatenate(parts["C"], axis=1)  # head 0's features, then head 1's
    w_o = p["W_o"].reshape(net.heads * net.key_dim, net.width)
    out = dense.numpy(x=concat, W=w_o.T, b=p["b_o"])
    return {"ids": ids[0], "h": h, **stacked, "concat": concat, "W_o": w_o, "out": out}
