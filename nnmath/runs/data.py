"""The real datasets the book trains on, from scikit-learn's bundled files.

The one module of nnmath that imports scikit-learn (as
:mod:`nnmath.checker.oracle` is the one that imports TensorFlow): the data ship
inside the package, so nothing is downloaded, ever.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BUNDLED", "bundled", "stratified_split"]

#: scikit-learn's bundled datasets
BUNDLED = ("iris", "digits")


def bundled(name: str):
    """The scikit-learn ``Bunch`` of ``iris`` or ``digits`` (data, target, names…)."""
    if name not in BUNDLED:
        raise ValueError(f"unknown dataset {name!r}; valid: {', '.join(BUNDLED)}")
    from sklearn import datasets

    return {"iris": datasets.load_iris, "digits": datasets.load_digits}[name]()


def stratified_split(target: np.ndarray, test_size: float, seed: int):
    """Train and test positions, each class split in the same proportion."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(target))
    return train_test_split(
        index, test_size=test_size, random_state=seed, stratify=target
    )
