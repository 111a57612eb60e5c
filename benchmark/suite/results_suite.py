"""External result suites: a published table of pairwise merge results, shipped as a data folder.

A paper's results become a suite by writing a folder (see `external/FORMAT.md`), not code:
`suite.yaml` says what the folder holds and checksums every file, `pairs.csv` holds the pairs
and their precomputed metrics (what predictors may read), `results.csv` holds the published
targets per (pair, method) (what they are scored against, hidden from submissions).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from .manifest import FileEntry, verify_files

SPEC_NAME = "suite.yaml"
PAIRS_NAME = "pairs.csv"
RESULTS_NAME = "results.csv"
FORMAT = "willitmerge-results/1"
PAIR_COLUMNS = ("pair_id", "expert_a", "expert_b", "task_a", "task_b")
TARGET_NAMES = ("na", "raw", "gain")


class ResultSuiteError(ValueError):
    """A result suite folder that does not read; the message names the file, the field and the fix."""


def _unique(values: list[str], field: str) -> list[str]:
    dupes = sorted({v for v in values if values.count(v) > 1})
    if dupes:
        raise ValueError(f"{field} lists {dupes} more than once")
    return values


def _relative(path: str) -> str:
    p = PurePosixPath(path)
    if not path or p.is_absolute() or ".." in p.parts or "\\" in path:
        raise ValueError(f"{path!r} must be a relative path inside the folder, with forward slashes")
    return p.as_posix()


class ResultSuiteSpec(BaseModel):
    """`suite.yaml`: what the folder is, where it came from, and the checksum of every data file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["willitmerge-results/1"]
    name: str
    version: str
    description: str
    citation: str
    licence: str
    source: str
    methods: list[str]
    targets: list[Literal["na", "raw", "gain"]]
    metrics: list[str]
    files: list[FileEntry]
    hidden: list[str]

    @field_validator("methods", "targets", "metrics")
    @classmethod
    def _no_duplicates(cls, values, info):
        if not values:
            raise ValueError(f"{info.field_name} must list at least one entry")
        return _unique(list(values), info.field_name)

    @field_validator("hidden")
    @classmethod
    def _hidden_relative(cls, values):
        return [_relative(v).rstrip("/") for v in values]

    @model_validator(mode="after")
    def _consistent(self):
        paths = _unique([_relative(f.path) for f in self.files], "files")
        for required in (PAIRS_NAME, RESULTS_NAME):
            if required not in paths:
                raise ValueError(f"files must list {required} (with its sha256 and bytes)")
        for h in self.hidden:
            if not any(_is_hidden(p, [h]) for p in paths):
                raise ValueError(f"hidden entry {h!r} is neither a listed file nor a folder holding one")
        if not _is_hidden(RESULTS_NAME, self.hidden):
            raise ValueError(f"hidden must include {RESULTS_NAME}, or submissions could read the targets")
        if _is_hidden(PAIRS_NAME, self.hidden):
            raise ValueError(f"hidden must not include {PAIRS_NAME}: predictors read their inputs from it")
        clash = sorted(set(self.metrics) & (set(PAIR_COLUMNS) | set(TARGET_NAMES) | {"method"}))
        if clash:
            raise ValueError(f"metrics {clash} clash with reserved column names")
        return self


def _is_hidden(path: str, hidden: list[str]) -> bool:
    return any(path == h or path.startswith(h + "/") for h in hidden)


def _read_csv(path: Path, text_columns: tuple[str, ...], float_columns: list[str], field: str) -> pd.DataFrame:
    """Identifiers stay strings (so an expert called "NA" stays one); numbers go through Python's
    float(), which parses a repr-written float back bit for bit; only an empty cell is missing.
    `field` is the suite.yaml field that declares `float_columns`."""
    if not path.is_file():
        raise ResultSuiteError(f"{path}: missing; every result suite has {path.name} (see external/FORMAT.md)")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise ResultSuiteError(f"{path}: not a readable CSV ({err}); write it with a header row, comma-separated")
    missing = [c for c in text_columns if c not in frame.columns]
    if missing:
        raise ResultSuiteError(f"{path}: required column {missing[0]!r} is missing (columns: "
                               f"{list(frame.columns)}); add it to the header row")
    missing = [c for c in float_columns if c not in frame.columns]
    if missing:
        raise ResultSuiteError(f"{path}: column {missing[0]!r} is missing, but {SPEC_NAME} field {field} lists "
                               f"it; add the column or remove it from {field}")
    unknown = [c for c in frame.columns if c not in (*text_columns, *float_columns)]
    if unknown:
        raise ResultSuiteError(f"{path}: column {unknown[0]!r} is not declared in {SPEC_NAME} field {field}; "
                               f"list it there or drop the column")
    for column in text_columns:
        if (frame[column] == "").any():
            row = int((frame[column] == "").idxmax()) + 2
            raise ResultSuiteError(f"{path}: column {column!r} is empty on line {row}; fill it in")
    for column in float_columns:
        cells = frame[column]
        try:
            frame[column] = [float("nan") if c == "" else float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if c != "" and not _is_float(c))
            raise ResultSuiteError(f"{path}: column {column!r} holds {bad!r}, not a number; write a float, "
                                   f"or leave the cell empty for a missing value") from None
    return frame[[*text_columns, *float_columns]]


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


class ResultSuite:
    """A read, checked result suite folder. Frames are returned as copies, so callers cannot
    change what the next caller sees."""

    def __init__(self, root: Path, spec: ResultSuiteSpec, pairs: pd.DataFrame, results: pd.DataFrame | None):
        self.root, self.spec = Path(root).resolve(), spec
        self._pairs, self._results = pairs, results

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    def pairs(self) -> pd.DataFrame:
        """pair_id, expert_a, expert_b, task_a, task_b, then one float column per metric (NaN = missing)."""
        return self._pairs.copy()

    def results(self) -> pd.DataFrame:
        """pair_id, method, then one float column per target; NaN = the merge failed in the source."""
        if self._results is None:
            raise ResultSuiteError(f"{self.root / RESULTS_NAME}: not read (the suite was opened with "
                                   f"with_results=False); reopen it with read_result_suite(root)")
        return self._results.copy()

    def hidden_paths(self) -> list[Path]:
        return hidden_paths(self.root, self.spec)

    def fingerprint_paths(self) -> list[Path]:
        return fingerprint_paths(self.root)

    def verify(self) -> list[str]:
        """Problems found, one sentence each; empty when every listed file matches its size and hash
        and nothing unlisted sits in the folder."""
        return verify_files(self.root, self.spec.files, SPEC_NAME, SPEC_NAME)


def _read_spec(root: Path) -> ResultSuiteSpec:
    path = root / SPEC_NAME
    if not path.is_file():
        raise ResultSuiteError(f"{path}: missing; a result suite folder needs {SPEC_NAME} "
                               f"(see benchmark/suite/external/FORMAT.md)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ResultSuiteError(f"{path}: YAML syntax error ({' '.join(str(err).split())}); fix the syntax") from err
    if not isinstance(raw, dict):
        raise ResultSuiteError(f"{path}: expected a mapping of fields (format, name, ...), got {type(raw).__name__}")
    try:
        return ResultSuiteSpec.model_validate(raw)
    except ValidationError as err:
        problems = "; ".join((f"field {'.'.join(map(str, e['loc']))}: " if e["loc"] else "")
                             + e["msg"].removeprefix("Value error, ")
                             + (" (quote it in YAML)" if e["type"] == "string_type" else "")
                             for e in err.errors()[:5])
        raise ResultSuiteError(f"{path}: invalid ({problems}); fix these fields as "
                               f"benchmark/suite/external/FORMAT.md describes") from err


def hidden_paths(root: Path, spec: ResultSuiteSpec) -> list[Path]:
    """Absolute paths a sandbox must hide (files or folders): the targets and their sources."""
    return [Path(root).resolve() / h for h in spec.hidden]


def fingerprint_paths(root: Path) -> list[Path]:
    """The two tables: every number a predictor reads or is scored against (editing the README or the
    sources does not change a score, so it does not invalidate one)."""
    return [Path(root).resolve() / PAIRS_NAME, Path(root).resolve() / RESULTS_NAME]


def read_result_spec(root: Path) -> ResultSuiteSpec:
    """Only `suite.yaml`, checked: enough to list and fingerprint a suite without reading its tables."""
    return _read_spec(Path(root))


def read_result_suite(root: Path, *, with_results: bool = True) -> ResultSuite:
    """Read and check a folder. `with_results=False` skips results.csv, which sandboxed
    submissions cannot read (it is hidden); everything else is checked either way."""
    root = Path(root)
    spec = _read_spec(root)
    pairs = _read_csv(root / PAIRS_NAME, PAIR_COLUMNS, spec.metrics, "metrics")
    path = root / PAIRS_NAME
    if pairs.empty:
        raise ResultSuiteError(f"{path}: no rows; write one row per pair under the header")
    dupes = pairs.pair_id[pairs.pair_id.duplicated()]
    if len(dupes):
        raise ResultSuiteError(f"{path}: column 'pair_id' repeats {dupes.iloc[0]!r}; give each pair one row")
    results = None
    if with_results:
        path = root / RESULTS_NAME
        results = _read_csv(path, ("pair_id", "method"), spec.targets, "targets")
        unknown = sorted(set(results.method) - set(spec.methods))
        if unknown:
            raise ResultSuiteError(f"{path}: column 'method' has {unknown}, not declared in {SPEC_NAME} field "
                                   f"methods ({spec.methods}); add them there or fix the rows")
        strangers = sorted(set(results.pair_id) - set(pairs.pair_id))
        if strangers:
            raise ResultSuiteError(f"{path}: column 'pair_id' has {strangers[:3]} ({len(strangers)} in all), "
                                   f"not in {PAIRS_NAME}; add those pairs there or fix the rows")
        keys = results[["pair_id", "method"]]
        if keys.duplicated().any():
            pid, method = keys[keys.duplicated()].iloc[0]
            raise ResultSuiteError(f"{path}: ({pid!r}, {method!r}) appears twice; give each (pair_id, method) "
                                   f"one row")
        if len(results) != len(pairs) * len(spec.methods):
            have = set(map(tuple, keys.to_numpy()))
            lacking = [(p, m) for m in spec.methods for p in pairs.pair_id if (p, m) not in have]
            raise ResultSuiteError(f"{path}: {len(lacking)} (pair_id, method) rows missing, e.g. {lacking[0]}; "
                                   f"write a row with empty target cells for a merge that failed")
    return ResultSuite(root, spec, pairs, results)


def is_result_suite(path: Path) -> bool:
    """A folder whose suite.yaml declares this format (without checking anything else)."""
    spec = Path(path) / SPEC_NAME
    if not spec.is_file():
        return False
    try:
        raw = yaml.safe_load(spec.read_text())
    except (yaml.YAMLError, OSError, UnicodeDecodeError):
        return False
    return isinstance(raw, dict) and raw.get("format") == FORMAT
