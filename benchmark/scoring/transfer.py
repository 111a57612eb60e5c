"""Transfer scores: a predictor fit on every pair of one suite, scored on every pair of another.

Per merge method both suites have: the Spearman correlation between the predictions for the test
suite's pairs and their measured `na`; the number is its mean over those methods. Interval: a
percentile bootstrap over the test suite's pairs, seeded by text, with the same resamples for every
method that has the same pairs (so the average is bootstrapped as a whole).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from .correlation import spearman_rows
from .paired import PAIRED_SAMPLES, pair_index
from .records import MethodCorrelation, TransferCorrelation


def transfer_scores(train: str, test: str, predictions: dict[str, np.ndarray], targets: dict[str, np.ndarray],
                    samples: int = PAIRED_SAMPLES) -> TransferCorrelation:
    """`predictions` and `targets`: merge method -> one value per test pair (a NaN target, a pair whose
    merge failed, is left out for that method)."""
    per_method, draws = {}, []
    for method in sorted(predictions):
        keep = np.isfinite(targets[method])
        x, y = np.asarray(predictions[method], dtype=float)[keep], targets[method][keep]
        index = pair_index(len(y), "transfer", train, test, samples=samples)
        with np.errstate(all="ignore"):
            boot = spearman_rows(x[index], y[index])
        rho = float(stats.spearmanr(x, y)[0]) if np.ptp(x) > 0 and np.ptp(y) > 0 else float("nan")
        per_method[method] = MethodCorrelation(spearman=rho, pairs=int(keep.sum()),
                                               spearman_ci=[float(v) for v in np.nanpercentile(boot, [2.5, 97.5])])
        draws.append(boot)
    with np.errstate(all="ignore"):
        mean_draws = np.nanmean(np.stack(draws), 0)
    return TransferCorrelation(spearman=float(np.nanmean([m.spearman for m in per_method.values()])),
                               spearman_ci=[float(v) for v in np.nanpercentile(mean_draws, [2.5, 97.5])],
                               methods=per_method)
