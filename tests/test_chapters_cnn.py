"""Chapters 7 and 8 and the CNN: the numbers on screen are nnmath's numbers, the
data is real, the trained network's accuracy is a real evaluation, and its
backward pass (chained from the claims) is the true gradient.

Fast tests need neither TensorFlow nor rendering; the network is trained once
per process (about 3 s) by :func:`nnmath.runs.cnn.trained`.
"""

from __future__ import annotations

import numpy as np
import pytest

from chapters import chapter7, chapter8
from helpers import assert_close_to_tensorflow
from nnmath.registry import claim, formula
from nnmath.runs.cnn import CNN, digits_split, trained
from nnmath.worked import fmt


@pytest.fixture(scope="module")
def ex7():
    return chapter7.example()


@pytest.fixture(scope="module")
def ex8():
    return chapter8.example()


# -- chapter 7 ---------------------------------------------------------------------
def test_the_digit_is_a_real_sklearn_digit_from_the_cnn_test_split(ex7):
    from sklearn.datasets import load_digits

    digits = load_digits()
    np.testing.assert_array_equal(ex7["digit"], digits.images[chapter7.SAMPLE])
    assert ex7["target"] == digits.target[chapter7.SAMPLE] == 0
    np.testing.assert_array_equal(ex7["patch"], ex7["digit"][chapter7.PATCH])
    assert chapter7.SAMPLE in digits_split().test_index  # never trained on
    prose = chapter7.CHAPTER.prose
    assert f"#{chapter7.SAMPLE}, a zero" in prose


@pytest.mark.parametrize(
    "key, stride, padding", [("valid", 1, "valid"), ("same", 2, "same")]
)
def test_grid_outputs_are_the_conv2d_formula(ex7, key, stride, padding):
    data = ex7[key]
    f = formula("conv2d", stride=stride, padding=padding, bias=False)
    expected = f.numpy(x=data["x"][None], w=data["w"][..., None])[0, ..., 0]
    np.testing.assert_array_equal(data["out"], expected)
    assert data["out"].shape == (3, 3)  # 5×5: 'valid' 3×3; stride 2 'same' ⌈5/2⌉
    # the written rows read the zero border and end with the very same numbers
    np.testing.assert_array_equal(data["written_values"][:1, :2], data["out"][:1, :2])
    for (i, j), row in zip(((0, 0), (0, 1)), data["written"]):
        assert row.endswith(f"= {fmt(data['out'][i, j], 0)}")
        assert row.count(r"\cdot") == 9  # one product per kernel tap


def test_it_is_cross_correlation_and_true_convolution_flips_the_sign(ex7):
    """What the prose says: conv2d is scipy's correlate2d; convolve2d flips the
    kernel, which for the antisymmetric Sobel kernel flips the sign."""
    from scipy.signal import convolve2d, correlate2d

    patch, out = ex7["patch"], ex7["valid"]["out"]
    np.testing.assert_array_equal(out, correlate2d(patch, chapter7.SOBEL_X, "valid"))
    np.testing.assert_array_equal(out, -convolve2d(patch, chapter7.SOBEL_X, "valid"))


def test_windows_sit_where_tensorflow_puts_them(ex7):
    # stride 1, no padding: window (i, j) starts at (i, j); stride 2 with 'same'
    # on 5 rows and a 3-row kernel pads (3 - 1) * 2 + 3 - 5 = 2 rows, 1 on top.
    assert ex7["valid"]["origins"] == [(i, j) for i in range(3) for j in range(3)]
    assert ex7["same"]["origins"] == [
        (2 * i - 1, 2 * j - 1) for i in range(3) for j in range(3)
    ]
    assert chapter7.border(ex7["same"]) == (1, 1, 1, 1)
    assert chapter7.border(ex7["valid"]) == (0, 0, 0, 0)


def test_footprints_are_the_cells_an_output_depends_on():
    f = formula("conv2d", stride=2, padding="same")
    cover = chapter7.footprints(f, 6, 5, (3, 3))
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(1, 6, 5, 1)), rng.normal(size=(3, 3, 1, 1))
    base = f.numpy(x=x, w=w, b=np.zeros(1))[0, ..., 0]
    for r, c in [(0, 0), (2, 3), (5, 4)]:
        bumped = x.copy()
        bumped[0, r, c, 0] += 1.0
        changed = f.numpy(x=bumped, w=w, b=np.zeros(1))[0, ..., 0] != base
        np.testing.assert_array_equal(changed, cover[:, :, r, c])


def test_channel_partial_sums_add_up_to_the_output(ex7):
    data = ex7["channels"]
    f = formula("conv2d")
    full = f.numpy(x=data["x"][None], w=data["w"][..., None], b=np.array([data["b"]]))[
        0, ..., 0
    ]
    np.testing.assert_array_equal(data["out"], full)
    np.testing.assert_allclose(
        data["partials"].sum(axis=0) + data["b"], full, atol=1e-12
    )
    p0, p1 = data["partials"][:, 0, 0]
    line = chapter7.channel_sum(data)
    assert line.startswith("p_0 + p_1 + b = ")
    assert line.endswith(f"= {fmt(data['out'][0, 0], 0)}")
    assert f"{fmt(p0, 0)} + {fmt(p1, 0)} + {fmt(data['b'], 0)}" in line
    for c, text in enumerate(data["partials_written"]):
        assert text.endswith(f"= {fmt(data['partials'][c, 0, 0], 0)}")


def test_edge_maps_are_sobel_derivatives_and_zero_on_flat_background(ex7):
    from scipy import ndimage

    image, maps = ex7["digit"], ex7["edges"]["maps"]
    for ch, axis in ((0, 1), (1, 0)):  # x: along columns, y: along rows
        expected = ndimage.sobel(image, axis=axis, mode="constant", cval=0.0)
        np.testing.assert_allclose(maps[..., ch], expected, atol=1e-12)
    # flat neighbourhoods give exactly 0; the zero's left stroke gets brighter to
    # the right (positive) and its inner edge darker (negative)
    padded = np.pad(image, 1)
    flat = np.array(
        [
            [np.ptp(padded[r : r + 3, c : c + 3]) == 0 for c in range(8)]
            for r in range(8)
        ]
    )
    assert flat.any() and np.all(maps[flat] == 0)
    gx = maps[..., 0]
    assert gx[:, :2].max() == gx.max() > 0 and gx[:, 2:5].min() == gx.min() < 0
    assert f"{fmt(gx.max(), 0)}" in chapter7.CHAPTER.prose


def test_prose_placeholders_resolve_to_the_checked_latex():
    for chapter, names in (
        (chapter7, ("conv2d/dx", "conv2d/dw")),
        (chapter8, ("max_pool2d/dx",)),
    ):
        prose = chapter.CHAPTER.prose
        # every equation placeholder filled ({{scene:…}} places a video, on the site)
        assert "{{formula:" not in prose and "{{claim:" not in prose
        for name in names:
            assert f"$${claim(name).latex}$$" in prose
    assert f"$${formula('conv2d').latex}$$" in chapter7.CHAPTER.prose


# -- chapter 8: pooling and flatten --------------------------------------------------
def test_pooling_numbers_are_nnmath_numbers_with_no_ties(ex8):
    pool = ex8["pool"]
    x = pool["x"][None]
    np.testing.assert_array_equal(
        pool["max"], formula("max_pool2d", pool_size=2, stride=2).numpy(x=x)[0]
    )
    np.testing.assert_allclose(
        pool["avg"],
        formula("avg_pool2d", pool_size=2, stride=2).numpy(x=x)[0],
        atol=1e-12,
    )
    windows = pool["x"].reshape(2, 2, 2, 2, -1).transpose(0, 2, 1, 3, 4)
    top = windows.reshape(2, 2, 4, -1)
    assert np.all((top == top.max(axis=2, keepdims=True)).sum(axis=2) == 1)
    np.testing.assert_allclose(pool["avg"], top.mean(axis=2), atol=1e-12)


def test_max_pool_gradient_goes_only_to_each_window_max(ex8):
    pool = ex8["pool"]
    routed = pool["routed"]
    for ch in range(routed.shape[-1]):
        for a in range(2):
            for b in range(2):
                win = pool["x"][2 * a : 2 * a + 2, 2 * b : 2 * b + 2, ch]
                got = routed[2 * a : 2 * a + 2, 2 * b : 2 * b + 2, ch]
                expected = np.where(win == win.max(), pool["g"][a, b], 0.0)
                np.testing.assert_array_equal(got, expected)


def test_flatten_is_row_major_with_channels_adjacent(ex8):
    pool = ex8["pool"]
    np.testing.assert_array_equal(pool["flat"], pool["max"].reshape(-1))
    assert pool["flat"][1] == pool["max"][0, 0, 1]  # the next channel, same pixel


def test_conv_gradient_reaches_exactly_the_window_with_the_kernel(ex8):
    r = ex8["conv_routing"]
    (i, j), (i2, j2) = r["traced"]
    expected = np.zeros_like(r["dx_one"])
    expected[i - 1 : i + 2, j - 1 : j + 2] = r["w"]  # 'same', 3×3: window at (i-1, j-1)
    np.testing.assert_allclose(r["dx_one"], expected, atol=1e-12)
    expected[i2 - 1 : i2 + 2, j2 - 1 : j2 + 2] += r["w"]  # overlapping cells add
    np.testing.assert_allclose(r["dx_both"], expected, atol=1e-12)


# -- the CNN ---------------------------------------------------------------------------
def test_reported_accuracy_is_an_actual_evaluation_on_held_out_digits(ex8):
    net = trained()
    probs = net.cnn.forward(net.params, net.split.x_test)["p"]
    recomputed = float(np.mean(np.argmax(probs, axis=1) == net.split.y_test))
    assert net.test_accuracy == recomputed == ex8["cnn"]["test_accuracy"]
    assert 0.93 < net.test_accuracy <= 1.0
    assert len(net.split.y_test) == ex8["cnn"]["test_size"] == 450
    assert net.losses[-1] < net.losses[0] / 5  # it learned
    prose = chapter8.CHAPTER.prose
    assert f"test accuracy of {100 * net.test_accuracy:.1f} %" in prose
    assert f"on {len(net.split.y_train)} of scikit-learn's 1797 digits" in prose
    assert f"for {net.epochs} epochs of mini-batches of {net.batch}" in prose
    p = net.params
    assert f"8·9 + 8 = {p['w'].size + p['b'].size} convolution weights" in prose
    assert f"128·10 + 10 = {p['W'].size + p['c'].size} dense weights" in prose


def test_the_cnn_example_is_its_forward_pass_on_the_chapter7_digit(ex7, ex8):
    cnn_ex, net = ex8["cnn"], trained()
    np.testing.assert_array_equal(cnn_ex["x"] * 16, ex7["digit"])
    x = cnn_ex["x"][None, ..., None]
    z1 = formula("conv2d", padding="same").numpy(
        x=x, w=net.params["w"], b=net.params["b"]
    )[0]
    np.testing.assert_allclose(cnn_ex["z1"], z1, atol=1e-12)
    np.testing.assert_allclose(cnn_ex["a1"], np.maximum(z1, 0), atol=1e-12)
    assert cnn_ex["p"].sum() == pytest.approx(1.0)
    assert cnn_ex["predicted"] == int(np.argmax(cnn_ex["p"]))


def _finite_difference_check(cnn: CNN, seed: int = 1) -> float:
    """Worst relative error of ``cnn.backward`` against central differences of the
    loss, over a few entries of every weight, on 4 real digits."""
    split = digits_split()
    rng = np.random.default_rng(seed)
    params = cnn.init(rng)
    params["b"] = rng.normal(0, 0.1, size=params["b"].shape)  # away from ReLU's kink
    x, y = split.x_train[:4], np.eye(10)[split.y_train[:4]]
    grads = cnn.backward(params, cnn.forward(params, x), y)
    worst, h = 0.0, 1e-6
    for name, value in params.items():
        for flat in rng.choice(value.size, size=min(6, value.size), replace=False):
            idx = np.unravel_index(flat, value.shape)
            losses = []
            for step in (h, -h):
                bumped = {k: v.copy() for k, v in params.items()}
                bumped[name][idx] += step
                losses.append(cnn.loss(cnn.forward(bumped, x), y))
            numeric = (losses[0] - losses[1]) / (2 * h)
            err = abs(numeric - grads[name][idx]) / max(abs(numeric), 1e-4)
            worst = max(worst, err)
    return worst


def test_backward_pass_chained_from_claims_matches_finite_differences():
    assert _finite_difference_check(CNN()) < 1e-5


class _ForgetsRelu(CNN):
    """A deliberately wrong backward pass: it skips ReLU's derivative."""

    def backward(self, params, acts, y):
        return super().backward(params, {**acts, "z1": np.abs(acts["z1"]) + 1.0}, y)


class _AveragesInsteadOfMax(CNN):
    """A deliberately wrong backward pass: it routes through the avg-pool claim."""

    def _claim(self, name, built):
        if name == "max_pool2d/dx":
            return claim("avg_pool2d/dx").gradient
        return super()._claim(name, built)


@pytest.mark.parametrize("wrong", [_ForgetsRelu, _AveragesInsteadOfMax])
def test_finite_differences_catch_a_wrong_backward_pass(wrong):
    assert _finite_difference_check(wrong()) > 1e-2


def test_a_claim_about_other_parameters_is_refused():
    cnn = CNN()
    with pytest.raises(ValueError, match="network uses"):
        cnn._claim("conv2d/dx.strided", cnn.conv)


@pytest.mark.tf
def test_cnn_loss_and_gradients_match_tensorflow():
    from nnmath.checker.oracle import tensorflow

    tf = tensorflow()
    cnn, split = CNN(), digits_split()
    rng = np.random.default_rng(2)
    params = cnn.init(rng)
    params["b"] = rng.normal(0, 0.1, size=params["b"].shape)
    x, y = split.x_train[:16], np.eye(10)[split.y_train[:16]]
    acts = cnn.forward(params, x)
    grads = cnn.backward(params, acts, y)
    t = {k: tf.Variable(v, dtype=tf.float64) for k, v in params.items()}
    with tf.GradientTape() as tape:
        z1 = tf.nn.conv2d(tf.constant(x), t["w"], strides=1, padding="SAME") + t["b"]
        p1 = tf.nn.max_pool2d(tf.nn.relu(z1), ksize=2, strides=2, padding="VALID")
        z2 = tf.matmul(tf.reshape(p1, [len(x), -1]), t["W"], transpose_b=True) + t["c"]
        loss = tf.reduce_mean(
            tf.keras.losses.categorical_crossentropy(y, z2, from_logits=True)
        )
    expected = tape.gradient(loss, t)
    assert_close_to_tensorflow(
        cnn.loss(acts, y), float(loss), "tensorflow-forward", "float64", what="loss"
    )
    for k in params:
        assert_close_to_tensorflow(
            grads[k], expected[k].numpy(), "tensorflow-gradient", "float64", what=k
        )


# -- rendering -------------------------------------------------------------------------
@pytest.mark.render
def test_edge_scene_renders_at_low_quality(tmp_path):
    from helpers import video_facts
    from publishing.render import render_scene

    path = render_scene(chapter7.CHAPTER, "EdgeScene", quality="l", out_dir=tmp_path)
    assert path == tmp_path / "chapter7" / "EdgeScene.mp4"
    assert path.is_file()
    width, height, duration, middle = video_facts(path)
    assert (width, height) == (854, 480)
    assert 5 < duration < 25
    assert middle.std() > 20, "the middle frame is blank"


# -- the grid blocks (no rendering) ------------------------------------------------
def test_grid_cells_are_addressed_in_input_coordinates_with_padding():
    from chapters.blocks.grid import NumberGrid

    grid = NumberGrid(np.arange(6.0).reshape(2, 3), pad=(1, 1, 1, 1), cell=0.5)
    assert len(grid.cells) == 6 and len(grid.padding) == 4 * 5 - 6
    left, right = grid.cell(0, -1), grid.cell(0, 0)
    assert right.get_x() - left.get_x() == pytest.approx(0.5)
    assert grid.cell(-1, 0).get_y() - right.get_y() == pytest.approx(0.5)
    assert grid.number(1, 2).get_center() == pytest.approx(grid.cell(1, 2).get_center())
    frame = grid.window(-1, -1, 3, 3)
    assert frame.width == pytest.approx(1.5) and frame.height == pytest.approx(1.5)
    with pytest.raises(IndexError, match=r"valid rows -1\.\.2, columns -1\.\.3"):
        grid.cell(3, 0)
    with pytest.raises(ValueError, match="valid"):
        NumberGrid(np.zeros((2, 2)), pad=(1, 2))


def test_colours_show_sign_and_intensity():
    from manim import color_to_rgb

    from chapters.blocks import COLORS
    from chapters.blocks.grid import to_rgb, value_range

    signed = np.array([[-4.0, 0.0, 2.0, 4.0]])
    lo, hi, is_signed = value_range(signed)
    assert (lo, hi, is_signed) == (-4.0, 4.0, True)
    rgb = to_rgb(signed, lo, hi, is_signed)[0]
    np.testing.assert_array_equal(rgb[1], [0, 0, 0])  # zero is black
    red = np.round(color_to_rgb(COLORS["negative"]) * 255)
    blue = np.round(color_to_rgb(COLORS["positive"]) * 255)
    np.testing.assert_array_equal(rgb[0], red)
    np.testing.assert_array_equal(rgb[3], blue)
    np.testing.assert_array_equal(rgb[2], np.round(blue / 2))
    pixels = np.array([[0.0, 8.0, 16.0]])
    grey = to_rgb(pixels, *value_range(pixels, vmin=0, vmax=16))[0]
    np.testing.assert_array_equal(grey[:, 0], [0, 128, 255])
    assert np.all(grey == grey[:, :1])
