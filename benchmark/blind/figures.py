"""A round's published figures, computed from per-entry data alone, so `blind verify` recomputes them.

While a round is open only these aggregates are published: per entry its blind primary score, 95%
interval and rank (the board's paired comparisons, `benchmark.scoring.ranking`). They come from the
entry's per-pair data (a method's na on each pair; a predictor's held-out predictions and targets),
which the reveal publishes, never from the track's own summary, so nothing else is needed to check them.
"""

from __future__ import annotations

import json
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ..scoring.ranking import rank_board
from ..scoring.correlation import Fold, fold_spearman_draws
from ..scoring.methods import BOOTSTRAP_SAMPLES, mean_with_interval
from ..scoring.paired import pair_index
from ..tracks.entry import Samples

Track = Literal["methods", "predictors"]
DIGITS = 6  # published figures are rounded, so platform noise in the last bits cannot change a byte


class BlindRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: str
    reason: str | None
    primary: float | None = Field(description="the board's primary score on the round")
    primary_ci: list[float] | None = Field(description="its 95% bootstrap interval")
    rank: int | None = Field(description="1 + the entries significantly better on the round (paired, Holm)")
    beaten_by: list[str]


class BlindBoard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track: Track
    rows: list[BlindRow]


class BlindScores(BaseModel):
    """`scores.json`: what an open round publishes."""

    model_config = ConfigDict(extra="forbid")

    round: str
    boards: list[BlindBoard]
    waiting: list[str] = Field(description="submissions first committed after the round opened (not scored on it)")

    def dumps(self) -> str:
        return json.dumps(self.model_dump(), indent=1, sort_keys=True) + "\n"


def primary_with_interval(track: Track, seed: str, samples: Samples) -> tuple[float, list[float]]:
    """A method's mean na over pairs, or a predictor's mean per-fold Spearman averaged over merge methods, with
    a percentile-bootstrap 95% interval (pairs resampled, within folds for predictors), seeded by `seed`."""
    if track == "methods":
        ids = sorted(samples.na)
        return mean_with_interval(np.array([samples.na[i] for i in ids]), f"blind:{seed}")
    point, draws = [], []
    for method in sorted(samples.held_out):
        folds = [samples.held_out[method][f] for f in sorted(samples.held_out[method])]
        predictions = [np.asarray(f.predictions, dtype=float) for f in folds]
        targets = [np.asarray(f.targets, dtype=float) for f in folds]
        with np.errstate(all="ignore"):
            point.append(np.nanmean([Fold("", np.arange(len(t)), p, t).spearman for p, t in zip(predictions, targets)]))
        index = [pair_index(len(t), "blind", seed, name, samples=BOOTSTRAP_SAMPLES)
                 for name, t in zip(sorted(samples.held_out[method]), targets)]
        draws.append(fold_spearman_draws(predictions, targets, index))
    with np.errstate(all="ignore"):
        averaged = np.nanmean(np.stack(draws), 0)
        return float(np.nanmean(point)), [float(v) for v in np.nanpercentile(averaged, [2.5, 97.5])]


def _rounded(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), DIGITS)


def _interval(ci: list[float] | None) -> list[float] | None:
    """The rounded interval, or None when resampling leaves it undefined (every resample's folds constant)."""
    if ci is None or not all(np.isfinite(v) for v in ci):
        return None
    return [_rounded(v) for v in ci]


def blind_board(track: Track, round_name: str, entries: list[tuple[str, str, str | None, Samples | None]]) -> BlindBoard:
    """The round's board from (name, status, reason, samples) of every scored entry."""
    rows = []
    for name, status, reason, samples in entries:
        primary, ci = (None, None)
        if status == "complete" and samples is not None:
            primary, ci = primary_with_interval(track, f"{round_name}:{name}", samples)
            if not np.isfinite(primary):
                status, reason = "incomplete", "no defined score on the round (constant predictions in every fold)"
        rows.append({"name": name, "status": status, "reason": reason, "primary": primary, "primary_ci": ci,
                     "samples": samples.model_dump() if samples is not None else None})
    ranked, _ = rank_board(track, round_name, rows)
    return BlindBoard(track=track, rows=[
        BlindRow(name=r["name"], status=r["status"], reason=r.get("reason"), primary=_rounded(r["primary"]),
                 primary_ci=_interval(r["primary_ci"]),
                 rank=r["rank"], beaten_by=r["beaten_by"]) for r in ranked])
