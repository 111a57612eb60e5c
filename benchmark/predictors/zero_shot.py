"""Reusable zero-shot predictors that submissions can point their entry point at."""

from __future__ import annotations

import numpy as np

from ..seeding import text_seed


class SingleMetric:
    """Score = sign × one precomputed pairwise metric; ignores the merge method and the fit.

    A metric is NaN where it is undefined for a pair (the subspace overlaps of two experts that changed
    no matrix in common); `undefined` is the metric value such a pair gets instead. Left at None, the
    NaN stays and the harness refuses the predictions, naming the pair."""

    works_from = "metrics"

    def __init__(self, metric: str, sign: float = 1.0, undefined: float | None = None):
        self.metric, self.sign, self.undefined = metric, float(sign), undefined

    def predict(self, pairs, method: str) -> np.ndarray:
        missing = [p.id for p in pairs if self.metric not in p.metrics]
        if missing:
            raise KeyError(f"metric {self.metric!r} is not available for pair {missing[0]!r} on this suite")
        values = np.array([p.metrics[self.metric] for p in pairs], dtype=float)
        if self.undefined is not None:
            values[np.isnan(values)] = self.undefined
        return self.sign * values


class SingleMetricWithUpdates(SingleMetric):
    """A single-metric predictor that also scores single experts (Will-it-Merge's S(Δi) target)."""

    def __init__(self, metric: str, update_metric: str, sign: float = 1.0):
        super().__init__(metric, sign)
        self.update_metric = update_metric

    def predict_updates(self, updates, method: str) -> np.ndarray:
        return np.array([self.sign * u.metrics[self.update_metric] for u in updates], dtype=float)


class SeededRandom:
    """The floor: a fixed pseudo-random score per (pair, seed), independent of pair order."""

    works_from = "metrics"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def predict(self, pairs, method: str) -> np.ndarray:
        def draw(pair_id: str) -> float:
            return text_seed(self.seed, pair_id) / 2 ** 64

        return np.array([draw(p.id) for p in pairs])


class PredictionsFile:
    """A predictor run elsewhere: scores read from a CSV or parquet file (pair_id, method, score).

    A `method` of `*` applies a score to every method.
    """

    works_from = "metrics"

    def __init__(self, table):
        self.scores = {(str(r.pair_id), str(r.method)): float(r.score) for r in table.itertuples()}

    def predict(self, pairs, method: str) -> np.ndarray:
        out = []
        for p in pairs:
            key = (p.id, method) if (p.id, method) in self.scores else (p.id, "*")
            if key not in self.scores:
                raise KeyError(f"predictions file has no score for pair {p.id!r} and method {method!r} (nor '*')")
            out.append(self.scores[key])
        return np.array(out)
