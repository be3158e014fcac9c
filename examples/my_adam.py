"""A lecturer's own Adam, checked against Keras's whatever it is called.

nnbook verify examples/my_adam.py   # 100 steps side by side with Keras's Adam
"""

import sympy as sp

from chapters import Chapter
from nnmath.formula import Formula, Input, indices
from nnmath.params import Real
from nnmath.registry import register
from nnmath.update_rules import keras_rule

p = indices("p")
w, grad, m, v = (sp.IndexedBase(name) for name in ("w", "grad", "m", "v"))
t = sp.Symbol("t")
eta, b1, b2, eps = sp.symbols("eta beta_1 beta_2 epsilon", positive=True)


#: each parameter's type and valid range, checked before the builder runs
BETA = Real(0, 1, high_open=True)
SPECS = {
    "learning_rate": Real(0, low_open=True),
    "beta_1": BETA,
    "beta_2": BETA,
    "epsilon": Real(0, low_open=True),
}


@register("my_adam", params=SPECS)
def _my_adam(learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    m_new = b1 * m[p] + (1 - b1) * grad[p]
    v_new = b2 * v[p] + (1 - b2) * grad[p] ** 2
    # as Keras computes it: the bias correction folded into the step size
    step = eta * sp.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1))
    return Formula(
        name="my_adam",
        title="Adam, the weights after one step",
        output="w'",
        indices=(p,),
        expr=w[p] - step * m_new / (sp.sqrt(v_new) + eps),
        inputs=(
            Input("w", ("P",), "weights"),
            Input("m", ("P",), "first moment"),
            Input("v", ("P",), "second moment", "prob"),
            Input("grad", ("P",), "gradient"),
            Input("t", (), "steps taken before this one", "prob"),
        ),
        tf=f"w - {learning_rate} * tf.sqrt(1 - {beta_2} ** (t + 1)) / (1 - {beta_1} "
        f"** (t + 1)) * ({beta_1} * m + (1 - {beta_1}) * grad) / (tf.sqrt("
        f"{beta_2} * v + (1 - {beta_2}) * grad ** 2) + {epsilon})",
        output_shape=("P",),
        constants={
            "eta": learning_rate,
            "beta_1": beta_1,
            "beta_2": beta_2,
            "epsilon": epsilon,
        },
        # what it claims to be: Keras's Adam with these arguments, its weights
        # after every step; w and grad are what Keras calls theta and g
        keras=keras_rule(
            "Adam",
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            inputs={"w": "theta", "grad": "g"},
        ),
    )


CHAPTER = Chapter(
    number=102,
    slug="my-adam",
    title="My Adam",
    module=__name__,
    formulas=("my_adam",),
    claims=(),
    scenes=(),
)
