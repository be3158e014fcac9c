"""The machine facts a benchmark's ratios depend on, printed with them."""

from __future__ import annotations

import os
import platform

import numpy as np

# threadpoolctl comes with scikit-learn, which nnbook requires for its data
from threadpoolctl import threadpool_info


def describe(blas_threads: str = "") -> None:
    """Cores (and how busy they are), Python, NumPy, its BLAS and its threads.
    ``blas_threads`` says how the benchmark limits them, if it does."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(
        f"machine: {os.cpu_count()} cores ({cores} usable), load average "
        f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, "
        f"NumPy {np.__version__}"
    )
    for pool in threadpool_info():
        if pool.get("user_api") == "blas":
            print(
                f"BLAS: {pool.get('internal_api')} {pool.get('version')}, "
                f"{pool.get('num_threads')} threads{blas_threads}, kernel "
                f"{pool.get('architecture')}"
                + (
                    f" (OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']})"
                    if "OPENBLAS_CORETYPE" in os.environ
                    else ""
                )
            )
    print("libraries: " + ", ".join(_versions()))


#: the libraries a benchmark's figures depend on, as installed (read from their
#: metadata: nothing is imported)
LIBRARIES = (
    "sympy",
    "symengine",
    "scipy",
    "tensorflow-cpu",
    "tensorflow",
    "keras",
    "manim",
)


def _versions() -> list[str]:
    from importlib import metadata

    found = []
    for name in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pass
    return found
