"""A plain NumPy MLP (ReLU, softmax, Adam), the baseline a user could write
in an afternoon: what fastmlp's kernels are measured against."""

import numpy as np


class NumpyMLP:
    def __init__(self, hidden, epochs=1, batch_size=256, lr=1e-3, seed=0,
                 dtype=np.float32):
        self.hidden, self.epochs, self.batch_size, self.lr = hidden, epochs, batch_size, lr
        self.rng = np.random.default_rng(seed)
        self.dtype = dtype

    def fit(self, X, y):
        X = np.asarray(X, dtype=self.dtype)
        classes = np.unique(y)
        labels = np.searchsorted(classes, y)
        units = [X.shape[1], *self.hidden, len(classes)]
        self.W = [(self.rng.standard_normal((a, b)) * np.sqrt(2 / a)).astype(self.dtype)
                  for a, b in zip(units[:-1], units[1:])]
        self.b = [np.zeros(b, self.dtype) for b in units[1:]]
        params = self.W + self.b
        m = [np.zeros_like(p) for p in params]
        v = [np.zeros_like(p) for p in params]
        t = 0
        for _ in range(self.epochs):
            order = self.rng.permutation(len(X))
            for start in range(0, len(X), self.batch_size):
                idx = order[start : start + self.batch_size]
                xb, yb = X[idx], labels[idx]
                acts = [xb]
                for i, (W, b) in enumerate(zip(self.W, self.b)):
                    z = acts[-1] @ W + b
                    acts.append(np.maximum(z, 0) if i < len(self.W) - 1 else z)
                z = acts[-1] - acts[-1].max(1, keepdims=True)
                p = np.exp(z)
                p /= p.sum(1, keepdims=True)
                p[np.arange(len(yb)), yb] -= 1
                delta = p / len(yb)
                grads_W, grads_b = [], []
                for i in range(len(self.W) - 1, -1, -1):
                    grads_W.insert(0, acts[i].T @ delta)
                    grads_b.insert(0, delta.sum(0))
                    if i:
                        delta = (delta @ self.W[i].T) * (acts[i] > 0)
                t += 1
                step = self.lr * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
                for p_, g, m_, v_ in zip(params, grads_W + grads_b, m, v):
                    m_ *= 0.9
                    m_ += 0.1 * g
                    v_ *= 0.999
                    v_ += 0.001 * g * g
                    p_ -= step * m_ / (np.sqrt(v_) + 1e-8)
        self.classes_ = classes
        return self

    def predict(self, X):
        a = np.asarray(X, dtype=self.dtype)
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            a = a @ W + b
            if i < len(self.W) - 1:
                a = np.maximum(a, 0)
        return self.classes_[a.argmax(1)]
