"""The leaderboard's machine-readable form: `results.json`, a versioned, documented schema.

`Results.model_json_schema()` is written beside it as `results.schema.json`. Nothing in it
depends on when or where it was generated (no timestamps, no paths), so the same inputs give
byte-identical files and a diff shows what changed.
"""

from __future__ import annotations

import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..scoring.records import MethodScores, PredictorScores, TransferScores, dump
from ..tracks.entry import About, Entry, Plots, Provenance, Status, TrackName
from ..scoring.ranking import RULE, rank_board

# 2.0.0: ranks from paired comparisons (`beaten_by`, `to_above`, `Board.comparisons`, `Results.ranking`),
# per-entry cache provenance; 2.1.0: `evaluation` per suite (the settings of its ground truth); 2.2.0: blind
# rounds (`Board.blind_round`, `Board.typical_gap`, `Row.blind`)
SCHEMA_VERSION = "2.2.0"


# A row's fields that depend on the other entries of its board (adding an entry may change them); the rest
# of a row is the entry's own result and must not move when other submissions come or go.
STANDING_FIELDS = ("rank", "beaten_by", "to_above")


class NeighbourComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    difference: float
    ci: list[float]
    p_holm: float | None
    significant: bool


class PairedComparison(BaseModel):
    model_config = ConfigDict(extra="forbid")

    better: str
    worse: str
    difference: float
    ci: list[float]
    p: float | None
    p_holm: float | None
    significant: bool


class BlindResult(BaseModel):
    """An entry's figures on the blind round its board ranks by (`leaderboard/blind/ROUND/scores.json`)."""

    model_config = ConfigDict(extra="forbid")

    round: str
    status: Status
    primary: float | None = Field(description="the primary score on the round's unseen experts and tasks")
    primary_ci: list[float] | None
    gap: float | None = Field(description="public primary minus blind primary")
    flagged: bool = Field(description="the public score lies above the blind interval by more than the board's "
                                      "typical gap (Board.typical_gap): what a submission tuned to the public "
                                      "ground truth looks like")


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int | None = Field(description="1 + the number of entries significantly better (paired bootstrap, "
                                         "Holm-adjusted; see Results.ranking); null for entries not compared")
    name: str
    status: Status
    reason: str | None = Field(description="why an entry is incomplete or failed")
    primary: float | None = Field(description="the board's primary score (see Board.primary)")
    primary_ci: list[float] | None = Field(description="its 95% bootstrap interval [low, high]")
    beaten_by: list[str] = Field(description="the entries significantly better than this one")
    to_above: NeighbourComparison | None = Field(description="the paired comparison with the entry listed above: "
                                                             "`name`, `difference` (this minus it), its 95% interval "
                                                             "`ci`, `p_holm`, `significant`")
    about: About = Field(description="authors, description, licence, source (registry / entry point / file)")
    scores: MethodScores | PredictorScores | None = Field(description="every score the track computes")
    plots: Plots = Field(description="data behind the page's plots: `scatter` (predictors: held-out "
                                     "predictions z-scored per fold vs measured na) or `task_na` "
                                     "(methods: mean acc(merged)/acc(expert) per task)")
    isolation: str | None = Field(default=None, description="how the submission's code was isolated when the entry "
                                                           "was computed: bubblewrap, unshare or none (null when no "
                                                           "submission code ran)")
    provenance: Provenance = Field(default_factory=Provenance,
                                   description="job-store keys of the cached records behind the entry "
                                               "(`leaderboard/cache/records.jsonl` or the ground truth's pack)")
    blind: BlindResult | None = Field(default=None, description="its blind-round figures, on a board with a round")


class Board(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track: Literal["methods", "predictors"]
    suite: str
    suite_version: str
    primary: str = Field(description="what `primary` means on this board")
    rows: list[Row]
    comparisons: list[PairedComparison] = Field(description="every paired test of two ranked entries")
    blind_round: str | None = Field(default=None, description="the blind round the ranks come from (null: ranks "
                                                              "from the public ground truth)")
    typical_gap: float | None = Field(default=None, description="median of public minus blind primary over the "
                                                                "entries scored on the round")


class WithinSuite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    primary: float | None = Field(description="mean per-fold Spearman na")
    primary_ci: list[float] | None
    pooled_spearman: float | None


class TransferRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    status: Status
    reason: str | None
    spearman: float | None = Field(description="Spearman of the predictions with measured na on the test suite, "
                                               "mean over the merge methods both suites have")
    spearman_ci: list[float] | None = Field(description="95% bootstrap interval over the test suite's pairs")
    within_suite: WithinSuite | None = Field(description="the same predictor's leave-one-task-out figures on the "
                                                         "test suite's own board; null if not scored")
    about: About
    scores: TransferScores | None = Field(description="per merge method Spearman, interval and pairs; features, "
                                                      "fit_pairs")
    isolation: str | None = Field(default=None, description="how the submission's code was isolated when the entry "
                                                           "was computed: bubblewrap, unshare or none (null when no "
                                                           "submission code ran)")
    provenance: Provenance = Field(default_factory=Provenance)


class TransferBoard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    train_suite: str = Field(description="the suite every pair of which the predictor is fit on")
    test_suite: str = Field(description="the suite whose every pair it predicts")
    status: Literal["complete", "pending"]
    reason: str | None = Field(description="why the board is pending (a suite without metrics or ground truth)")
    rows: list[TransferRow]


class EvaluationSettings(BaseModel):
    """`benchmark.evaluation.EvalSettings.fingerprint()`: the settings, the evaluation code's fingerprint and
    the libraries that scored a suite's method board."""

    model_config = ConfigDict(extra="allow")

    backend: str
    batch_size: int
    limit: int | None
    dev_limit: int | None
    seed: int
    vllm_eager: bool
    code: str
    libraries: dict[str, str]


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    ranking: str = Field(default=RULE, description="how ranks are assigned")
    evaluation: dict[str, EvaluationSettings] = Field(
        description="per suite with weights: the lm-eval settings and library versions of its method scores "
                    "(those its ground truth was measured with)")
    sandbox: str = Field(description="how submissions were isolated when their results were computed")
    boards: list[Board]
    transfer: list[TransferBoard] = Field(default_factory=list, description="predictors declaring `transfer: "
                                                                            "true`, fit on one suite, scored on another")


PRIMARY = {"methods": "mean normalized accuracy (na) over all pairs; interval: bootstrap over pairs",
           "predictors": "mean per-fold Spearman on na (leave-one-task-out), averaged over merge methods; "
                         "interval: bootstrap over pairs within folds"}


def _primary(scores: MethodScores | PredictorScores | None) -> tuple[float | None, list[float] | None]:
    if scores is None:
        return None, None
    if isinstance(scores, MethodScores):
        return scores.na, scores.na_ci
    return scores.primary, scores.primary_ci or [scores.primary, scores.primary]


def _round(value, digits: int = 6, finite_only: bool = False):
    """Round floats so platform noise in the last bits cannot change the published bytes; NaN and inf stay
    until `finite_only` (the JSON file) makes them null."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else (None if finite_only else value)
    if isinstance(value, dict):
        return {k: _round(v, digits, finite_only) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_round(v, digits, finite_only) for v in value]
    return value


def _published(entry: Entry) -> dict:
    """An entry's fields as its row publishes them (records dumped, floats rounded)."""
    return _round({"name": entry.name, "status": entry.status, "reason": entry.reason, "about": dump(entry.about),
                   "scores": dump(entry.scores), "isolation": entry.isolation, "provenance": dump(entry.provenance)})


def board(track: TrackName, suite: str, suite_version: str, entries: list[Entry]) -> Board:
    rows = []
    for e in entries:
        primary, ci = _primary(e.scores)
        rows.append(_published(e) | {"primary": primary, "primary_ci": ci, "plots": dump(e.plots),
                                     "samples": dump(e.samples) if e.samples else None})
    ranked, comparisons = rank_board(track, suite, rows)
    return Board(track=track, suite=suite, suite_version=suite_version, primary=PRIMARY[track],
                 rows=[Row(**_round({k: v for k, v in r.items() if k != "samples"})) for r in ranked],
                 comparisons=[_round(c.as_dict()) for c in comparisons])


def transfer_board(train: str, test: str, entries: list[Entry], pending: str | None, boards: list[Board]) -> TransferBoard:
    """The transfer board from `train` to `test`, best first, beside each predictor's row on `test`'s own board."""
    if pending:
        return TransferBoard(train_suite=train, test_suite=test, status="pending", reason=pending, rows=[])
    own = {r.name: r for b in boards if (b.track, b.suite) == ("predictors", test) for r in b.rows}
    rows = []
    for e in entries:
        mine = own.get(e.name)
        within = None if mine is None or mine.scores is None else {
            "primary": mine.primary, "primary_ci": mine.primary_ci,
            "pooled_spearman": mine.scores.averages["na"].pooled_spearman}
        rows.append(TransferRow(**_published(e), within_suite=within,
                                **_round({"spearman": e.scores.spearman if e.scores else None,
                                          "spearman_ci": e.scores.spearman_ci if e.scores else None})))
    rows.sort(key=lambda r: (r.status != "complete", -(r.spearman if r.spearman is not None else -2), r.name))
    return TransferBoard(train_suite=train, test_suite=test, status="complete", reason=None, rows=rows)


def dumps(results: Results) -> str:
    published = _round(results.model_dump(by_alias=True), finite_only=True)
    return json.dumps(published, indent=1, sort_keys=True, allow_nan=False) + "\n"


def schema_json() -> str:
    return json.dumps(Results.model_json_schema(), indent=1, sort_keys=True) + "\n"
