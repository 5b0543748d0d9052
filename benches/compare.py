"""fastmlp against its peers, side by side in ONE process.

    python benches/compare.py [--rounds 5] [--epochs 4] [--batch-size 256] [--torch]

For the tutorial network (784-128-64-10 ReLU, Adam 1e-3) on 48,000 MNIST
images (random data of that shape without $FASTMLP_DATA), it prints:

* seconds per training epoch, steady state: (fit of 1+E epochs - fit of 1
  epoch) / E, so data validation and set-up are not counted for any system
  (PyTorch: E epochs after a warm-up epoch); fastmlp, scikit-learn (float32,
  float64), a PyTorch eager loop (when installed: ``pip install
  torch==2.13.0``) and a plain NumPy implementation. ``--rounds`` rounds go
  round-robin over the systems; the best and the median round of each, and
  each one's time relative to fastmlp float32;
* fastmlp's achieved GFLOP/s against the single-thread sgemm rate measured
  here on the batch's largest product;
* prediction throughput on the 10,000 test images and one-image latency.

OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, when set, slow numpy's BLAS: the header
says which are set. Benchmarks, not tests: numbers vary with the machine's load.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier as SklearnMLP
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(__file__))

from _data import blas_environment_note, tutorial_training_set  # noqa: E402
from _numpy_mlp import NumpyMLP  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp._threads import effective_n_threads  # noqa: E402

HIDDEN = (128, 64)


def flops_per_epoch(n_samples, units=(784, 128, 64, 10)):
    """Forward, weight gradients, and input gradients of every layer but the first."""
    pairs = list(zip(units[:-1], units[1:]))
    per_sample = 2 * sum(a * b for a, b in pairs) * 2 + 2 * sum(a * b for a, b in pairs[1:])
    return per_sample * n_samples


def steady_epoch_seconds(make, X, y, epochs):
    """(fit(1 + epochs) - fit(1)) / epochs: one round's seconds per epoch."""
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for n_epochs in (1, 1 + epochs):
            model = make(n_epochs)
            start = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - start)
    return (times[1] - times[0]) / epochs


def settle():
    """Let the previous system's idle threads stop spinning before the next
    one is timed: OpenBLAS's workers busy-wait for a while (up to ~0.1 s)
    after their last job, and on 2 cores they would take one from the next
    system (measured: fastmlp's predict right after scikit-learn's fit ran
    at 0.65x its speed)."""
    time.sleep(0.5)


def predict_figures(predict, X_test):
    """(predictions per second on X_test, seconds for one image)."""
    predict(X_test[:10])
    bulk = min(_timed(lambda: predict(X_test)) for _ in range(15))
    one = X_test[:1].copy()
    single = min(_timed(lambda: [predict(one) for _ in range(200)]) for _ in range(5)) / 200
    return len(X_test) / bulk, single


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def sgemm_rate(batch_size):
    """GFLOP/s of numpy's sgemm on (batch x 784) @ (784 x 128), one thread and default."""
    rng = np.random.default_rng(0)
    a = rng.random((batch_size, 784), dtype=np.float32)
    b = rng.random((784, 128), dtype=np.float32)
    out = np.empty((batch_size, 128), dtype=np.float32)
    flops = 2 * batch_size * 784 * 128

    def rate():
        np.matmul(a, b, out=out)
        best = min(_timed(lambda: [np.matmul(a, b, out=out) for _ in range(50)])
                   for _ in range(5))
        return flops * 50 / best / 1e9

    with threadpool_limits(1, user_api="blas"):
        single = rate()
    return single, rate()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs per fit")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--torch", action="store_true", help="fail if PyTorch is missing")
    args = parser.parse_args()

    import sklearn

    X, y, description = tutorial_training_set()
    rng = np.random.default_rng(1)
    X_test = X[rng.choice(len(X), 10000, replace=False)]
    print(f"data: {description}; X {X.shape} float32; batch {args.batch_size}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs; "
          f"{blas_environment_note()}")
    print(f"fastmlp {fastmlp.__version__} ({effective_n_threads()} threads), "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")

    common = dict(hidden_layer_sizes=HIDDEN, batch_size=args.batch_size, alpha=0.0,
                  learning_rate_init=1e-3, random_state=0, tol=0.0,
                  n_iter_no_change=10**6)
    systems = {}
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        systems[f"fastmlp {np.dtype(dtype).name}"] = (
            lambda Xd=Xd, dtype=dtype: steady_epoch_seconds(
                lambda e: fastmlp.MLPClassifier(max_iter=e, dtype=dtype, **common),
                Xd, y, args.epochs))
        systems[f"scikit-learn {np.dtype(dtype).name}"] = (
            lambda Xd=Xd: steady_epoch_seconds(
                lambda e: SklearnMLP(max_iter=e, **common), Xd, y, args.epochs))
    systems["NumPy reference loop float32"] = lambda: steady_epoch_seconds(
        lambda e: NumpyMLP(HIDDEN, epochs=e, batch_size=args.batch_size), X, y,
        args.epochs)
    try:
        import torch
        from _torch_mlp import TorchMLP

        torch_mlp = TorchMLP(X, y, args.batch_size)
        torch_mlp.epoch()  # warm-up

        def torch_epoch_seconds():
            start = time.perf_counter()
            for _ in range(args.epochs):
                torch_mlp.epoch()
            return (time.perf_counter() - start) / args.epochs

        systems[f"PyTorch {torch.__version__} eager ({torch.get_num_threads()} thr)"] = (
            torch_epoch_seconds)
    except ImportError:
        if args.torch:
            raise
        torch_mlp = None
        print("PyTorch not installed: skipped (pip install torch==2.13.0)")

    # Rounds go round-robin over the systems, so that a burst of load from
    # the machine's other tenants hits one round of everyone rather than
    # every round of one system.
    times = {name: [] for name in systems}
    for _ in range(args.rounds):
        for name, measure in systems.items():
            settle()
            times[name].append(measure())
    best = {name: min(values) for name, values in times.items()}
    median = {name: statistics.median(values) for name, values in times.items()}
    reference = "fastmlp float32"
    print(f"\ntraining, seconds per epoch over {args.rounds} interleaved rounds "
          f"(best is the least disturbed; ratios to fastmlp float32)")
    print(f"{'system':<36} {'best':>7} {'ratio':>7} {'median':>8} {'ratio':>7}")
    for name in systems:
        print(f"{name:<36} {best[name]:>7.3f} {best[name] / best[reference]:>6.2f}x "
              f"{median[name]:>8.3f} {median[name] / median[reference]:>6.2f}x")
    models = {}
    single, default = sgemm_rate(args.batch_size)
    gflop = flops_per_epoch(len(X)) / 1e9
    print(f"\nfastmlp float32: {gflop:.1f} GFLOP per epoch -> "
          f"{gflop / best[reference]:.0f} GFLOP/s (best round); "
          f"sgemm ({args.batch_size}x784 @ 784x128) measured now: {single:.0f} GFLOP/s "
          f"on 1 thread, {default:.0f} GFLOP/s with BLAS's default threads")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        small = X[:5000], y[:5000]
        models["fastmlp float32"] = fastmlp.MLPClassifier(max_iter=1, **common).fit(*small)
        models["scikit-learn float32"] = SklearnMLP(max_iter=1, **common).fit(*small)
    predictors = {name: model.predict for name, model in models.items()}
    numpy_model = NumpyMLP(HIDDEN, epochs=1, batch_size=args.batch_size).fit(*small)
    predictors["NumPy reference float32"] = numpy_model.predict
    if torch_mlp is not None:
        predictors["PyTorch eager"] = torch_mlp.predict
    print("\nprediction (10,000 images; one image through predict)")
    print(f"{'system':<40} {'images/s':>10} {'one image':>10}")
    for name, predict in predictors.items():
        settle()
        throughput, single_seconds = predict_figures(predict, X_test)
        print(f"{name:<40} {throughput / 1e3:>9.0f}k {single_seconds * 1e6:>8.1f}us")


if __name__ == "__main__":
    main()
