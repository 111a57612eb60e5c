"""One submission on one suite, as a track computes it and the leaderboard lists it.

An entry is also what the job store caches for predictor and transfer entries: `to_record()` is
the stored form (the same dict these entries were stored as before they were typed, so committed
records load with `from_record`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, field_validator

from ..scoring.records import (HeldOutFold, MethodScores, PredictorScores, Record, TransferScores, dump)
from ..submissions.schema import MethodSubmission, PredictorSubmission, printable

TrackName = Literal["methods", "predictors", "transfer"]
Status = Literal["complete", "incomplete", "failed"]
Scalar = str | int | float | bool


class About(Record):
    """Who made the submission and what it runs (empty when its folder did not load)."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"authors", "description", "licence", "source"})

    authors: list[str] | None = None
    description: str | None = None
    licence: str | None = None
    source: dict[Literal["registry", "entry_point", "mergekit", "predictions"], str] | None = None

    @classmethod
    def of(cls, spec: PredictorSubmission | MethodSubmission) -> "About":
        source = {k: getattr(spec, k) for k in ("registry", "entry_point", "mergekit", "predictions")
                  if getattr(spec, k, None) is not None}
        return cls(authors=spec.authors, description=spec.description, licence=spec.licence, source=source)


class ScatterPlot(Record):
    method: str
    points: list[Annotated[list[float], Field(min_length=2, max_length=2)]]


class Plots(Record):
    """Data behind the page's plots: held-out predictions vs measured na (predictors), or mean
    acc(merged)/acc(expert) per task (methods)."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"scatter", "task_na"})

    scatter: ScatterPlot | None = None
    task_na: dict[str, float] | None = None


class Samples(Record):
    """Per-pair values behind a board's paired comparisons (`benchmark.scoring.ranking`); never published."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"na", "held_out"})

    na: dict[str, float] | None = None
    held_out: dict[str, dict[str, HeldOutFold]] | None = None


class Provenance(Record):
    """Where an entry's numbers are cached: the job-store keys of its records."""

    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset({"entry_key", "evaluation_records", "records_digest",
                                                             "cost_keys"})

    entry_key: str | None = None
    evaluation_records: int | None = None
    records_digest: str | None = None
    cost_keys: list[str] | None = None


class Entry(Record):
    """One submission on one suite. `isolation` is how its code was isolated when the entry was computed
    (`benchmark.isolation.Isolation.tool`), None when no submission code ran."""

    model_config = Record.model_config | {"validate_assignment": True}

    track: TrackName
    suite: str
    name: str
    about: About = About()
    status: Status
    reason: str | None = None
    scores: MethodScores | PredictorScores | TransferScores | None = None
    plots: Plots = Plots()
    isolation: str | None = None
    samples: Samples | None = None
    provenance: Provenance = Provenance()

    @field_validator("name", "reason")
    @classmethod
    def _printable(cls, text: str | None) -> str | None:
        """A folder's name and a worker's words may hold lone surrogates, which no leaderboard file can."""
        return None if text is None else printable(text)

    def to_record(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True) | {"scores": dump(self.scores)}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "Entry":
        return cls.model_validate(record)

    @classmethod
    def failed(cls, track: TrackName, suite: str, folder: Path, reason: str) -> "Entry":
        return cls(track=track, suite=suite, name=Path(folder).name, status="failed", reason=reason)

    @classmethod
    def harness_failure(cls, track: TrackName, suite: str, folder: Path, err: Exception) -> "Entry":
        """The last line of defence: an exception while evaluating one submission becomes its failed entry,
        never the end of the leaderboard for everyone."""
        return cls.failed(track, suite, folder, f"harness-error: {type(err).__name__}: {str(err)[:500]} (while "
                                                 f"evaluating {Path(folder).name}; the harness should have caught "
                                                 "this, please report it)")
