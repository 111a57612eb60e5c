"""Everything the harness checks of a submission before any of its code runs: the folder, the spec read
from `submission.yaml`, the entry point (a file only parsed), the parameters and the search space.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import math
import os
from pathlib import Path

from ..merging import METHODS, load_mergekit_method
from ..merging.mergekit_adapter import MergekitTemplateError
from ..suite import RECIPES, bundled_suites
from .schema import (SUBMISSION_FILE, MethodSubmission, PredictorSubmission, SubmissionError, _file_in, check_params,
                     did_you_mean, printable, read_submission, read_submission_of_kind)

# What the harness reads before any submission code runs is bounded, so no folder can stall it.
MAX_FOLDER_BYTES = 256 * 1024 ** 2
MAX_FOLDER_FILES = 1000
# Every candidate of a search space is merged and scored on dev for every pair.
MAX_CANDIDATES = 32


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


def known_suites(extra=()) -> set[str]:
    """The suite names a submission may declare: bundled suites, buildable recipes, and `extra`."""

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


def check_predictions_file(predictor, suite) -> None:
    """A predictions file must score exactly the suite's pairs (and only them)."""
    known = {p.id for p in suite.pairs}
    given = {pid for pid, _ in predictor.scores}
    unknown = sorted(given - known)
    if unknown:
        raise SubmissionError(f"predictions name pairs not in suite {suite.name!r}, e.g. {unknown[0]!r}")
