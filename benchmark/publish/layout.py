"""The published dataset's layout, the same on disk (`willitmerge dataset export`) and on the Hub (`publish`,
`download`): a dataset card, an index, one folder per suite under `data/`, and the leaderboard beside them.

Every table a config names is a parquet file: `datasets` picks one file format for all of a repo's configs,
so one CSV config among parquet ones would not load. A ground truth's folder is the package's ground-truth
folder as it is (`meta.json`, its card, one parquet per table; `load_ground_truth(folder, table)`). A result
suite's folder holds its two tables as parquet, written from its CSVs, and under `suite/` the result suite
folder itself, byte for byte (`find_suite(folder / "suite")`), whose licence asks that it travel whole. The
index, `dataset.json`, names each suite's tables (one config each) and the sha256 of every file, so a download
is checked byte for byte before anything reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from ..groundtruth import load_ground_truth
from ..suite.manifest import FileEntry, verify_files
from ..suite.results_suite import PAIRS_NAME, RESULTS_NAME, ResultSuite, read_result_suite

INDEX = "dataset.json"
CARD = "README.md"
DATA = "data"
LEADERBOARD = "leaderboard"
FORMAT = "willitmerge-dataset/1"
GROUND_TRUTH, RESULTS = "groundtruth", "results"
RESULT_SUITE = "suite"  # the result suite folder inside its layout folder
# a result suite's two tables, as its folder names them
RESULT_TABLES = {"pairs": PAIRS_NAME, "results": RESULTS_NAME}


class LayoutError(ValueError):
    """A folder that is not a readable dataset layout; the message names the file, the field and the fix."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PublishedTable(_Frozen):
    """One table of a suite: one `datasets` config, one file."""

    config: str
    table: str
    path: str  # relative to the layout's root, forward slashes
    rows: int


class PublishedSuite(_Frozen):
    """One suite's folder under `data/`: a ground truth the package measured, or a published result suite."""

    name: str
    kind: Literal["groundtruth", "results"]
    version: str
    folder: str
    citation: str
    licence: str
    tables: list[PublishedTable]


class DatasetIndex(_Frozen):
    """`dataset.json`: what the layout holds, and every other file's sha256 and size."""

    format: Literal["willitmerge-dataset/1"]
    suites: list[PublishedSuite]
    files: list[FileEntry]

    def tables(self) -> list[PublishedTable]:
        return [t for s in self.suites for t in s.tables]


def result_tables(result_suite: ResultSuite) -> dict[str, pd.DataFrame]:
    """A result suite's tables under their config's table names (the keys of RESULT_TABLES)."""
    return {"pairs": result_suite.pairs(), "results": result_suite.results()}


def suite_card(suite: PublishedSuite) -> str:
    """Where a suite's own card sits in the layout: a ground truth's beside its tables, a result suite's in it."""
    return f"{suite.folder}/{CARD}" if suite.kind == GROUND_TRUTH else f"{suite.folder}/{RESULT_SUITE}/{CARD}"


def read_index(root: Path) -> DatasetIndex:
    path = Path(root) / INDEX
    if not path.is_file():
        raise LayoutError(f"{path}: missing, so {root} is not a willitmerge dataset layout; make one with "
                          "`willitmerge dataset export DIR` (a Hub repo written by an older `willitmerge publish` "
                          "needs publishing again)")
    try:
        return DatasetIndex.model_validate_json(path.read_text())
    except ValidationError as err:
        problems = "; ".join(f"field {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        raise LayoutError(f"{path}: invalid ({problems}); export the layout again") from err


def _suite_tables(root: Path, suite: PublishedSuite) -> dict[str, pd.DataFrame]:
    """The suite's tables as its configs hold them, read by the package's own reader for its folder: a result
    suite's parquet tables must equal what its CSVs read as, value for value."""
    folder = root / suite.folder
    if suite.kind == GROUND_TRUTH:
        return {t.table: load_ground_truth(folder, t.table) for t in suite.tables}
    result_suite = read_result_suite(folder / RESULT_SUITE)
    from_csv = result_tables(result_suite)
    frames = {}
    for t in suite.tables:
        if t.table not in from_csv:
            raise LayoutError(f"{root / INDEX}: suite {suite.name!r} lists table {t.table!r}; a result suite has "
                              f"{', '.join(from_csv)}; export it again")
        frames[t.table] = pd.read_parquet(root / t.path)
        if not frames[t.table].equals(from_csv[t.table]):
            raise LayoutError(f"{root / t.path}: differs from {folder / RESULT_SUITE / RESULT_TABLES[t.table]}, "
                              "which it was written from; export it again")
    return frames


def read_dataset(root: Path) -> dict[str, pd.DataFrame]:
    """Every table of a layout (an export, or a downloaded Hub snapshot) by config name, after checking every
    file against the index and every table's row count."""
    root = Path(root)
    index = read_index(root)
    problems = verify_files(root, index.files, INDEX, INDEX)
    if problems:
        raise LayoutError(f"{root}: {len(problems)} file(s) differ from {INDEX}: {'; '.join(problems[:5])}; download "
                          "or export it again")
    tables = {}
    for suite in index.suites:
        frames = _suite_tables(root, suite)
        for t in suite.tables:
            if len(frames[t.table]) != t.rows:
                raise LayoutError(f"{root / t.path}: {len(frames[t.table])} rows, {INDEX} says {t.rows}; export it "
                                  "again")
            tables[t.config] = frames[t.table]
    return tables
