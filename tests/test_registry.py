"""The registry: a name registered twice is an error naming both places, unless
the later registration asks to override; an override wins whatever was imported
first.

Which of the book's library and a chapter file registers first depends on what
the file imports, so each order runs in a fresh interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nnmath import registry
from nnmath.registry import RegistryConflict, register, register_claims

REPO = Path(__file__).resolve().parent.parent

#: what a chapter file imports first: only the registry (the library is not
#: loaded yet), or a library module (the library is loaded before it registers)
ORDERS = {
    "registry first": "from nnmath.registry import register, register_claims, "
    "formula, claim",
    "library first": "import nnmath.library.activations\n"
    "from nnmath.registry import register, register_claims, formula, claim",
}

#: a softmax written without the max-shift: the same function, another formula
OWN_SOFTMAX = """
import sympy as sp

@register("softmax"{override})
def my_softmax():
    from nnmath.formula import Formula, Input, indices
    from nnmath.library._symbols import K, N, j, k, n
    z = sp.IndexedBase("z")
    expr = sp.exp(z[n, k]) / sp.Sum(sp.exp(z[n, j]), (j, 0, K - 1))
    return Formula(name="softmax", title="my softmax", output="a", indices=(n, k),
                   expr=expr, inputs=(Input("z", ("N", "K"), "logits"),),
                   tf="tf.nn.softmax(z, axis=-1)", output_shape=("N", "K"))
"""


def _run(tmp_path: Path, source: str) -> subprocess.CompletedProcess:
    script = tmp_path / "chapter_file.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.run(
        [sys.executable, str(script)],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.parametrize("order", list(ORDERS))
def test_registering_a_library_name_again_is_an_error_naming_both_places(
    tmp_path, order
):
    done = _run(tmp_path, ORDERS[order] + OWN_SOFTMAX.format(override=""))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "nnmath.registry.RegistryConflict: formula 'softmax' is "
        "registered twice: by nnmath/library/activations.py:"
    )
    assert f"and again by {tmp_path / 'chapter_file.py'}:" in last
    assert "@register('softmax', override=True)" in last


@pytest.mark.parametrize("order", list(ORDERS))
def test_an_override_wins_whatever_was_imported_first(tmp_path, order):
    check = (
        """
    before = None
    """
        if order == "registry first"
        else """
    before = formula("softmax")  # built and cached before the override
    assert "shifted" in before.title
    """
    )
    done = _run(
        tmp_path,
        ORDERS[order]
        + textwrap.dedent(check)
        + OWN_SOFTMAX.format(override=", override=True")
        + textwrap.dedent("""
    f = formula("softmax")
    assert f.title == "my softmax", f.title
    # claims about softmax, and formulas built from it, are rebuilt on the new one
    assert claim("softmax'").formula is f
    import numpy as np
    np.testing.assert_allclose(f.numpy(z=np.array([[1.0, 2.0]])).sum(), 1.0)
    print("override wins")
    """),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "override wins"


@pytest.mark.parametrize("order", list(ORDERS))
def test_a_claim_stated_again_is_an_error_unless_overridden(tmp_path, order):
    claims = """
    import sympy as sp
    from nnmath import Claim
    from nnmath.library.activations import z

    @register_claims{how}
    def mine():
        s = 1 / (1 + sp.exp(-z))
        return [Claim("sigmoid'", formula("sigmoid"), "z", s * (1 - s), "mine")]

    print(claim("sigmoid'").text)
    """
    bad = _run(tmp_path, ORDERS[order] + textwrap.dedent(claims.format(how="")))
    assert bad.returncode == 1
    last = bad.stderr.strip().splitlines()[-1]
    assert (
        'claim "sigmoid\'" is registered twice: by nnmath/library/activations.py:'
        in last
    )
    assert f"and again by {tmp_path / 'chapter_file.py'}:" in last
    assert "@register_claims(override=True)" in last

    good = _run(
        tmp_path, ORDERS[order] + textwrap.dedent(claims.format(how="(override=True)"))
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "mine"


def test_a_conflict_in_a_chapter_file_is_one_line_naming_the_file(tmp_path, nnbook):
    source = (
        ORDERS["registry first"]
        + OWN_SOFTMAX.format(override="")
        + textwrap.dedent("""
    from chapters import Chapter
    CHAPTER = Chapter(number=95, slug="mine", title="Mine", module=__name__,
                      formulas=("softmax",), claims=(), scenes=())
    """)
    )
    (tmp_path / "mine.py").write_text(source)
    done = nnbook("verify", "mine.py", "--no-tf", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(
        "Error: cannot load chapter file mine.py: RegistryConflict: "
        "formula 'softmax' is registered twice"
    )


def test_the_same_definition_executed_again_is_no_conflict():
    # e.g. a chapter file imported under two module names: one place, one formula
    def builder():
        return registry.formula("sigmoid")

    name = "test_registry_same_place"
    try:
        register(name)(builder)
        register(name)(builder)
        with pytest.raises(RegistryConflict, match="registered twice"):
            register(name)(lambda: registry.formula("tanh"))
    finally:
        registry._BUILDERS.pop(name, None)
        registry._ORIGIN.pop(name, None)


def test_register_claims_works_bare_and_with_arguments():
    def bare():
        return []

    try:
        assert register_claims(bare) is bare
        assert register_claims(override=True)(bare) is bare
    finally:
        registry._CLAIM_BUILDERS[:] = [
            (b, o) for b, o in registry._CLAIM_BUILDERS if b is not bare
        ]
