"""Peak memory a fit adds over the data it is given, fastmlp vs scikit-learn.

    python benches/memory.py

Fits the tutorial network for 2 epochs on the 48,000 float32 training
images and reports, per system, the process's peak resident memory during
the fit minus its resident memory just before (Linux: /proc/self/status,
peak reset through /proc/self/clear_refs).
"""

import os
import sys
import warnings

import numpy as np
from sklearn.neural_network import MLPClassifier as SklearnMLP

sys.path.insert(0, os.path.dirname(__file__))

from _data import tutorial_training_set  # noqa: E402

import fastmlp  # noqa: E402


def status_mib(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


def main():
    X, y, description = tutorial_training_set()
    X = np.ascontiguousarray(X, dtype=np.float32)
    print(f"data: {description}; X {X.shape} float32 = {X.nbytes / 2**20:.0f} MiB")
    params = dict(hidden_layer_sizes=(128, 64), batch_size=256, max_iter=2, random_state=0)
    for name, make in (("fastmlp", lambda: fastmlp.MLPClassifier(**params)),
                       ("scikit-learn", lambda: SklearnMLP(**params))):
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # the peak (VmHWM) restarts from the current RSS
        before = status_mib("VmRSS")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make().fit(X, y)
        peak = status_mib("VmHWM")
        print(f"{name:<13} RSS before fit {before:6.0f} MiB, peak during fit {peak:6.0f} MiB"
              f" (+{peak - before:.0f} MiB)")


if __name__ == "__main__":
    main()
