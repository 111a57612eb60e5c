"""Submissions: discover folders under submissions/, validate their submission.yaml, load them.

Errors name the file, the field and the fix. Running submissions in isolation (time and
memory limits, no network) is the merge-method track's concern and not done here yet.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SUBMISSION_FILE = "submission.yaml"


class SubmissionError(ValueError):
    """A submission that cannot be loaded; the message names the file, the field and the fix."""


class PredictorSubmission(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    kind: Literal["predictor"]
    authors: list[str] = Field(min_length=1)
    description: str
    licence: str
    entry_point: str | None = Field(None, description="`file.py:Class` in the folder, or `package.module:Class`")
    params: dict[str, Any] = Field(default_factory=dict)
    predictions: str | None = Field(None, description="CSV or parquet with columns pair_id, method, score")
    suites: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_source(self):
        if (self.entry_point is None) == (self.predictions is None):
            raise ValueError("give exactly one of `entry_point` and `predictions`")
        return self


def read_submission(folder: Path) -> PredictorSubmission:
    path = Path(folder) / SUBMISSION_FILE
    if not path.is_file():
        raise SubmissionError(f"{path}: missing; every submission folder needs a {SUBMISSION_FILE}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SubmissionError(f"{path}: not valid YAML ({err})") from err
    try:
        return PredictorSubmission.model_validate(data)
    except ValidationError as err:
        e = err.errors()[0]
        field = ".".join(map(str, e["loc"])) or "(top level)"
        raise SubmissionError(f"{path}: field `{field}`: {e['msg']}; see submissions/predictors/*/ for examples") from err


def _import_entry_point(folder: Path, entry_point: str):
    target, _, attr = entry_point.partition(":")
    if not attr:
        raise SubmissionError(f"{folder / SUBMISSION_FILE}: field `entry_point`: {entry_point!r} needs the form "
                              "`file.py:Class` or `package.module:Class`")
    if target.endswith(".py"):
        file = (folder / target).resolve()
        if not file.is_file():
            raise SubmissionError(f"{folder / SUBMISSION_FILE}: field `entry_point`: no file {file}")
        name = f"willitmerge_submission_{folder.name.replace('-', '_')}"
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    try:
        return getattr(module, attr)
    except AttributeError as err:
        raise SubmissionError(f"{folder / SUBMISSION_FILE}: field `entry_point`: {target} has no {attr!r}") from err


def load_predictor(folder: Path):
    """The predictor object a submission folder describes."""
    from .predictors.zero_shot import PredictionsFile

    spec = read_submission(folder)
    if spec.predictions is not None:
        path = Path(folder) / spec.predictions
        if not path.is_file():
            raise SubmissionError(f"{folder / SUBMISSION_FILE}: field `predictions`: no file {path}")
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        missing = {"pair_id", "method", "score"} - set(table.columns)
        if missing:
            raise SubmissionError(f"{path}: missing column(s) {sorted(missing)}; columns must be pair_id, method, score")
        return spec, PredictionsFile(table)
    cls = _import_entry_point(Path(folder), spec.entry_point)
    try:
        return spec, cls(**spec.params)
    except TypeError as err:
        raise SubmissionError(f"{folder / SUBMISSION_FILE}: field `params`: {err}") from err


def check_predictions_file(predictor, suite) -> None:
    """A predictions file must score exactly the suite's pairs (and only them)."""
    known = {p.id for p in suite.pairs}
    given = {pid for pid, _ in predictor.scores}
    unknown = sorted(given - known)
    if unknown:
        raise SubmissionError(f"predictions name pairs not in suite {suite.name!r}, e.g. {unknown[0]!r}")


def discover(root: Path, kind: str = "predictors") -> list[Path]:
    return sorted(p.parent for p in (Path(root) / kind).glob(f"*/{SUBMISSION_FILE}"))
