"""Score a predictor on a prediction suite: LOTO per merge method and target, then averages.

Scoring only needs each fold's held-out predictions, so it takes a `Predict` callback; it is
fed either by a predictor object in this process (`score_predictor`, for your own code) or by
a sandboxed worker's answers (`benchmark.tracks.predictors`, for the leaderboard).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from ..scoring import loto_score
from ..scoring.correlation import spearman_rows
from ..scoring.records import HeldOutFold, LotoAverage, PooledScore, PredictorScores, UpdateScores
from .api import Pair, Update, fit_if_supported
from .suites import PredictionSuite

# (method, target, held-out task, training items, their targets, held-out items) -> one score per held-out item
Predict = Callable[[str, str, str, list, np.ndarray, list], np.ndarray]


class UnsupportedSuite(ValueError):
    """The predictor needs something this suite does not ship (e.g. weights)."""


def in_process(predictor, fit_name: str = "fit", predict_name: str = "predict") -> Predict:
    def predict(method, target, held_out, train_items, train_targets, test_items):
        fit_if_supported(predictor, train_items, train_targets, method, name=fit_name)
        return getattr(predictor, predict_name)(test_items, method)
    return predict


HeldOut = dict[str, dict[str, HeldOutFold]]  # merge method -> held-out task -> its pairs, predictions, na


def score_predictions(suite: PredictionSuite, predict: Predict, seed: int = 0) -> tuple[PredictorScores, HeldOut]:
    """Per method and target: mean per-fold Spearman/Pearson, pooled Spearman, 95% intervals;
    plus, per target, their averages over methods. Primary: mean per-fold Spearman on `na`.

    Also returns, per method and fold, the held-out pair ids, predictions and `na` targets behind the
    primary (what the leaderboard's paired comparisons resample)."""
    per_method: dict[str, dict] = {}
    primary_draws, held_out = [], {}
    for method in suite.methods:
        per_method[method] = {}
        for target in suite.target_names():
            measured = np.flatnonzero(np.isfinite(suite.targets[(method, target)]))  # pairs with a ground truth
            pairs: list[Pair] = [suite.pairs[i] for i in measured]
            y = suite.targets[(method, target)][measured]
            tasks = [suite.pair_tasks[i] for i in measured]

            def fit_predict(train: np.ndarray, test: np.ndarray, held_out: str) -> np.ndarray:
                return predict(method, target, held_out, [pairs[i] for i in train], y[train], [pairs[i] for i in test])

            score = loto_score(tasks, y, fit_predict, seed)
            per_method[method][target] = score.record()
            if target == "na":
                primary_draws.append(score.spearman_draws)
                held_out[method] = {f.task: HeldOutFold(ids=[pairs[i].id for i in f.test_index],
                                                        predictions=f.predictions.tolist(), targets=f.targets.tolist())
                                    for f in score.folds}
    averages = {}
    for target in suite.target_names():
        rows = [per_method[m][target] for m in suite.methods]
        averages[target] = LotoAverage(**{k: float(np.mean([getattr(r, k) for r in rows]))
                                          for k in ("mean_fold_spearman", "mean_fold_pearson", "pooled_spearman")})
    draws = np.nanmean(np.stack(primary_draws), 0) if len({len(d) for d in primary_draws}) == 1 else None
    primary_ci = [float(v) for v in np.nanpercentile(draws, [2.5, 97.5])] if draws is not None else None
    scores = PredictorScores(suite=suite.name, primary=averages["na"].mean_fold_spearman, primary_ci=primary_ci,
                             averages=averages, methods=per_method)
    return scores, held_out


def score_predictor(predictor, suite: PredictionSuite, seed: int = 0) -> PredictorScores:
    """`score_predictions` for a predictor object run in this process (trusted code only)."""
    if getattr(predictor, "works_from", "metrics") == "weights" and not suite.has_weights:
        raise UnsupportedSuite(f"suite {suite.name!r} ships no weights; this predictor works from weights")
    return score_predictions(suite, in_process(predictor), seed)[0]


def score_update_predictions(suite: PredictionSuite, predict: Predict, seed: int = 0) -> UpdateScores:
    """Will-it-Merge's per-update target S(Δi), leave-one-task-out: fit on the experts of the
    other tasks, predict the held-out task's experts. With two experts per task a per-fold
    correlation is meaningless, so the number is the pooled Spearman over all held-out
    predictions, with a bootstrap interval over experts."""
    if not suite.updates:
        raise UnsupportedSuite(f"suite {suite.name!r} has no per-update ground truth")
    tasks = sorted({u.task for u in suite.updates})
    out = {}
    for method, target in sorted(suite.update_targets):
        y = suite.update_targets[(method, target)]
        preds = np.empty(len(y))
        for held_out in tasks:
            test = [i for i, u in enumerate(suite.updates) if u.task == held_out]
            train = [i for i, u in enumerate(suite.updates) if u.task != held_out]
            items: list[Update] = suite.updates
            preds[test] = predict(method, target, held_out, [items[i] for i in train], y[train],
                                  [items[i] for i in test])
        rng = np.random.default_rng(seed)
        index = rng.integers(0, len(y), (1000, len(y)))
        with np.errstate(all="ignore"):
            boot = spearman_rows(preds[index], y[index])
        out.setdefault(method, {})[target] = PooledScore(
            pooled_spearman=float(stats.spearmanr(preds, y)[0]),
            pooled_spearman_ci=[float(v) for v in np.nanpercentile(boot, [2.5, 97.5])])
    return UpdateScores(suite=suite.name, methods=out, average={
        t: float(np.mean([out[m][t].pooled_spearman for m in out])) for t in ("s_acc", "s_na")})


def score_update_predictor(predictor, suite: PredictionSuite, seed: int = 0) -> UpdateScores:
    return score_update_predictions(suite, in_process(predictor, "fit_updates", "predict_updates"), seed)
