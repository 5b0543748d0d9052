"""Benchmark data: the tutorial's 48,000 MNIST training images when
$FASTMLP_DATA has them, else random data of the same shape (said so)."""

import os

import numpy as np

from fastmlp.datasets import DatasetNotFoundError, load_mnist

N_FIT = 48000


def tutorial_training_set():
    """Return (X, y, description): the first 48,000 MNIST training images."""
    try:
        data = load_mnist(download=False)
        return data.X_train[:N_FIT], data.y_train[:N_FIT], f"MNIST ({data.source})"
    except DatasetNotFoundError:
        rng = np.random.default_rng(0)
        X = rng.random((N_FIT, 784), dtype=np.float32)
        y = rng.integers(0, 10, N_FIT)
        return X, y, "random data of MNIST's shape (set FASTMLP_DATA for real MNIST)"


def blas_environment_note():
    names = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
             "OPENBLAS_NUM_THREADS")
    set_vars = [f"{n}={os.environ[n]}" for n in names if n in os.environ]
    return ", ".join(set_vars) if set_vars else "no BLAS/OpenMP variables set"
