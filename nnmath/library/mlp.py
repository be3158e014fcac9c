"""A two-layer perceptron and its backpropagation, derived step by step as claims.

The network is ``x → dense(W1, b1) → f → dense(W2, b2) → softmax or σ → loss``,
written as ONE scalar loss of the weights, composed from the formulas already
registered (the dense layer, the activation, the cross-entropy on logits).  Each
backpropagation step is a claim about that loss, proved like every other claim:

* δ₂ = ∂L/∂z₂ = a₂ − y (divided as Keras averages): the loss claim's own gradient;
* ∂L/∂W₂ = δ₂ᵀa₁ and ∂L/∂b₂ = Σₙ δ₂;
* δ₁ = ∂L/∂z₁ = (δ₂W₂) ⊙ f′(z₁): a claim about the loss as a function of z₁;
* ∂L/∂W₁ = δ₁ᵀx, ∂L/∂b₁ = Σₙ δ₁, and ∂L/∂x = δ₁W₁.

The right-hand sides are built from the loss claim (for δ₂) and the activation
claim (for f′), so the chain rule here restates nothing by hand; the checker then
proves the composition against calculus, TensorFlow and finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ..claim import Claim
from ..formula import Formula, Input, indices
from ..params import Choice
from ..registry import claim, formula, register, register_claims
from ._symbols import I, J, K, N, i, j, k, n
from .activations import TF_FUNCTION
from .activations import z as _z_scalar

__all__ = [
    "HEADS",
    "HIDDEN",
    "NETWORKS",
    "NetworkClaim",
    "check_network",
    "loss_formula",
    "network_claims",
]

#: hidden activations with a derivative claim, and the output heads with their loss
HIDDEN = ("sigmoid", "tanh", "relu")
HEADS = {
    "softmax": "categorical_crossentropy_logits",
    "sigmoid": "binary_crossentropy_logits",
}
#: the activations the composed loss (the ``mlp`` formulas) is stated for.  Not
#: ReLU: SymPy folds a Piecewise inside the sum over hidden units out of that sum,
#: leaving one condition (on a bound index) for every unit, so the composed
#: expression would be wrong; training with ReLU evaluates the element-wise
#: ``relu`` formula and its claim instead (:class:`nnmath.runs.training.Network`).
COMPOSED = ("sigmoid", "tanh")
_NETWORK = {"activation": Choice(COMPOSED), "head": Choice(tuple(HEADS))}
#: the output head's TensorFlow loss on logits ``{z}``
_TF_LOSS = {
    "softmax": "tf.reduce_mean(tf.keras.losses.categorical_crossentropy(y, {z}, "
    "from_logits=True))",
    "sigmoid": "tf.reduce_mean(tf.keras.losses.binary_crossentropy(y, {z}, "
    "from_logits=True))",
}

# bound indices: d runs over the inputs (J), h over the hidden units (I), c over
# the classes (K); the free ones are n, i, j, k as everywhere else
d, h, c = indices("d h c")
x, W1, b1, W2, b2, y = (sp.IndexedBase(s) for s in ("x", "W1", "b1", "W2", "b2", "y"))
Z1 = sp.IndexedBase("z1")
#: the symbols a derivation is written in; :meth:`_Net.expand` defines each one
D2, D1, A1, H1 = (
    sp.IndexedBase(t)
    for t in (r"\delta^{(2)}", r"\delta^{(1)}", r"a^{(1)}", r"z^{(1)}")
)


def check_network(activation: str, head: str) -> None:
    """ValueError naming the valid choices for an unknown activation or head."""
    if activation not in HIDDEN:
        raise ValueError(
            f"unknown hidden activation {activation!r}; valid: {', '.join(HIDDEN)}"
        )
    if head not in HEADS:
        raise ValueError(f"unknown output head {head!r}; valid: {', '.join(HEADS)}")


def _dense(
    W: sp.IndexedBase, b: sp.IndexedBase, inp: sp.IndexedBase, out_index, summed, size
) -> sp.Expr:
    """The registered dense layer ``Σ_s W[out, s]·inp[n, s] + b[out]``, s < size."""
    expr = formula("dense").expr  # Σ_j W[i, j] x[n, j] + b[i]
    W0, b0, x0 = (sp.IndexedBase(s) for s in ("W", "b", "x"))
    return expr.xreplace({W0: W, b0: b, x0: inp, i: out_index, j: summed, J: size})


def _indexed(base: sp.IndexedBase, expr: sp.Expr, fn) -> sp.Expr:
    """Every ``base[a, b]`` in ``expr`` replaced by ``fn(a, b)``: what
    ``expr.replace`` gives, each shared part rebuilt once (``replace`` walks
    a part again wherever it is read: a network's hidden unit in every output,
    a third of building the library)."""
    done: dict = {}

    def put(e: sp.Basic) -> sp.Basic:
        if e in done:
            return done[e]
        if isinstance(e, sp.Indexed) and e.base == base:
            out = fn(*e.indices)
        elif e.is_Atom or not e.args:
            out = e
        else:
            args = tuple(put(a) for a in e.args)
            out = e.func(*args) if args != e.args else e
        done[e] = out
        return out

    return put(expr)


class _Net:
    """One network (activation and head), written in the symbols δ₂, δ₁, a₁, z₁.

    Each symbol has a definition one layer deep (a₁ = f(z₁), δ₁ = (δ₂W₂) ⊙ f′(z₁),
    …); :meth:`expand` substitutes them until only the formula's inputs remain.
    With ``z1_is_input`` the network is cut after its first dense layer, so z₁ is
    a free input: the loss as a function of z₁ is where δ₁ is a gradient.
    """

    def __init__(self, activation: str, head: str, z1_is_input: bool = False):
        check_network(activation, head)
        self.activation, self.head = activation, head
        self.z1_is_input = z1_is_input
        f = formula(activation).scalar  # f(z) in the scalar variable z
        fprime = claim(f"{activation}'").rhs  # f'(z), as proved
        loss_grad = claim(f"{HEADS[head]}/dz").rhs  # ∂L/∂z on logits, as proved
        self.definitions = {
            H1: (lambda a, b: Z1[a, b])
            if z1_is_input
            else (lambda a, b: _dense(W1, b1, x, b, d, J).xreplace({n: a})),
            A1: lambda a, b: f.subs(_z_scalar, H1[a, b]),
            D2: lambda a, b: self.on_logits(loss_grad).xreplace({n: a, k: b}),
            D1: lambda a, b: (
                sp.Sum(D2[a, c] * W2[c, b], (c, 0, K - 1))
                * fprime.subs(_z_scalar, H1[a, b])
            ),
        }

    def z2(self, n_, k_) -> sp.Expr:
        return _dense(W2, b2, A1, k_, h, I).xreplace({n: n_})

    def on_logits(self, expr: sp.Expr) -> sp.Expr:
        """``expr`` over logits ``z[n, ·]`` (class index j) as an expression of the
        network: j becomes c, each z[n, ·] becomes z₂ of the hidden activations."""
        return _indexed(sp.IndexedBase("z"), expr.xreplace({j: c}), self.z2)

    def expand(self, expr: sp.Expr) -> sp.Expr:
        """Substitute δ₂, δ₁, a₁, z₁ by their definitions until none is left."""
        for base in (D1, D2, A1, H1):  # each definition uses only the later ones
            expr = _indexed(base, expr, self.definitions[base])
        return expr

    @property
    def loss(self) -> sp.Expr:
        return self.expand(self.on_logits(formula(HEADS[self.head]).expr))


def _tf(activation: str, head: str, z1: str) -> str:
    a1 = f"{TF_FUNCTION[activation]}({z1})"
    return _TF_LOSS[head].format(z=f"tf.matmul({a1}, W2, transpose_b=True) + b2")


_TARGETS = {"softmax": "onehot", "sigmoid": "binary"}
_TOP = (Input("W2", ("K", "I"), "output weights"), Input("b2", ("K",), "output biases"))


#: backpropagation sums K products δ₂·W₂ of size up to about 3 (then I more for
#: ∂L/∂x); float32 rounds each partial sum by ~2e-7 of it, and TensorFlow sums in
#: another order: measured up to 4.4e-6 apart at K = 7 (atol 1e-6 is exceeded)
_FLOAT32 = {
    "tf_tolerance": {"float32": (1e-4, 1e-5)},
    "tf_note": "float32 sums of K·I backpropagated products (measured 4.4e-6 apart)",
}


@register("mlp", params=_NETWORK)
def loss_formula(activation: str = "tanh", head: str = "softmax") -> Formula:
    """The whole network's loss as a function of its input and weights."""
    net = _Net(activation, head)
    return Formula(
        name="mlp",
        title=f"Two-layer perceptron: dense, {activation}, dense, {head}, "
        "cross-entropy",
        output="L",
        indices=(),
        expr=net.loss,
        inputs=(
            Input("x", ("N", "J"), "inputs, one row per sample"),
            Input("W1", ("I", "J"), "hidden weights"),
            Input("b1", ("I",), "hidden biases"),
            *_TOP,
            Input("y", ("N", "K"), "targets", _TARGETS[head]),
        ),
        tf=_tf(activation, head, "tf.matmul(x, W1, transpose_b=True) + b1"),
        params={"activation": activation, "head": head},
        notes="Composed from the dense layer, the activation and the loss on logits.",
        **_FLOAT32,
    )


@register("mlp_top", params=_NETWORK)
def _top_formula(activation: str = "tanh", head: str = "softmax") -> Formula:
    """The same loss as a function of the hidden pre-activations z₁: where δ₁ lives."""
    net = _Net(activation, head, z1_is_input=True)
    return Formula(
        name="mlp_top",
        title=f"The perceptron above its hidden layer: {activation}, "
        f"dense, {head}, cross-entropy",
        output="L",
        indices=(),
        expr=net.loss,
        inputs=(
            Input("z1", ("N", "I"), "hidden pre-activations"),
            *_TOP,
            Input("y", ("N", "K"), "targets", _TARGETS[head]),
        ),
        tf=_tf(activation, head, "z1"),
        params={"activation": activation, "head": head},
        **_FLOAT32,
    )


@dataclass(frozen=True, eq=False)
class NetworkClaim(Claim):
    """A backpropagation step: printed in δ₂, δ₁, a₁ (``short``), proved on its
    expansion into the formula's inputs (``rhs``)."""

    short: sp.Expr = sp.S.Zero

    @property
    def latex(self) -> str:
        shown = {base: sp.IndexedBase(tex) for base, tex in _PRINTED.items()}
        wrt = (
            sp.IndexedBase(self.wrt)[self.indices]
            if self.indices
            else sp.Symbol(self.wrt)
        )
        return (
            rf"\frac{{\partial L}}{{\partial {sp.latex(wrt.xreplace(shown))}}} = "
            rf"{sp.latex(self.short.xreplace(shown))}"
        )


#: inputs as the page prints them: W^{(1)}, not W_1 fused with its indices
_PRINTED = {
    W1: r"W^{(1)}",
    b1: r"b^{(1)}",
    W2: r"W^{(2)}",
    b2: r"b^{(2)}",
    Z1: r"z^{(1)}",
}


#: the networks whose derivations are registered: claim prefix → (activation, head)
NETWORKS = {
    "mlp": ("tanh", "softmax"),  # chapter 1's iris network
    "mlp.sigmoid": ("sigmoid", "softmax"),
    "mlp.sigmoid_out": ("sigmoid", "sigmoid"),
}
#: the smallest instance: the checker gives the four dimensions the sizes 2, 3,
#: 5 and 7 (N, J, I, K), which no sum or mean over the wrong one can hide; the
#: sigmoid head has K independent output units (multi-label), 7 here too
SIZES = {
    "softmax": {"N": 2, "J": 2, "I": 2, "K": 2},
    "sigmoid": {"N": 2, "J": 2, "I": 2, "K": 2},
}


def network_claims(prefix: str, activation: str, head: str) -> list[NetworkClaim]:
    """The steps of backpropagation through one network, as claims."""
    net, top = _Net(activation, head), _Net(activation, head, z1_is_input=True)
    f, f_top = loss_formula(activation, head), _top_formula(activation, head)

    def step(name, frm, wrt, short, text, idx, within=net):
        return NetworkClaim(
            f"{prefix}/{name}",
            frm,
            wrt,
            within.expand(short),
            text,
            indices=idx,
            sizes=SIZES[head],
            short=short,
        )

    return [
        step(
            "dW2",
            f,
            "W2",
            sp.Sum(D2[n, k] * A1[n, i], (n, 0, N - 1)),
            "∂L/∂W₂ = δ₂ᵀa₁: output error times hidden activation, summed over "
            "the batch",
            (k, i),
        ),
        step("db2", f, "b2", sp.Sum(D2[n, k], (n, 0, N - 1)), "∂L/∂b₂ = Σₙ δ₂", (k,)),
        step(
            "dz1",
            f_top,
            "z1",
            _indexed(H1, top.definitions[D1](n, i), lambda a, b: Z1[a, b]),
            "δ₁ = ∂L/∂z₁ = (δ₂W₂) ⊙ f′(z₁): back through the weights, then the "
            "activation",
            (n, i),
            top,
        ),
        step(
            "dW1",
            f,
            "W1",
            sp.Sum(D1[n, i] * x[n, j], (n, 0, N - 1)),
            "∂L/∂W₁ = δ₁ᵀx",
            (i, j),
        ),
        step("db1", f, "b1", sp.Sum(D1[n, i], (n, 0, N - 1)), "∂L/∂b₁ = Σₙ δ₁", (i,)),
        step(
            "dx",
            f,
            "x",
            sp.Sum(D1[n, h] * W1[h, j], (h, 0, I - 1)),
            "∂L/∂x = δ₁W₁: the gradient reaches the inputs",
            (n, j),
        ),
    ]


@register_claims
def _claims() -> list[NetworkClaim]:
    return [
        cl
        for prefix, (act, head) in NETWORKS.items()
        for cl in network_claims(prefix, act, head)
    ]
