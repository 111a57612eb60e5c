"""What a submission folder holds: `submission.yaml`, read within bounds and validated into a typed model.

Errors name the file, the field and the fix. What else is checked before code runs is in `checks`;
loading a submission's code (sandboxed workers only) is in `loading`.
"""

from __future__ import annotations

import difflib
import inspect
import math
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError, model_validator

SUBMISSION_FILE = "submission.yaml"
# What the harness reads before any submission code runs is bounded, so no folder can stall it.
MAX_YAML_BYTES = 64 * 1024
MAX_YAML_NESTING = 8


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
    params: dict[str, JsonValue] = Field(default_factory=dict)
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
    params: dict[str, JsonValue] = Field(default_factory=dict)
    search_space: dict[str, list[JsonValue]] | None = Field(
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


def did_you_mean(word: str, choices) -> str:
    """` (did you mean `x`?)` for the closest of `choices`, or nothing."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1)
    return f" (did you mean `{close[0]}`?)" if close else ""


def _read_yaml(path: Path) -> Any:
    """The document, bounded: a size cap, no anchors or aliases (no billion laughs), limited nesting."""
    raw = path.read_bytes()
    if len(raw) > MAX_YAML_BYTES:
        raise SubmissionError(f"{path}: {len(raw)} bytes; keep it under {MAX_YAML_BYTES // 1024} kB "
                              "(put data in a file beside it)")
    try:
        text, depth = raw.decode(), 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                raise SubmissionError(f"{path}: uses a YAML alias (*{event.anchor}); write the value out")
            depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
            if depth > MAX_YAML_NESTING:
                raise SubmissionError(f"{path}: nested more than {MAX_YAML_NESTING} levels deep; flatten it")
        return yaml.safe_load(text)
    except UnicodeDecodeError as err:
        raise SubmissionError(f"{path}: not UTF-8 text ({err}); save it as UTF-8") from err
    except yaml.YAMLError as err:
        text = " ".join(str(err).replace('"<unicode string>"', path.name).split())
        raise SubmissionError(f"{path}: not valid YAML ({text}); fix the syntax at the line it names") from err


def printable(text: str) -> str:
    """`text` with lone surrogates (a non-UTF-8 file name, a `\\udcff` escape) shown as escapes, so the
    leaderboard's files can hold it."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _unwritable(value: Any, where: str) -> str | None:
    """The dotted field of the first NaN, infinity or unprintable text in a loaded document, or None."""
    if isinstance(value, float) and not math.isfinite(value) or isinstance(value, str) and printable(value) != value:
        return where
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, v in items:
        child = f"{where}.{key}" if where else str(key)
        if (found := _unwritable(key, child) or _unwritable(v, child)) is not None:
            return found
    return None


def read_submission(folder: Path) -> PredictorSubmission | MethodSubmission:
    path = Path(folder) / SUBMISSION_FILE
    if not path.is_file():
        raise SubmissionError(f"{path}: missing; every submission folder needs a {SUBMISSION_FILE}")
    data = _read_yaml(path)
    if not isinstance(data, dict) or data.get("kind") not in ("predictor", "method"):
        given = f"{data.get('kind')!r} " if isinstance(data, dict) else ""
        raise SubmissionError(f"{path}: field `kind`: {given}must be `predictor` or `method`; "
                              "see submissions/predictors/*/ and submissions/methods/*/ for examples")
    bad = _unwritable(data, "")
    if bad is not None:
        raise SubmissionError(f"{path}: field `{printable(bad)}`: NaN, infinity or a lone surrogate (\\udXXXX); "
                              "give a finite number or plain text")
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


# check_params names types by `__name__`, so its key holds this module's name: it stays here.
def check_params(where: Path, field: str, target, values: dict[str, list[Any]]) -> None:
    """Every key of `field` (`params` or `search_space`, in the file `where`) a keyword parameter of
    `target` (a class), every value (a list: a search space's candidates) of the type it annotates."""
    parameters = {n: p for n, p in inspect.signature(target).parameters.items()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(target).parameters.values())
    try:
        hints = typing.get_type_hints(target.__init__ if not hasattr(target, "__dataclass_fields__") else target)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve is not checked
        hints = {}
    for key, candidates in values.items():
        at = f"{where}: field `{field}.{key}`"
        if key not in parameters:
            if takes_any:
                continue
            raise SubmissionError(f"{at}: {getattr(target, 'name', target.__name__)!r} has no parameter {key!r}"
                                  f"{did_you_mean(key, parameters)}; it takes {', '.join(parameters) or 'none'}")
        if key not in hints:
            continue
        for value in candidates:
            try:
                TypeAdapter(hints[key], config=ConfigDict(strict=True)).validate_python(value)
            except ValidationError as err:
                default = parameters[key].default
                example = "" if default is inspect.Parameter.empty else f", e.g. {default!r}"
                raise SubmissionError(f"{at}: {value!r} is not a valid {getattr(hints[key], '__name__', hints[key])}"
                                      f" ({err.errors()[0]['msg']}); give one{example}") from err
            except Exception:  # noqa: BLE001 - a type pydantic cannot check is not checked
                break


def _file_in(folder: Path, field: str, name: str) -> Path:
    path = Path(folder) / name
    if not path.resolve().is_relative_to(Path(folder).resolve()):
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `{field}`: {name} is outside the "
                              "submission folder; name a file inside it")
    if not path.is_file():
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `{field}`: no file {path}")
    return path
