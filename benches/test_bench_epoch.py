"""The tutorial network (784-128-64-10 ReLU, Adam) on 48,000 MNIST images:
one training epoch (batch 32 to 1024, float32 and float64), prediction of
10,000 images and of one image, for fastmlp, scikit-learn, a plain NumPy
implementation and PyTorch (skipped without torch: ``pip install
torch==2.13.0``), same data.

Run: ``pytest benches/ --benchmark-only`` (pytest-benchmark). Timings,
never assertions: compare the groups' tables. ``python benches/compare.py``
puts the same systems side by side with ratios.
"""

import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier as SklearnMLP

from fastmlp import MLPClassifier

from _data import blas_environment_note, tutorial_training_set
from _numpy_mlp import NumpyMLP

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


def _timed_epochs(benchmark, epoch, description):
    benchmark.extra_info["data"] = description
    benchmark.extra_info["environment"] = blas_environment_note()
    epoch()  # warm-up
    benchmark.pedantic(epoch, rounds=5, iterations=1)


@pytest.mark.benchmark(group="epoch-mnist-784-128-64-10")
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_numpy(benchmark, mnist, dtype, batch_size):
    X, y, description = mnist
    X = X.astype(dtype)
    model = NumpyMLP((128, 64), epochs=1, batch_size=batch_size, dtype=dtype)
    _timed_epochs(benchmark, lambda: model.fit(X, y), description)


@pytest.mark.benchmark(group="epoch-mnist-784-128-64-10")
@pytest.mark.parametrize("batch_size", BATCH_SIZES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_epoch_torch(benchmark, mnist, dtype, batch_size):
    pytest.importorskip("torch", reason="PyTorch not installed: pip install torch==2.13.0")
    from _torch_mlp import TorchMLP

    X, y, description = mnist
    model = TorchMLP(X, y, batch_size=batch_size, dtype=dtype)
    _timed_epochs(benchmark, model.epoch, description)


SYSTEMS = ["fastmlp", "sklearn", "numpy", "torch"]


@pytest.fixture(scope="module")
def fitted(mnist):
    X, y, _ = mnist
    X, y = X[:5000], y[:5000]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        models = {
            "fastmlp": MLPClassifier(max_iter=1, **TUTORIAL).fit(X, y),
            "sklearn": SklearnMLP(max_iter=1, **TUTORIAL).fit(X, y),
            "numpy": NumpyMLP((128, 64), epochs=1).fit(X, y),
        }
    try:
        from _torch_mlp import TorchMLP
    except ImportError:
        return models
    models["torch"] = TorchMLP(X, y)
    models["torch"].epoch()
    return models


def _predictor(fitted, system):
    if system not in fitted:
        pytest.skip("PyTorch not installed: pip install torch==2.13.0")
    return fitted[system].predict


@pytest.mark.benchmark(group="predict-10000-images")
@pytest.mark.parametrize("system", SYSTEMS)
def test_predict_throughput(benchmark, mnist, fitted, system):
    X = mnist[0][:10000]
    benchmark(_predictor(fitted, system), X)


@pytest.mark.benchmark(group="predict-one-image")
@pytest.mark.parametrize("system", SYSTEMS)
def test_predict_latency(benchmark, mnist, fitted, system):
    one = mnist[0][:1].copy()
    benchmark(_predictor(fitted, system), one)
