"""Score a predictor on a prediction suite: LOTO per merge method and target, then averages."""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..scoring import loto_score
from ..scoring.correlation import spearman_rows
from .api import fit_if_supported
from .suites import PredictionSuite


class UnsupportedSuite(ValueError):
    """The predictor needs something this suite does not ship (e.g. weights)."""


def score_predictor(predictor, suite: PredictionSuite, seed: int = 0) -> dict:
    """Per method and target: mean per-fold Spearman/Pearson, pooled Spearman, 95% intervals;
    plus, per target, their averages over methods. Primary: mean per-fold Spearman on `na`."""
    if getattr(predictor, "works_from", "metrics") == "weights" and not suite.has_weights:
        raise UnsupportedSuite(f"suite {suite.name!r} ships no weights; this predictor works from weights")
    per_method: dict[str, dict] = {}
    for method in suite.methods:
        per_method[method] = {}
        for target in suite.target_names():
            measured = np.flatnonzero(np.isfinite(suite.targets[(method, target)]))  # pairs with a ground truth
            pairs = [suite.pairs[i] for i in measured]
            y = suite.targets[(method, target)][measured]

            def fit_predict(train: np.ndarray, test: np.ndarray) -> np.ndarray:
                fit_if_supported(predictor, [pairs[i] for i in train], y[train], method)
                return predictor.predict([pairs[i] for i in test], method)

            tasks = [suite.pair_tasks[i] for i in measured]
            per_method[method][target] = loto_score(tasks, y, fit_predict, seed).as_dict()
    averages = {}
    for target in suite.target_names():
        rows = [per_method[m][target] for m in suite.methods]
        averages[target] = {k: float(np.mean([r[k] for r in rows]))
                            for k in ("mean_fold_spearman", "mean_fold_pearson", "pooled_spearman")}
    return {"suite": suite.name, "primary": averages["na"]["mean_fold_spearman"], "averages": averages,
            "methods": per_method}


def score_update_predictor(predictor, suite: PredictionSuite, seed: int = 0) -> dict:
    """Will-it-Merge's per-update target S(Δi), leave-one-task-out: fit `fit_updates` on the
    experts of the other tasks, predict (`predict_updates`) the held-out task's experts. With
    two experts per task a per-fold correlation is meaningless, so the number is the pooled
    Spearman over all held-out predictions, with a bootstrap interval over experts."""
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
            fit_if_supported(predictor, [suite.updates[i] for i in train], y[train], method, name="fit_updates")
            preds[test] = predictor.predict_updates([suite.updates[i] for i in test], method)
        rng = np.random.default_rng(seed)
        index = rng.integers(0, len(y), (1000, len(y)))
        with np.errstate(all="ignore"):
            boot = spearman_rows(preds[index], y[index])
        out.setdefault(method, {})[target] = {
            "pooled_spearman": float(stats.spearmanr(preds, y)[0]),
            "pooled_spearman_ci": [float(v) for v in np.nanpercentile(boot, [2.5, 97.5])]}
    return {"suite": suite.name, "methods": out,
            "average": {t: float(np.mean([out[m][t]["pooled_spearman"] for m in out])) for t in ("s_acc", "s_na")}}
