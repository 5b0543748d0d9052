"""fastmlp: scikit-learn's MLPClassifier on compiled Cython/OpenMP kernels."""

from fastmlp._mlp import MLPClassifier, TrainingDivergedError
from fastmlp._persistence import load, save

__version__ = "0.1.0"

__all__ = ["MLPClassifier", "TrainingDivergedError", "load", "save", "__version__"]
