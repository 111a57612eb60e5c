"""Leave-one-task-out scoring of mergeability predictors.

For each held-out task h, a predictor is fit on the pairs that do not contain h and
predicts the pairs that do; per fold we take Spearman and Pearson correlations with the
target, then their mean over folds (the ranking number is the mean per-fold Spearman), and
the pooled Spearman over every held-out prediction. Intervals: percentile bootstrap that
resamples pairs within each fold (so fold structure is kept), seeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats

from .records import FoldScore, LotoRecord

BOOTSTRAP_SAMPLES = 1000
# (train pair indices, test pair indices) -> predictions for the test pairs
# (train indices, test indices, held-out task) -> one prediction per test index
FitPredict = Callable[[np.ndarray, np.ndarray, str], np.ndarray]


@dataclass(frozen=True)
class Fold:
    task: str
    test_index: np.ndarray
    predictions: np.ndarray
    targets: np.ndarray

    @property
    def spearman(self) -> float:
        return _corr(stats.spearmanr, self.predictions, self.targets)

    @property
    def pearson(self) -> float:
        return _corr(stats.pearsonr, self.predictions, self.targets)


@dataclass(frozen=True)
class LotoScore:
    """Means over folds, pooled Spearman, and 95% bootstrap intervals for each."""

    spearman: float
    pearson: float
    pooled_spearman: float
    spearman_ci: tuple[float, float]
    pearson_ci: tuple[float, float]
    pooled_spearman_ci: tuple[float, float]
    folds: list[Fold] = field(repr=False, compare=False)
    # The bootstrap distribution of the mean per-fold Spearman; with the same seed and folds, draws
    # line up across merge methods, so their average is a bootstrap of the averaged score.
    spearman_draws: np.ndarray = field(default=None, repr=False, compare=False)

    def record(self) -> LotoRecord:
        return LotoRecord(mean_fold_spearman=self.spearman, mean_fold_pearson=self.pearson,
                          pooled_spearman=self.pooled_spearman, mean_fold_spearman_ci=list(self.spearman_ci),
                          mean_fold_pearson_ci=list(self.pearson_ci), pooled_spearman_ci=list(self.pooled_spearman_ci),
                          per_fold={f.task: FoldScore(spearman=f.spearman, pearson=f.pearson, n=len(f.targets))
                                    for f in self.folds})


def _corr(fn, x: np.ndarray, y: np.ndarray) -> float:
    """NaN when either side is constant (a correlation is undefined there)."""
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(fn(x, y)[0])


def loto_folds(pair_tasks: list[tuple[str, str]], targets: np.ndarray, fit_predict: FitPredict) -> list[Fold]:
    tasks = sorted({t for pair in pair_tasks for t in pair})
    folds = []
    for held_out in tasks:
        test = np.array([i for i, p in enumerate(pair_tasks) if held_out in p])
        train = np.array([i for i, p in enumerate(pair_tasks) if held_out not in p])
        preds = np.asarray(fit_predict(train, test, held_out), dtype=float)
        if preds.shape != (len(test),) or not np.isfinite(preds).all():
            raise ValueError(f"fold {held_out!r}: expected {len(test)} finite predictions, got shape {preds.shape}"
                             f"{'' if np.isfinite(preds).all() else ' with NaN/inf'}")
        folds.append(Fold(held_out, test, preds, targets[test]))
    return folds


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair of two (samples, n) arrays; NaN where a row is constant."""
    xc, yc = x - x.mean(-1, keepdims=True), y - y.mean(-1, keepdims=True)
    den = np.sqrt((xc ** 2).sum(-1) * (yc ** 2).sum(-1))
    return np.divide((xc * yc).sum(-1), den, out=np.full(len(x), np.nan), where=den > 1e-12)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return pearson_rows(stats.rankdata(x, axis=-1), stats.rankdata(y, axis=-1))


def fold_spearman_draws(predictions: list[np.ndarray], targets: list[np.ndarray],
                        index: list[np.ndarray]) -> np.ndarray:
    """The mean over folds of the held-out Spearman correlation on each resample (pairs resampled within
    each fold by that fold's index rows); a fold whose resample is constant counts as missing."""
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack([spearman_rows(p[i], t[i]) for p, t, i in zip(predictions, targets, index)]), 0)


def score_folds(folds: list[Fold], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> LotoScore:
    """Point estimates with scipy; the bootstrap resamples pairs within each fold, vectorised."""
    spearman = float(np.nanmean([f.spearman for f in folds]))
    pearson = float(np.nanmean([f.pearson for f in folds]))
    pooled = _corr(stats.spearmanr, np.concatenate([f.predictions for f in folds]),
                   np.concatenate([f.targets for f in folds]))
    rng = np.random.default_rng(seed)
    index = [rng.integers(0, len(f.targets), (samples, len(f.targets))) for f in folds]
    preds = [f.predictions[i] for f, i in zip(folds, index)]
    targs = [f.targets[i] for f, i in zip(folds, index)]
    boot_sp = fold_spearman_draws([f.predictions for f in folds], [f.targets for f in folds], index)
    with np.errstate(all="ignore"):
        boot_pe = np.nanmean(np.stack([pearson_rows(p, t) for p, t in zip(preds, targs)]), 0)
        boot_pool = spearman_rows(np.concatenate(preds, 1), np.concatenate(targs, 1))
    ci = [tuple(float(v) for v in np.nanpercentile(b, [2.5, 97.5])) for b in (boot_sp, boot_pe, boot_pool)]
    return LotoScore(spearman, pearson, pooled, ci[0], ci[1], ci[2], folds, boot_sp)


def loto_score(pair_tasks: list[tuple[str, str]], targets: np.ndarray, fit_predict: FitPredict,
               seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> LotoScore:
    return score_folds(loto_folds(pair_tasks, np.asarray(targets, dtype=float), fit_predict), seed, samples)
