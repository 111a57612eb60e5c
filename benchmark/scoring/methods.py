"""Merge-method track numbers from per-pair ground-truth rows of one method.

Primary: mean normalized accuracy over pairs, with a percentile bootstrap 95% interval over
pairs. Per pair against a reference (weight averaging): a win or a loss only when the
difference in `na` exceeds 1.96 × its combined bootstrap standard error, else a tie.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..seeding import seeded_rng
from .records import MethodScores, WinsTiesLosses

BOOTSTRAP_SAMPLES = 2000
SUCCESS_THRESHOLD = 0.9


def mean_with_interval(values: np.ndarray, seed_text: str, samples: int = BOOTSTRAP_SAMPLES) -> tuple[float, list[float]]:
    """Mean and percentile-bootstrap 95% interval; the seed derives from `seed_text` so output is reproducible."""
    rng = seeded_rng(seed_text)
    means = values[rng.integers(0, len(values), size=(samples, len(values)))].mean(1)
    return float(values.mean()), [float(v) for v in np.percentile(means, [2.5, 97.5])]


def wins_ties_losses(rows: pd.DataFrame, reference: pd.DataFrame) -> WinsTiesLosses:
    joined = rows[["pair_id", "na", "na_se"]].merge(reference[["pair_id", "na", "na_se"]], on="pair_id",
                                                     suffixes=("", "_ref"))
    diff = joined.na - joined.na_ref
    margin = 1.96 * np.sqrt(joined.na_se ** 2 + joined.na_se_ref ** 2)
    return WinsTiesLosses(wins=int((diff > margin).sum()), ties=int((diff.abs() <= margin).sum()),
                          losses=int((diff < -margin).sum()))


def method_scores(name: str, rows: pd.DataFrame, reference: pd.DataFrame | None, costs: pd.DataFrame) -> MethodScores:
    """The method track's row for one submission; `rows` hold one pair each (na, na_se, raw),
    `costs` one merge each (seconds, peak_rss_mb); `reference` the reference method's rows (None for itself)."""
    na = rows.na.to_numpy(dtype=float)
    mean_na, interval = mean_with_interval(na, f"method:{name}")
    return MethodScores(na=mean_na, na_ci=interval, raw=float(rows.raw.mean()),
                        share_na_at_least_0_9=float((na >= SUCCESS_THRESHOLD).mean()), pairs=int(len(rows)),
                        seconds_per_merge=float(costs.seconds.median()), peak_memory_mb=float(costs.peak_rss_mb.max()),
                        vs_weight_avg=wins_ties_losses(rows, reference) if reference is not None else None)
