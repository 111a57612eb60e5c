"""What a submission folder holds: `submission.yaml` validated into a typed model, then loaded.

Errors name the file, the field and the fix. Loading imports submission code, so only the
sandboxed workers call `load_predictor` and `load_method`; the harness reads specs only.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import importlib
import importlib.util
import inspect
import math
import os
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError, model_validator

SUBMISSION_FILE = "submission.yaml"
# What the harness reads before any submission code runs is bounded, so no folder can stall it.
MAX_YAML_BYTES = 64 * 1024
MAX_YAML_NESTING = 8
MAX_FOLDER_BYTES = 256 * 1024 ** 2
MAX_FOLDER_FILES = 1000
# Every candidate of a search space is merged and scored on dev for every pair.
MAX_CANDIDATES = 32


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


def _file_in(folder: Path, field: str, name: str) -> Path:
    path = Path(folder) / name
    if not path.resolve().is_relative_to(Path(folder).resolve()):
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `{field}`: {name} is outside the "
                              "submission folder; name a file inside it")
    if not path.is_file():
        raise SubmissionError(f"{Path(folder) / SUBMISSION_FILE}: field `{field}`: no file {path}")
    return path


def _check_folder(folder: Path) -> None:
    """Regular files only (a link could lead the harness's hashing anywhere), and a bounded size."""
    folder = Path(folder)
    if folder.is_symlink():
        raise SubmissionError(f"{folder}: a symbolic link; a submission is a real folder, move it here")
    count, size = 0, 0
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            if printable(name) != name:
                raise SubmissionError(f"{printable(str(path))}: a file name that is not UTF-8; rename it")
            if path.is_symlink():
                raise SubmissionError(f"{path}: a symbolic link (to {os.readlink(path)}); submissions hold "
                                      "regular files only, copy the file in")
        for name in files:
            count, size = count + 1, size + (Path(root) / name).stat().st_size
        if count > MAX_FOLDER_FILES or size > MAX_FOLDER_BYTES:
            raise SubmissionError(f"{folder}: more than {MAX_FOLDER_FILES} files or "
                                  f"{MAX_FOLDER_BYTES // 1024 ** 2} MB; keep only what the submission runs")


def _top_level_names(tree: ast.Module) -> set[str] | None:
    """Names a module binds at its top level; None if a star import makes that unknowable."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _check_entry_point(folder: Path, spec) -> None:
    """The entry point exists, without running submission code: a file's syntax tree, or (trusted)
    package code imported, its parameters checked against the class's signature."""
    where = f"{Path(folder) / SUBMISSION_FILE}: field `entry_point`"
    target, _, attr = spec.entry_point.partition(":")
    if not attr or not target:
        raise SubmissionError(f"{where}: {spec.entry_point!r} needs the form `file.py:Class` or "
                              "`package.module:Class`")
    if target.endswith(".py"):
        path = _file_in(folder, "entry_point", target)
        try:
            tree = ast.parse(path.read_text(), str(path))
        except (SyntaxError, ValueError) as err:  # ValueError: not UTF-8, or a null byte
            raise SubmissionError(f"{path}: does not parse ({err}); fix it so `python {path.name}` runs") from err
        names = _top_level_names(tree)
        if names is not None and attr not in names:
            raise SubmissionError(f"{where}: {target} defines no {attr!r}{did_you_mean(attr, names)}")
        return
    if target.split(".")[0] != "benchmark":  # another package's code is only imported in the sandbox
        if importlib.util.find_spec(target.split(".")[0]) is None:
            raise SubmissionError(f"{where}: no installed package {target.split('.')[0]!r}; install it or ship "
                                  "the code in the folder as `file.py:Class`")
        return
    try:
        module = importlib.import_module(target)
    except ImportError as err:
        raise SubmissionError(f"{where}: no module {target!r} ({err})") from err
    if not hasattr(module, attr):
        public = [n for n in vars(module) if not n.startswith("_")]
        raise SubmissionError(f"{where}: {target} has no {attr!r}{did_you_mean(attr, public)}")
    check_params(Path(folder) / SUBMISSION_FILE, "params", getattr(module, attr), {k: [v] for k, v in spec.params.items()})


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


def known_suites(extra=()) -> set[str]:
    """The suite names a submission may declare: bundled suites, buildable recipes, and `extra`."""
    from ..suite import RECIPES, bundled_suites

    return {s.name for s in bundled_suites()} | set(RECIPES) | set(extra)


def check_submission(folder: Path, kind: type[PredictorSubmission] | type[MethodSubmission] | None = None,
                     suites=()) -> PredictorSubmission | MethodSubmission:
    """Everything the harness checks before running a submission, and the one place it is checked:
    the leaderboard and `willitmerge submit check` both call this. Reads and parses, never runs
    submission code; `suites` are suite names known besides the bundled ones and the recipes."""
    folder = Path(folder)
    where = folder / SUBMISSION_FILE
    _check_folder(folder)
    spec = read_submission(folder) if kind is None else read_submission_of_kind(folder, kind)
    if spec.name != folder.name:
        raise SubmissionError(f"{where}: field `name`: {spec.name!r} differs from its folder {folder.name!r}; "
                              "rename one so they agree")
    known = known_suites(suites)
    for name in spec.suites:
        if name not in known:
            raise SubmissionError(f"{where}: field `suites`: no suite {name!r}{did_you_mean(name, known)}; "
                                  f"known: {', '.join(sorted(known))}")
    if getattr(spec, "predictions", None) is not None:
        _file_in(folder, "predictions", spec.predictions)
    if spec.entry_point is not None:
        _check_entry_point(folder, spec)
    if isinstance(spec, MethodSubmission):
        _check_method(folder, spec)
    return spec


def _check_method(folder: Path, spec: MethodSubmission) -> None:
    from ..merging import METHODS, load_mergekit_method
    from ..merging.mergekit_adapter import MergekitTemplateError

    where = folder / SUBMISSION_FILE
    space = spec.search_space or {}
    for key, candidates in space.items():
        if not candidates:
            raise SubmissionError(f"{where}: field `search_space.{key}`: no candidates; list at least one value")
    count = math.prod(len(v) for v in space.values()) if space else 1
    if count > MAX_CANDIDATES:
        raise SubmissionError(f"{where}: field `search_space`: {count} candidates; at most {MAX_CANDIDATES} "
                              "(each is merged and scored on dev for every pair)")
    if spec.mergekit is not None:  # the harness names a mergekit method by its template: it must read
        try:
            load_mergekit_method(_file_in(folder, "mergekit", spec.mergekit), spec.name)
        except (OSError, MergekitTemplateError) as err:
            raise SubmissionError(f"{where}: field `mergekit`: {err}") from err
    if spec.registry is None:
        return
    if spec.registry not in METHODS:
        raise SubmissionError(f"{where}: field `registry`: no method {spec.registry!r}"
                              f"{did_you_mean(spec.registry, METHODS)}; registered: {', '.join(sorted(METHODS))}")
    cls = METHODS[spec.registry]
    check_params(where, "params", cls, {k: [v] for k, v in spec.params.items()})
    check_params(where, "search_space", cls, space)


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
        except (SyntaxError, ValueError):  # ValueError: not UTF-8, or a null byte
            continue  # the sandboxed worker reports it if it imports the file
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
