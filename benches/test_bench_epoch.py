"""One training epoch of the tutorial network (784-128-64-10 ReLU, Adam,
batch 256) on 48,000 MNIST images: fastmlp vs scikit-learn, same data.

Run: ``pytest benches/ --benchmark-only`` (pytest-benchmark). Timings,
never assertions: compare the groups' tables.
"""

import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SklearnMLP

from fastmlp import MLPClassifier

from _data import blas_environment_note, tutorial_training_set

TUTORIAL = dict(hidden_layer_sizes=(128, 64), activation="relu", solver="adam",
                alpha=0.0, batch_size=256, learning_rate_init=1e-3, random_state=0)


@pytest.fixture(scope="module")
def mnist():
    return tutorial_training_set()


def _epoch_benchmark(benchmark, make, X, y, description):
    classes = np.unique(y)
    benchmark.extra_info["data"] = description
    benchmark.extra_info["environment"] = blas_environment_note()

    def setup():
        model = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X, y, classes=classes)  # warm up, allocate
        return (model,), {}

    def one_epoch(model):
        model.partial_fit(X, y)

    benchmark.pedantic(one_epoch, setup=setup, rounds=5, iterations=1)


BATCH_SIZES = [32, 256, 1024]


@pytest.mark.benchmark(group="epoch-mnist-784-128-64-10")
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_fastmlp(benchmark, mnist, dtype, batch_size):
    X, y, description = mnist
    X = X.astype(dtype)
    params = {**TUTORIAL, "batch_size": batch_size}
    _epoch_benchmark(benchmark, lambda: MLPClassifier(dtype=dtype, **params), X, y,
                     description)


@pytest.mark.benchmark(group="epoch-mnist-784-128-64-10")
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_sklearn(benchmark, mnist, dtype, batch_size):
    X, y, description = mnist
    X = X.astype(dtype)
    params = {**TUTORIAL, "batch_size": batch_size}
    _epoch_benchmark(benchmark, lambda: SklearnMLP(**params), X, y, description)


@pytest.fixture(scope="module")
def fitted(mnist):
    X, y, _ = mnist
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "fastmlp": MLPClassifier(max_iter=1, **TUTORIAL).fit(X[:5000], y[:5000]),
            "sklearn": SklearnMLP(max_iter=1, **TUTORIAL).fit(X[:5000], y[:5000]),
        }


@pytest.mark.benchmark(group="predict-10000-images")
@pytest.mark.parametrize("system", ["fastmlp", "sklearn"])
def test_predict_throughput(benchmark, mnist, fitted, system):
    X = mnist[0][:10000]
    benchmark(fitted[system].predict, X)


@pytest.mark.benchmark(group="predict-one-image")
@pytest.mark.parametrize("system", ["fastmlp", "sklearn"])
def test_predict_latency(benchmark, mnist, fitted, system):
    one = mnist[0][:1].copy()
    benchmark(fitted[system].predict, one)
