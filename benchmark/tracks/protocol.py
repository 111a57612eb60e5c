"""The typed protocol between the harness and a sandboxed predictor worker
(`benchmark.submissions.predictor_worker`): what the harness asks, and what it accepts back.

The worker runs submission code, so its answer is untrusted: it is parsed into these models, whose
bounds (sizes, finite numbers, known ids) are checked before scoring ever sees a value. A violation
is a `SubmissionFailed` with the kind the leaderboard reports (`invalid-answer`, `wrong-count`, `nan`).
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from ..sandbox import SubmissionFailed

# method -> target -> training item id -> its measured target (only the training fold's)
TrainTargets = dict[str, dict[str, dict[str, float]]]
MAX_INTEGER = 2 ** 63  # a larger integer is no score a predictor computes, and numpy cannot hold it


class PredictorRequest(BaseModel):
    """One request: zero-shot predictions (`held_out` None: the worker answers `learned` if the predictor
    fits), one leave-one-task-out fold, or a transfer (`transfer_to` a second suite, `features` shared)."""

    model_config = ConfigDict(extra="forbid")

    suite: str
    folder: str
    inputs: str
    held_out: str | None = None
    pair_targets: TrainTargets
    update_targets: TrainTargets = {}
    transfer_to: str | None = None
    features: list[str] | None = None

    def message(self) -> dict:
        return self.model_dump(exclude_none=True, exclude={"update_targets"} if self.transfer_to else set())


class Unsupported(BaseModel):
    """The predictor cannot run on this suite (e.g. it needs weights), in its own words."""

    unsupported: Annotated[str, Field(max_length=100_000)]


class Learned(BaseModel):
    """The predictor fits: the harness runs one fresh worker per fold."""

    learned: bool


class PredictionsAnswer(BaseModel):
    """Scores per merge method and target ('*': one score for every target), one per listed id, in order."""

    pairs: list[str]
    updates: list[str]
    predictions: dict[str, dict[str, list[float]]]
    update_predictions: dict[str, dict[str, list[float]]]


def parse_answer(who: str, answer: dict, pair_ids: set[str], update_ids: set[str]) -> Unsupported | Learned | PredictionsAnswer:
    """The worker's answer as a protocol model, or SubmissionFailed naming the first thing wrong with it:
    a missing part, an id the suite does not have (or one listed twice), a list of the wrong length, NaN or
    inf, or something that is not a number."""
    if "unsupported" in answer:
        if not isinstance(answer["unsupported"], str):
            raise SubmissionFailed("invalid-answer", f"{who}: `unsupported` must say why, as text")
        return Unsupported(unsupported=answer["unsupported"][:500])
    if answer.get("learned") is True:
        return Learned(learned=True)
    for kind, ids_key, known in (("predictions", "pairs", pair_ids), ("update_predictions", "updates", update_ids)):
        ids, per_method = answer.get(ids_key), answer.get(kind)
        if not (isinstance(ids, list) and isinstance(per_method, dict)
                and all(isinstance(v, dict) for v in per_method.values())):
            raise SubmissionFailed("invalid-answer", f"{who}: the answer lacks `{ids_key}` (a list) or "
                                                     f"`{kind}` (method -> target -> scores)")
        unknown = [i for i in ids if not isinstance(i, str) or i not in known]
        if unknown or len(set(ids)) != len(ids):
            raise SubmissionFailed("invalid-answer", f"{who}: the answer names "
                                   + (f"{str(unknown[0])[:80]!r}, not one of the suite's {ids_key}" if unknown
                                      else f"some of the {ids_key} twice"))
        for method, per_target in per_method.items():
            for values in per_target.values():
                _check_scores(who, method, ids_key, values, len(ids))
    return PredictionsAnswer.model_validate({k: answer[k] for k in PredictionsAnswer.model_fields})


def _check_scores(who: str, method: str, ids_key: str, values, expected: int) -> None:
    if not isinstance(values, list) or len(values) != expected:
        count = len(values) if isinstance(values, list) else "no list of"
        raise SubmissionFailed("wrong-count", f"{who}: {count} scores for {expected} {ids_key} (method {method[:80]})")
    if any(v is None or isinstance(v, float) and not math.isfinite(v) for v in values):
        raise SubmissionFailed("nan", f"{who}: NaN or inf among the scores (method {method[:80]})")
    if not all(isinstance(v, float) or type(v) is int and abs(v) < MAX_INTEGER for v in values):
        raise SubmissionFailed("invalid-answer", f"{who}: a score that is not a number (method {method[:80]})")
