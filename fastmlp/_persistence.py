"""Saving and loading fitted models (joblib files, readable by ``joblib.load``)."""

import joblib


def save(model, path):
    """Write ``model`` to ``path`` with joblib; returns the path."""
    joblib.dump(model, path)
    return path


def load(path):
    """Load a model written by :func:`save` (or by ``joblib.dump``).

    Like any pickle, only load files you trust.
    """
    return joblib.load(path)
