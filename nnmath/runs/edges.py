"""Chapter 7's digit and its Sobel edge maps, which chapter 8 pools, and where
each window of a convolution lies: all computed by the registered formulas.

The cells a window covers are found by running the formula itself on one-hot
images (:func:`footprints`), never by index arithmetic written again.
"""

from __future__ import annotations

import numpy as np

from ..registry import formula
from .data import bundled

__all__ = [
    "SAMPLE",
    "SOBEL_X",
    "SOBEL_Y",
    "digit",
    "edge_maps",
    "footprints",
    "origin",
    "sobel",
]

#: scikit-learn digit #1579 (the first zero of the CNN's test split): a zero has
#: a vertical stroke on each side, so a vertical-edge kernel has much to find
SAMPLE = 1579
#: Sobel kernels: the horizontal and the vertical brightness gradient
SOBEL_X = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.copy()


def digit() -> tuple[np.ndarray, int]:
    """The raw 8×8 image (integers 0..16) and its label."""
    digits = bundled("digits")  # bundled with scikit-learn
    return digits.images[SAMPLE].copy(), int(digits.target[SAMPLE])


def sobel() -> np.ndarray:
    """Both Sobel kernels as one conv2d kernel (3, 3, 1, 2)."""
    return np.stack([SOBEL_X, SOBEL_Y], axis=-1)[:, :, None, :]


def edge_maps(image: np.ndarray) -> np.ndarray:
    """The (H, W, 2) edge maps of an (H, W) image: conv2d with both Sobel
    kernels, stride 1, 'same' padding, zero bias."""
    conv = formula("conv2d", stride=1, padding="same", bias=True)
    return conv.numpy(x=image[None, ..., None], w=sobel(), b=np.zeros(2))[0]


def footprints(f, height: int, width: int, kernel: tuple[int, int]) -> np.ndarray:
    """``cover[i, j]``: the boolean (H, W) mask of input cells that output cell
    ``(i, j)`` reads, found by running the formula itself on one-hot images with
    an all-ones kernel (image ``r·W + c`` lights only cell ``(r, c)``)."""
    probes = np.eye(height * width).reshape(-1, height, width, 1)
    arrays = {"x": probes, "w": np.ones((*kernel, 1, 1)), "b": np.zeros(1)}
    out = f.numpy(**{k: arrays[k] for k in f.input_names})[..., 0]  # (H·W, OH, OW)
    return np.moveaxis(out, 0, -1).reshape(*out.shape[1:], height, width) > 0.5


def origin(mask: np.ndarray, kernel: tuple[int, int]) -> tuple[int, int]:
    """Top-left cell of a window from the input cells it covers; a window cut off
    at the top or left edge starts in the zero border (a negative index)."""
    rows, cols = np.nonzero(mask)
    r = rows.min() if rows.min() > 0 else rows.max() - kernel[0] + 1
    c = cols.min() if cols.min() > 0 else cols.max() - kernel[1] + 1
    return int(r), int(c)
