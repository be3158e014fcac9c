"""Chapter 12, attention: the numbers on screen are the trained transformer's and
nnmath's, taken apart head by head by the registered formulas, and the book has
a gap in its numbering (chapters 10 and 11 come later) that nothing trips on.

Fast tests: no TensorFlow, no rendering.  The model is trained once per process
(a few seconds) by :func:`nnmath.runs.transformer.trained`.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import chapters
from chapters import chapter12
from nnmath.registry import formula
from nnmath.runs.transformer import BOOK_EPOCHS, corpus, heads, trained, zen
from nnmath.worked import fmt


@pytest.fixture(scope="module")
def ex():
    return chapter12.example()


# -- the weights on screen --------------------------------------------------------
def test_each_head_is_multi_head_attention_taken_apart(ex):
    run = trained()
    net, p = run.model, run.params
    for view in (ex["pattern"], ex["heads"]):
        h = view["h"][None]
        whole = net.mha.numpy(x=h, y=h, **net._attention_weights(p))[0]
        # the concatenated contexts through W_o flattened are Keras's sum over (h, e)
        np.testing.assert_allclose(view["out"], whole, rtol=0, atol=1e-14)
        np.testing.assert_array_equal(view["A"].sum(axis=2) > 0.999999, True)
        for head in range(net.heads):
            # the weights are those the contexts mix the values with
            np.testing.assert_allclose(
                view["A"][head] @ view["V"][head], view["C"][head], atol=1e-14
            )
            assert np.all(np.triu(view["A"][head], 1) == 0)  # exactly 0, not small
    # the heads' order matters: the same contexts swapped give another output
    view = ex["heads"]
    k = net.key_dim
    swapped = np.concatenate([view["C"][1], view["C"][0]], axis=1)
    moved = formula("dense").numpy(x=swapped, W=view["W_o"].T, b=p["b_o"])
    assert np.abs(moved - view["out"]).max() > 0.1
    np.testing.assert_array_equal(view["concat"][:, :k], view["C"][0])


def test_the_pattern_is_the_line_of_the_zen_encoded(ex):
    assert chapter12.LINE in zen().splitlines()
    chars = corpus()
    text = chapter12.LINE[: chapter12.PATTERN_CHARS]
    np.testing.assert_array_equal(ex["pattern"]["ids"], chars.encode(text))
    assert ex["pattern"]["A"].shape == (2, len(text), len(text))


def test_the_mask_is_minus_infinity_before_the_softmax(ex):
    mk = ex["mask"]
    # the softmax of the masked logits is the attention formula's weights
    np.testing.assert_allclose(mk["A"], mk["A_formula"], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mk["A"].sum(axis=1), 1.0, atol=1e-15)
    assert np.all(mk["A"][mk["late"]] == 0)
    # the printed error, masked after: rows short of 1 except the last (it sees all)
    sums = mk["after"].sum(axis=1)
    assert np.all(sums[:-1] < 0.99) and sums[-1] == pytest.approx(1.0)
    # the logits are q·k/√d_k of that head
    view = heads(trained(), chapter12.LINE[: chapter12.MASK_CHARS])
    q, kk = view["Q"][0], view["K"][0]
    np.testing.assert_allclose(mk["z"], q @ kk.T / 2.0, atol=1e-14)  # √4 = 2


def test_the_scaling_numbers_grow_like_root_dk_and_saturate(ex):
    sc = ex["scaling"]
    for width, root, raw, scaled in sc["rows"]:
        assert root == np.sqrt(width)
        assert 0.85 < raw / root < 1.15 and 0.85 < scaled < 1.15
        assert scaled == pytest.approx(raw / root)
    soft = formula("softmax")
    np.testing.assert_allclose(
        sc["unscaled"], soft.numpy(z=sc["logits"][None])[0], atol=1e-15
    )
    root = np.sqrt(chapter12.SATURATION_WIDTH)
    np.testing.assert_allclose(
        sc["scaled"], soft.numpy(z=sc["logits"][None] / root)[0], atol=1e-15
    )
    assert sc["unscaled"].max() > 0.9 > 0.5 > sc["scaled"].max()


def test_the_block_stream_is_the_models_forward_pass(ex):
    bl, run = ex["block"], trained()
    np.testing.assert_allclose(bl["r1"], bl["h"] + bl["attn"], atol=1e-14)
    np.testing.assert_allclose(bl["r2"], bl["u"] + bl["ffn"], atol=1e-14)
    text = chapter12.LINE[: chapter12.BLOCK_CHARS]
    assert run.model.sample(run.params, corpus(), text, 1) == text + bl["next"]


# -- the prose says what the run did ----------------------------------------------
def test_the_prose_reports_the_run_and_the_scenes_numbers(ex):
    run, prose = trained(), chapter12.CHAPTER.prose
    chars = corpus()
    assert len(run.losses) == BOOK_EPOCHS + 1 and run.losses[-1] < run.losses[0] / 2
    assert f"falls from {fmt(run.losses[0])} to\n**{fmt(run.losses[-1])}**" in prose
    assert f"The book's run is {BOOK_EPOCHS} epochs" in prose
    assert f"the Zen's {len(chars.alphabet)} characters" in prose
    assert f"{len(chars.windows[0])} windows of 16 characters" in prose
    assert f"read {len(zen())} characters" in prose
    weights = sum(v.size for v in run.params.values())
    assert prose.count(f"{weights} weights") == 2
    sample = run.model.sample(run.params, chars, "Now is better ", 16)
    assert f'"{sample[len("Now is better ") :]}' in prose.replace("\n", " ")
    assert f'guesses "{ex["block"]["next"]}"' in prose
    spreads = ", ".join(fmt(raw) for _, _, raw, _ in ex["scaling"]["rows"][:3])
    assert spreads in prose
    assert f"**{fmt(ex['scaling']['unscaled'].max())}**" in prose
    after = ex["mask"]["after"].sum(axis=1)
    assert ", ".join(fmt(s) for s in after[:-2]) in prose.replace("\n", " ")


# -- a gap in the numbering --------------------------------------------------------
@pytest.mark.parametrize("name", ["12", "chapter12", "attention"])
def test_chapter_twelve_resolves_after_chapter_eight(name):
    assert chapters.get(name) is chapter12.CHAPTER


def test_a_missing_number_is_unknown_and_the_message_lists_twelve():
    with pytest.raises(chapters.UnknownChapterError) as err:
        chapters.get("13")
    assert "chapter12 (attention)" in str(err.value)


def test_the_sites_links_skip_the_gap():
    from publishing.site import _links

    book = chapters.all_chapters()
    at = [ch.id for ch in book].index("chapter12")
    assert 'href="chapter12.html"' in _links(book, at - 1)
    assert f'href="{book[at - 1].id}.html"' in _links(book, at)


def test_nnbook_list_shows_chapter_twelve():
    from cli.main import cli

    out = CliRunner().invoke(cli, ["list"]).output
    assert "chapter12  attention    Attention" in out
