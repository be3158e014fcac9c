"""Index and dimension symbols shared by the formula modules."""

from __future__ import annotations

from ..formula import dims, indices

n, i, j, k = indices("n i j k")
N, I, J, K = dims("N I J K")
