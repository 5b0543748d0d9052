"""Helpers shared by the tests (tests/ is on sys.path via pyproject's pythonpath)."""

import os
from pathlib import Path

import numpy as np
import pytest

DTYPES = [np.float32, np.float64]
# Tolerances of a compiled kernel against its NumPy twin, per dtype.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 2e-6, np.float64: 1e-13}


def mnist_dir():
    """The real MNIST IDX folder from $FASTMLP_DATA, or skip the test."""
    root = os.environ.get("FASTMLP_DATA")
    if not root:
        pytest.skip("FASTMLP_DATA is not set: no real MNIST files to test on")
    folder = Path(root) / "mnist"
    if not folder.is_dir():
        pytest.skip(f"FASTMLP_DATA={root} has no mnist/ folder")
    return folder
