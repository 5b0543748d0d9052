"""Several fits at once: does fastmlp oversubscribe the CPUs?

    python benches/parallel_fits.py [--samples 12000] [--epochs 3]

A GridSearchCV over the tutorial network's activation (relu, tanh) with
2-fold CV is 4 fits. It runs them three ways, in one process:

* ``n_jobs=1``: one fit at a time, each on all of fastmlp's threads;
* ``n_jobs=2`` (joblib's default loky processes): two fits at a time;
* ``n_jobs=2`` with the threading backend: two fits in two Python threads
  of this process.

and prints the wall time of each and the OpenMP/BLAS threads that a fit
inside a worker sees (joblib limits them to cpu_count // n_jobs; fastmlp
follows that limit; fits in threads of one process divide fastmlp's
threads between them). If two parallel fits each used every core, the
n_jobs=2 rows would be far slower than n_jobs=1 (OpenMP threads that spin
while waiting make oversubscription expensive).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np
from joblib import Parallel, delayed, parallel_backend
from sklearn.model_selection import GridSearchCV
from threadpoolctl import threadpool_info

sys.path.insert(0, os.path.dirname(__file__))

from _data import blas_environment_note, tutorial_training_set  # noqa: E402

import fastmlp  # noqa: E402
from fastmlp._threads import effective_n_threads  # noqa: E402


def threads_seen():
    """(fastmlp's OpenMP threads, BLAS threads) inside the current worker."""
    blas = [info["num_threads"] for info in threadpool_info()
            if info["user_api"] == "blas"]
    return effective_n_threads(), blas


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()

    X, y, description = tutorial_training_set()
    X, y = X[: args.samples], y[: args.samples]
    print(f"data: {description}, first {len(X)} images; {os.cpu_count()} CPUs; "
          f"{blas_environment_note()}")
    estimator = fastmlp.MLPClassifier(hidden_layer_sizes=(128, 64), batch_size=256,
                                      max_iter=args.epochs, random_state=0)
    grid = {"activation": ["relu", "tanh"]}

    def search(n_jobs, backend=None):
        gs = GridSearchCV(estimator, grid, cv=2, n_jobs=n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            start = time.perf_counter()
            if backend is None:
                gs.fit(X, y)
            else:
                with parallel_backend(backend, n_jobs=n_jobs):
                    gs.fit(X, y)
            return time.perf_counter() - start, gs.cv_results_["mean_test_score"]

    # Warm-up: imports, first touch of the data, and loky's worker processes
    # (started once, then reused).
    search(1)
    search(2)
    rows = []
    for label, n_jobs, backend in (("n_jobs=1", 1, None), ("n_jobs=2, loky processes", 2, None),
                                   ("n_jobs=2, threads", 2, "threading")):
        seconds, scores = search(n_jobs, backend)
        if backend is None and n_jobs > 1:
            seen = Parallel(n_jobs=n_jobs)(delayed(threads_seen)() for _ in range(n_jobs))
        elif backend is None:
            seen = [threads_seen()]
        else:
            seen = ["OpenMP threads shared between the concurrent fits (fair_share)"]
        rows.append((label, seconds, scores, seen))
    base = rows[0][1]
    print(f"\nGridSearchCV, 4 fits of {args.epochs} epochs")
    print(f"{'run':<28} {'seconds':>8} {'vs n_jobs=1':>12}  scores; threads a fit sees")
    for label, seconds, scores, seen in rows:
        print(f"{label:<28} {seconds:>8.2f} {seconds / base:>11.2f}x  "
              f"{np.round(scores, 4).tolist()}; {seen[0]}")


if __name__ == "__main__":
    main()
