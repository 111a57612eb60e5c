"""Paired comparisons of entries scored on the same data: bootstrap differences and Holm's correction.

Every merge method of a board is scored on the same pairs, and every predictor on the same
leave-one-task-out folds, so two entries are compared on the same resamples: one set of bootstrap
indices is drawn per board (over pairs for methods, over pairs within each fold for predictors) and
applied to every entry; the difference of two entries' statistics on each resample is the paired
bootstrap distribution of their difference. Seeds derive from text, so the draws do not depend on
the order in which entries were computed or on the number of threads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..seeding import seeded_rng

ALPHA = 0.05
PAIRED_SAMPLES = 4000


def samples_for(tests: int) -> int:
    """Resamples for a board of `tests` comparisons: enough that the smallest attainable p-value,
    2 / (samples + 1), is half Holm's strictest threshold ALPHA / tests (PAIRED_SAMPLES up to 50 tests)."""
    return max(PAIRED_SAMPLES, math.ceil(4 * tests / ALPHA))


def pair_index(n: int, *seed: object, samples: int = PAIRED_SAMPLES) -> np.ndarray:
    """(samples, n) indices resampling n items with replacement; the same for every entry of a board."""
    return seeded_rng("paired", *seed).integers(0, n, (samples, n))


@dataclass(frozen=True)
class Comparison:
    """`better` against `worse` (by point estimate): the difference, its paired 95% percentile interval,
    the two-sided bootstrap p-value, and the Holm-adjusted p-value over the board's comparisons."""

    better: str
    worse: str
    difference: float
    ci: tuple[float, float]
    p: float
    p_holm: float = float("nan")

    @property
    def significant(self) -> bool:
        return self.p_holm < ALPHA

    def as_dict(self) -> dict:
        return {"better": self.better, "worse": self.worse, "difference": self.difference, "ci": list(self.ci),
                "p": self.p, "p_holm": self.p_holm, "significant": self.significant}


def compare(better: str, worse: str, difference: float, draws_better: np.ndarray,
            draws_worse: np.ndarray) -> Comparison:
    """A paired bootstrap test of two entries from their statistics on the same resamples."""
    d = draws_better - draws_worse
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return Comparison(better, worse, difference, (float("nan"), float("nan")), 1.0)
    low, high = np.percentile(d, [2.5, 97.5])
    # share of resamples on the far side of zero, both tails, with the +1 that keeps a test exact
    p = min(1.0, 2 * (1 + min(int((d <= 0).sum()), int((d >= 0).sum()))) / (len(d) + 1))
    return Comparison(better, worse, difference, (float(low), float(high)), p)


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control over all the given tests)."""
    m, order = len(p), np.argsort(p, kind="stable")
    adjusted, running = [0.0] * m, 0.0
    for step, i in enumerate(order):
        running = max(running, min(1.0, (m - step) * p[i]))
        adjusted[i] = running
    return adjusted
