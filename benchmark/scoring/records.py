"""Typed score records: what each track computes for one submission on one suite.

The scoring functions return these; the leaderboard caches, publishes and renders them. Field names
are the published ones (`results.json`), so a record dumps to exactly the JSON the schema documents
and a cached record from before these types existed loads back unchanged.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_serializer

Interval = Annotated[list[float], Field(min_length=2, max_length=2, description="95% interval [low, high]")]


class Record(BaseModel):
    """A strict record; the fields named in `OMITTED_WHEN_NONE` are left out of its dump when unset, as
    they were absent from the published JSON before these types (e.g. `tuned` for an untuned method)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler):
        dumped = handler(self)
        return {k: v for k, v in dumped.items() if not (v is None and k in self.OMITTED_WHEN_NONE)}


class FoldScore(Record):
    spearman: float
    pearson: float
    n: int


class LotoRecord(Record):
    """One merge method and target, leave-one-task-out (`benchmark.scoring.correlation.LotoScore`)."""

    mean_fold_spearman: float
    mean_fold_pearson: float
    pooled_spearman: float
    mean_fold_spearman_ci: Interval
    mean_fold_pearson_ci: Interval
    pooled_spearman_ci: Interval
    per_fold: dict[str, FoldScore]


class LotoAverage(Record):
    """A target's LOTO figures averaged over merge methods."""

    mean_fold_spearman: float
    mean_fold_pearson: float
    pooled_spearman: float


class PooledScore(Record):
    pooled_spearman: float
    pooled_spearman_ci: Interval


class UpdateScores(Record):
    """Will-it-Merge's per-update target S(Δi): pooled LOTO Spearman per method and target, and averages."""

    suite: str
    methods: dict[str, dict[str, PooledScore]]
    average: dict[str, float]


class HeldOutFold(Record):
    """One held-out fold's pairs, predictions and measured na: what a board's paired comparisons resample."""

    ids: list[str]
    predictions: list[float]
    targets: list[float]


class PredictorScores(Record):
    """The predictor track: per merge method and target a LOTO record, per target the average over methods.
    Primary: the mean per-fold Spearman on `na`, averaged over methods."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"updates"})

    suite: str
    primary: float
    primary_ci: Interval | None = Field(description="null when the methods' folds differ in size")
    averages: dict[str, LotoAverage]
    methods: dict[str, dict[str, LotoRecord]]
    updates: UpdateScores | None = None


class WinsTiesLosses(Record):
    wins: int
    ties: int
    losses: int


class TunedChoice(Record):
    """What dev tuning chose: the search space and, per pair, the chosen value of each parameter."""

    search_space: dict[str, list[float | int | str | bool]]
    chosen: dict[str, dict[str, float | int | str | bool]]


class MethodScores(Record):
    """The method track: normalized accuracy over all pairs, raw accuracy, share of pairs at na ≥ 0.9,
    per-pair wins against the board's reference method, and the measured merge cost."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"tuned"})

    na: float
    na_ci: Interval
    raw: float
    share_na_at_least_0_9: float = Field(alias="share_na_at_least_0.9")
    pairs: int
    seconds_per_merge: float
    peak_memory_mb: float
    vs_weight_avg: WinsTiesLosses | None = Field(description="per-pair wins, ties and losses against the board's "
                                                              "reference method; null for the reference itself")
    tuned: TunedChoice | None = None


class MethodCorrelation(Record):
    spearman: float
    spearman_ci: Interval
    pairs: int


class TransferCorrelation(Record):
    """Spearman with measured na on the test suite, per merge method and its mean over them."""

    spearman: float
    spearman_ci: Interval
    methods: dict[str, MethodCorrelation]


class TransferScores(TransferCorrelation):
    """The transfer track: the correlation, and what the predictor was fit on."""

    train_suite: str
    features: int
    fit_pairs: int


def dump(record: Record | None):
    """A record as the published JSON has it (aliases, absent fields left out); None stays None."""
    return None if record is None else record.model_dump(by_alias=True)
