"""Loading a submission: its code imported (only the sandboxed workers call `load_predictor` and
`load_method`), the package code it uses and the hash of its folder (what its results are keyed on),
and finding the submission folders of a repository.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ..predictors.zero_shot import PredictionsFile
from .schema import (SUBMISSION_FILE, MethodSubmission, PredictorSubmission, SubmissionError, _file_in,
                     read_submission_of_kind)


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


def discover(root: Path, kind: Literal["predictors", "methods"] = "predictors") -> list[Path]:
    return sorted(p.parent for p in (Path(root) / kind).glob(f"*/{SUBMISSION_FILE}"))
