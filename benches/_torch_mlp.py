"""The PyTorch reference: the tutorial network as an eager nn.Sequential
trained by a plain Adam loop, shuffled each epoch (what a PyTorch user
writes). Imported only when torch is installed (``pip install torch==2.13.0``).
"""

import numpy as np
import torch


class TorchMLP:
    """784-128-64-10 ReLU, Adam(1e-3), cross-entropy; ``dtype`` float32/float64."""

    def __init__(self, X, y, batch_size=256, dtype=np.float32, seed=0):
        torch.manual_seed(seed)
        torch_dtype = torch.float32 if np.dtype(dtype) == np.float32 else torch.float64
        self.model = torch.nn.Sequential(
            torch.nn.Linear(X.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, 64),
            torch.nn.ReLU(), torch.nn.Linear(64, int(y.max()) + 1),
        ).to(torch_dtype)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss_fn = torch.nn.CrossEntropyLoss()
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=dtype))
        self.y = torch.from_numpy(y.astype(np.int64))
        self.batch_size = batch_size
        self.dtype = dtype

    def epoch(self):
        order = torch.randperm(len(self.X))
        for i in range(0, len(self.X), self.batch_size):
            idx = order[i : i + self.batch_size]
            self.optimizer.zero_grad()
            loss = self.loss_fn(self.model(self.X[idx]), self.y[idx])
            loss.backward()
            self.optimizer.step()

    def predict(self, X):
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(X, dtype=self.dtype))
            return self.model(batch).argmax(1).numpy()
