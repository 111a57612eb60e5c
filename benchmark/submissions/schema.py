"""What a submission folder holds: `submission.yaml` validated into a typed model, then loaded.

Errors name the file, the field and the fix. Loading imports submission code, so only the
sandboxed workers call `load_predictor` and `load_method`; the harness reads specs only.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

SUBMISSION_FILE = "submission.yaml"


class SubmissionError(ValueError):
    """A submission that cannot be loaded; the message names the file, the field and the fix."""


class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    authors: list[str] = Field(min_length=1)
    description: str
    licence: str


class PredictorSubmission(_Common):
    kind: Literal["predictor"]
    entry_point: str | None = Field(None, description="`file.py:Class` in the folder, or `package.module:Class`")
    params: dict[str, Any] = Field(default_factory=dict)
    predictions: str | None = Field(None, description="CSV or parquet with columns pair_id, method, score")
    suites: list[str] = Field(min_length=1)
    transfer: bool = Field(False, description="true if it can be fit on every pair of one suite and predict "
                                              "another's, from the metrics both share (the transfer boards)")

    @model_validator(mode="after")
    def _one_source(self):
        if (self.entry_point is None) == (self.predictions is None):
            raise ValueError("give exactly one of `entry_point` and `predictions`")
        if self.transfer and self.predictions is not None:
            raise ValueError("`transfer: true` needs an `entry_point` (a predictions file cannot be fit)")
        return self


class MethodSubmission(_Common):
    """A merge method: a registered built-in, a `MergeMethod` subclass in the folder, or a mergekit YAML."""

    kind: Literal["method"]
    registry: str | None = Field(None, description="name of a method in benchmark.merging.METHODS")
    entry_point: str | None = Field(None, description="`file.py:Class`, a benchmark.merging.MergeMethod subclass")
    mergekit: str | None = Field(None, description="a mergekit YAML in the folder, with {{base}} and {{expert}}")
    params: dict[str, Any] = Field(default_factory=dict)
    search_space: dict[str, list[Any]] | None = Field(
        None, description="parameter -> candidate values, tuned per pair on the dev split; "
                          "omit to use the registered method's own")
    suites: list[str] = Field(min_length=1, description="names of the suites to be scored on (`willitmerge suite list`)")

    @model_validator(mode="after")
    def _one_source(self):
        given = [k for k in ("registry", "entry_point", "mergekit") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `registry`, `entry_point` and `mergekit`")
        if self.mergekit is not None and (self.params or self.search_space):
            raise ValueError("a mergekit method carries its parameters in its YAML; drop `params` and `search_space`")
        return self


Submission = Annotated[Union[PredictorSubmission, MethodSubmission], Field(discriminator="kind")]
_SUBMISSION = TypeAdapter(Submission)


def read_submission(folder: Path) -> PredictorSubmission | MethodSubmission:
    path = Path(folder) / SUBMISSION_FILE
    if not path.is_file():
        raise SubmissionError(f"{path}: missing; every submission folder needs a {SUBMISSION_FILE}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise SubmissionError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict) or data.get("kind") not in ("predictor", "method"):
        raise SubmissionError(f"{path}: field `kind`: must be `predictor` or `method`; "
                              "see submissions/predictors/*/ and submissions/methods/*/ for examples")
    try:
        return _SUBMISSION.validate_python(data)
    except ValidationError as err:
        e = err.errors()[0]
        field = ".".join(str(part) for part in e["loc"][1:]) or "(top level)"
        raise SubmissionError(f"{path}: field `{field}`: {e['msg']}; "
                              f"see submissions/{data['kind']}s/*/ for examples") from err


def read_submission_of_kind(folder: Path, kind: type[PredictorSubmission] | type[MethodSubmission]):
    """`read_submission`, failing unless it is of the given kind."""
    spec = read_submission(folder)
    if not isinstance(spec, kind):
        expected = kind.model_fields["kind"].annotation.__args__[0]
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `kind`: is {spec.kind!r}, expected `{expected}`")
    return spec


def _file_in(folder: Path, field: str, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `{field}`: no file {path}")
    return path


def folder_sha256(folder: Path) -> str:
    """One hash over every file of a submission folder, so changed code never reuses a cached result."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def package_code_used(folder: Path, entry_point: str | None) -> tuple:
    """The package functions and classes a submission runs besides its own files: a `benchmark.*` entry
    point, and what its .py files take from `benchmark` (`from benchmark.x import f`, or a module
    imported whole and used as `module.f`). Read from the syntax tree, never executed; only package
    modules are imported. Its own files are covered by `folder_sha256`."""
    names: list[tuple[str, str]] = []
    target, _, attr = (entry_point or "").partition(":")
    if target.split(".")[0] == "benchmark" and attr:
        names.append((target, attr))
    for path in sorted(Path(folder).rglob("*.py")):
        try:
            tree = ast.parse(path.read_text())
        except SyntaxError:
            continue  # the sandboxed worker reports it when it imports the file
        used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "benchmark":
                names += [(node.module, alias.name) for alias in node.names]
                names += [(f"{node.module}.{alias.name}", a) for alias in node.names for a in used]
            elif isinstance(node, ast.Import):
                names += [(alias.name, a) for alias in node.names if alias.name.split(".")[0] == "benchmark"
                          for a in used]
    found = []
    for module, name in names:
        try:
            value = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(value, (type, types.FunctionType)):
            found.append(value)
    return tuple(dict.fromkeys(found))


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
    from ..predictors.zero_shot import PredictionsFile

    spec = read_submission_of_kind(folder, PredictorSubmission)
    if spec.predictions is not None:
        path = _file_in(folder, "predictions", spec.predictions)
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


def load_method(folder: Path, params: dict[str, Any]):
    """The merge method a submission folder describes, with `params` (one tuning candidate) applied."""
    from ..merging import MergeMethod, get_method, load_mergekit_method

    spec = read_submission_of_kind(folder, MethodSubmission)
    where = Path(folder) / SUBMISSION_FILE
    if spec.mergekit is not None:
        return load_mergekit_method(_file_in(folder, "mergekit", spec.mergekit), spec.name)
    if spec.registry is not None:
        try:
            return get_method(spec.registry, **params)
        except (KeyError, TypeError) as err:
            raise SubmissionError(f"{where}: field `registry`/`params`: {err.args[0]}") from err
    cls = _import_entry_point(Path(folder), spec.entry_point)
    if not (isinstance(cls, type) and issubclass(cls, MergeMethod)):
        raise SubmissionError(f"{where}: field `entry_point`: {spec.entry_point} is not a "
                              "benchmark.merging.MergeMethod subclass")
    try:
        return cls(**params)
    except TypeError as err:
        raise SubmissionError(f"{where}: field `params`: {err}") from err


def check_predictions_file(predictor, suite) -> None:
    """A predictions file must score exactly the suite's pairs (and only them)."""
    known = {p.id for p in suite.pairs}
    given = {pid for pid, _ in predictor.scores}
    unknown = sorted(given - known)
    if unknown:
        raise SubmissionError(f"predictions name pairs not in suite {suite.name!r}, e.g. {unknown[0]!r}")


def discover(root: Path, kind: Literal["predictors", "methods"] = "predictors") -> list[Path]:
    return sorted(p.parent for p in (Path(root) / kind).glob(f"*/{SUBMISSION_FILE}"))
