"""fastmlp against its peers, side by side in ONE process: seconds per
training epoch of the tutorial network on 48,000 MNIST images.

    python benches/compare.py [--rounds 5] [--torch]

Prints the median of ``--rounds`` epochs per system (after one warm-up
epoch) and each system's time relative to fastmlp float32. PyTorch is
included when installed (``pip install torch==2.13.0``).
OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE, when set, can slow numpy's BLAS: the
table's header says which are set.
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

sys.path.insert(0, os.path.dirname(__file__))

from _data import blas_environment_note, tutorial_training_set  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp._threads import effective_n_threads  # noqa: E402

TUTORIAL = dict(hidden_layer_sizes=(128, 64), activation="relu", solver="adam",
                alpha=0.0, batch_size=256, learning_rate_init=1e-3, random_state=0)


def time_partial_fit_epochs(model, X, y, rounds):
    classes = np.unique(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.partial_fit(X, y, classes=classes)  # warm-up epoch
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            model.partial_fit(X, y)
            times.append(time.perf_counter() - start)
    return times


def time_torch_epochs(X, y, rounds):
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
        torch.nn.ReLU(), torch.nn.Linear(64, 10),
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    times = []
    for epoch in range(rounds + 1):
        start = time.perf_counter()
        order = torch.randperm(len(X_t))
        for i in range(0, len(X_t), 256):
            idx = order[i : i + 256]
            optimizer.zero_grad()
            loss = loss_fn(model(X_t[idx]), y_t[idx])
            loss.backward()
            optimizer.step()
        if epoch:  # the first epoch is the warm-up
            times.append(time.perf_counter() - start)
    return times, torch.__version__, torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--torch", action="store_true", help="require PyTorch")
    args = parser.parse_args()

    X, y, description = tutorial_training_set()
    import sklearn

    print(f"data: {description}, X {X.shape} float32")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{blas_environment_note()}")
    print(f"fastmlp {fastmlp.__version__} ({effective_n_threads()} OpenMP threads), "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
    rows = []
    for dtype in (np.float32, np.float64):
        Xd = X.astype(dtype)
        rows.append((f"fastmlp {np.dtype(dtype).name}", time_partial_fit_epochs(
            fastmlp.MLPClassifier(dtype=dtype, **TUTORIAL), Xd, y, args.rounds)))
        rows.append((f"scikit-learn {np.dtype(dtype).name}", time_partial_fit_epochs(
            SklearnMLP(**TUTORIAL), Xd, y, args.rounds)))
    try:
        times, version, threads = time_torch_epochs(X, y, args.rounds)
        rows.append((f"PyTorch {version} eager ({threads} threads)", times))
    except ImportError:
        if args.torch:
            raise
        print("PyTorch not installed: skipped (pip install torch==2.13.0)")

    reference = statistics.median(rows[0][1])
    print(f"\n{'system':<36} {'s/epoch (median)':>17} {'min':>7} {'vs fastmlp f32':>15}")
    for name, times in rows:
        median = statistics.median(times)
        print(f"{name:<36} {median:>17.3f} {min(times):>7.3f} {median / reference:>14.2f}x")


if __name__ == "__main__":
    main()
