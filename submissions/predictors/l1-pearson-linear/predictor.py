"""L1-regularised Pearson-maximising linear predictor of Demystifying Mergeability.

Features are the 28 pairwise metrics, min-max scaled to [-1, 1] with training-fold
statistics; weights (no intercept) minimise -Pearson(Xw, y) + lam * ||w||_1 with Adam
(lr 0.01, init N(0, 0.1^2), up to 2000 steps, stopping after 100 steps without a better
loss, keeping the best weights); weights below 1e-3 in magnitude are then zeroed.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.predictors.metrics import DEMYSTIFYING_METRICS


class L1PearsonLinear:
    works_from = "metrics"

    def __init__(self, lam: float = 1.0, lr: float = 0.01, max_steps: int = 2000, patience: int = 100,
                 threshold: float = 1e-3, seed: int = 0, metrics: tuple[str, ...] = DEMYSTIFYING_METRICS):
        self.lam, self.lr, self.max_steps, self.patience = lam, lr, max_steps, patience
        self.threshold, self.seed, self.metrics = threshold, seed, tuple(metrics)
        self.weights: np.ndarray | None = None

    def _features(self, pairs) -> np.ndarray:
        return np.array([[p.metrics[m] for m in self.metrics] for p in pairs], dtype=np.float64)

    def _scale(self, x: np.ndarray) -> np.ndarray:
        """To [-1, 1] by training-fold min and max; a missing value (NaN) goes to the middle, 0."""
        span = self.high - self.low
        scaled = np.where(span > 0, 2 * (x - self.low) / np.where(span > 0, span, 1) - 1, 0.0)
        return np.nan_to_num(scaled, nan=0.0)

    def fit(self, pairs, targets, method: str) -> None:
        raw = self._features(pairs)
        self.low, self.high = np.nanmin(raw, 0), np.nanmax(raw, 0)
        x = torch.tensor(self._scale(raw))
        y = torch.tensor(np.asarray(targets, dtype=np.float64))
        gen = torch.Generator().manual_seed(self.seed)
        w = (0.1 * torch.randn(x.shape[1], generator=gen, dtype=torch.float64)).requires_grad_(True)
        opt = torch.optim.Adam([w], lr=self.lr)
        best, best_w, stale = float("inf"), w.detach().clone(), 0
        for _ in range(self.max_steps):
            pred = x @ w
            pc, yc = pred - pred.mean(), y - y.mean()
            loss = -(pc @ yc) / (pc.norm() * yc.norm() + 1e-12) + self.lam * w.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if loss.item() < best - 1e-12:
                best, best_w, stale = loss.item(), w.detach().clone(), 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        weights = best_w.numpy()
        self.weights = np.where(np.abs(weights) < self.threshold, 0.0, weights)

    def predict(self, pairs, method: str) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("L1PearsonLinear.predict called before fit")
        return self._scale(self._features(pairs)) @ self.weights
