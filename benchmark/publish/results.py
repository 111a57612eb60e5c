"""The leaderboard's machine-readable form: `results.json`, a versioned, documented schema.

`Results.model_json_schema()` is written beside it as `results.schema.json`. Nothing in it
depends on when or where it was generated (no timestamps, no paths), so the same inputs give
byte-identical files and a diff shows what changed.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .ranking import rank_groups

SCHEMA_VERSION = "1.1.0"


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int | None = Field(description="shared by entries whose 95% interval overlaps their group leader's; "
                                         "null for incomplete and failed entries")
    name: str
    status: Literal["complete", "incomplete", "failed"]
    reason: str | None = Field(description="why an entry is incomplete or failed")
    primary: float | None = Field(description="the board's primary score (see Board.primary)")
    primary_ci: list[float] | None = Field(description="its 95% bootstrap interval [low, high]")
    about: dict[str, Any] = Field(description="authors, description, licence, source (registry / entry point / file)")
    scores: dict[str, Any] | None = Field(description="every score the track computes (see Board.columns)")
    plots: dict[str, Any] = Field(description="data behind the page's plots: `scatter` (predictors: held-out "
                                              "predictions z-scored per fold vs measured na) or `task_na` "
                                              "(methods: mean acc(merged)/acc(expert) per task)")


class Board(BaseModel):
    model_config = ConfigDict(extra="forbid")

    track: Literal["methods", "predictors"]
    suite: str
    suite_version: str
    primary: str = Field(description="what `primary` means on this board")
    rows: list[Row]


class Results(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: str = SCHEMA_VERSION
    evaluation: dict[str, dict[str, Any]] = Field(
        description="per suite with weights: the lm-eval settings and library versions of its method scores "
                    "(those its ground truth was measured with)")
    sandbox: str = Field(description="how submissions were isolated when their results were computed")
    boards: list[Board]


PRIMARY = {"methods": "mean normalized accuracy (na) over all pairs; interval: bootstrap over pairs",
           "predictors": "mean per-fold Spearman on na (leave-one-task-out), averaged over merge methods; "
                         "interval: bootstrap over pairs within folds"}


def _primary(track: str, scores: dict | None) -> tuple[float | None, list[float] | None]:
    if scores is None:
        return None, None
    if track == "methods":
        return scores["na"], scores["na_ci"]
    ci = scores.get("primary_ci") or [scores["primary"], scores["primary"]]
    return scores["primary"], ci


def _round(value: Any, digits: int = 6) -> Any:
    """Round floats so platform noise in the last bits cannot change the published bytes; NaN -> null."""
    if isinstance(value, float):
        return round(value, digits) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _round(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    return value


def board(track: str, suite: str, suite_version: str, entries: list) -> Board:
    rows = []
    for e in entries:
        primary, ci = _primary(track, e.scores)
        rows.append({"name": e.name, "status": e.status, "reason": e.reason, "primary": primary, "primary_ci": ci,
                     "about": e.about, "scores": e.scores, "plots": e.plots})
    return Board(track=track, suite=suite, suite_version=suite_version, primary=PRIMARY[track],
                 rows=[Row(**_round(r)) for r in rank_groups(rows)])


def dumps(results: Results) -> str:
    return json.dumps(results.model_dump(mode="json"), indent=1, sort_keys=True, allow_nan=False) + "\n"


def schema_json() -> str:
    return json.dumps(Results.model_json_schema(), indent=1, sort_keys=True) + "\n"
