"""`willitmerge dataset export DIR`: write the published dataset's layout (see `layout`) locally, offline.

`publish` uploads exactly what this writes, so what a user downloads from the Hub is what a test here opens
with `datasets.load_dataset` and reads back. The suites are the package's published data: the ground truth of
every bundled suite with weights, every bundled result suite, and every revealed blind round's ground truth;
or the ones named. Everything is read and checked before the folder appears, and it appears whole or not at all.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from ..blind.layout import BLIND_DIR, GROUND_TRUTH as ROUND_GROUND_TRUTH, RoundPaths
from ..groundtruth import TABLES, resolve_ground_truth
from ..suite import ResultSuiteError, SuiteKind, bundled_suites, find_suite
from ..suite.build.fetch import hash_folder
from ..suite.registry import WEIGHT_SUITE_CITATION
from ..suite.results_suite import SPEC_NAME, read_result_suite
from .card import render_card
from .layout import (CARD, DATA, FORMAT, GROUND_TRUTH, INDEX, LEADERBOARD, RESULT_SUITE, RESULTS, DatasetIndex,
                     LayoutError, PublishedSuite, PublishedTable, result_tables)
from .leaderboard import FILES as LEADERBOARD_FILES

META = "meta.json"  # a ground-truth folder's record of what it was measured on


@dataclass(frozen=True)
class Source:
    """One suite to export: what the index says of it, the files copied into its folder (from, to: relative to
    the folder) and the tables written there as parquet (relative path -> table)."""

    suite: PublishedSuite
    copies: tuple[tuple[Path, str], ...]
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def _published(name: str, kind: str, version: str, citation: str, licence: str,
               tables: list[tuple[str, str, int]]) -> PublishedSuite:
    folder = f"{DATA}/{name}"
    return PublishedSuite(name=name, kind=kind, version=version, folder=folder, citation=citation, licence=licence,
                          tables=[PublishedTable(config=f"{name}-{table}", table=table, path=f"{folder}/{file}",
                                                 rows=rows) for table, file, rows in tables])


def ground_truth_source(folder: Path) -> Source:
    """A ground-truth folder: its card, meta.json and every table meta.json counts, each checked against it."""
    meta = json.loads((folder / META).read_text())
    missing = [key for key in ("suite", "suite_version", "licence", "rows") if key not in meta]
    if missing:
        raise LayoutError(f"{folder / META}: field(s) {', '.join(missing)} missing; recompute it with "
                          "`willitmerge groundtruth`")
    tables = []
    for table in (t for t in TABLES if t in meta["rows"]):
        path = folder / f"{table}.parquet"
        rows = pq.read_metadata(path).num_rows if path.is_file() else None
        if rows != meta["rows"][table]:
            raise LayoutError(f"{path}: {'missing' if rows is None else f'{rows} rows'}, {META} field rows.{table} "
                              f"says {meta['rows'][table]}; recompute it with `willitmerge groundtruth`")
        tables.append((table, path.name, rows))
    if not (folder / CARD).is_file():
        raise LayoutError(f"{folder / CARD}: missing; `willitmerge groundtruth` writes it beside the tables")
    name, version = meta["suite"], meta["suite_version"]
    suite = _published(name, GROUND_TRUTH, version, WEIGHT_SUITE_CITATION.format(name=name, version=version),
                       meta["licence"], tables)
    return Source(suite, tuple((folder / f, f) for f in (CARD, META, *(file for _, file, _ in tables))))


def result_source(folder: Path) -> Source:
    """A result suite: its two tables as parquet, and its folder whole and byte for byte under `suite/` (its
    licence asks that its attribution travel with the data)."""
    result_suite = read_result_suite(folder)
    problems = result_suite.verify()
    if problems:
        raise ResultSuiteError(f"{folder}: {'; '.join(problems[:5])}; fix the files or {SPEC_NAME}'s checksums")
    spec = result_suite.spec
    frames = result_tables(result_suite)
    suite = _published(spec.name, RESULTS, spec.version, spec.citation, spec.licence,
                       [(table, f"{table}.parquet", len(frame)) for table, frame in frames.items()])
    copies = tuple((result_suite.root / f, f"{RESULT_SUITE}/{f}") for f in (SPEC_NAME, *(e.path for e in spec.files)))
    return Source(suite, copies, {f"{table}.parquet": frame for table, frame in frames.items()})


def source_of(name: str, cache: Path | None = None) -> Source:
    """A suite by name or folder (its current ground truth, or the result suite itself), or a ground-truth folder."""
    if (Path(name) / META).is_file():
        return ground_truth_source(Path(name))
    spec = find_suite(name)
    if spec.kind is SuiteKind.RESULTS:
        return result_source(spec.root)
    return ground_truth_source(resolve_ground_truth(spec.root, cache))


def published_sources(root: Path = Path("."), cache: Path | None = None) -> list[Source]:
    """The package's published data: bundled ground truths, revealed rounds' ground truths, bundled result suites."""
    specs = bundled_suites()
    weights = [source_of(str(s.root), cache) for s in specs if s.kind is SuiteKind.WEIGHTS]
    rounds = [RoundPaths.of(p.name, root) for p in sorted((Path(root) / BLIND_DIR).glob("*")) if p.is_dir()]
    revealed = [ground_truth_source(r.public / ROUND_GROUND_TRUTH) for r in rounds
                if r.revealed and (r.public / ROUND_GROUND_TRUTH / META).is_file()]
    results = [result_source(s.root) for s in specs if s.kind is SuiteKind.RESULTS]
    return weights + revealed + results


def empty_target(out: Path) -> None:
    """Refuse to write into a folder that holds anything, so an export never mixes with stale files."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder; export into a new folder (nothing is "
                              "overwritten)")


def export_dataset(out: Path, suites: Sequence[str] | None = None, *, root: Path = Path("."),
                   leaderboard: bool = True, repo_id: str | None = None, cache: Path | None = None) -> DatasetIndex:
    """Write the layout into `out` (absent or empty): the named suites (default: `published_sources`), ROOT's
    leaderboard unless `leaderboard=False`, the card (its load examples name `repo_id`) and the index."""
    out = Path(out)
    empty_target(out)
    sources = [source_of(s, cache) for s in suites] if suites else published_sources(root, cache)
    names = [s.suite.name for s in sources]
    configs = [t.config for s in sources for t in s.suite.tables]
    for what, values in (("suite", names), ("config", configs)):
        clash = sorted({v for v in values if values.count(v) > 1})
        if clash:
            raise LayoutError(f"{what} name(s) {clash} would appear twice in the layout; name each suite once")
    board = Path(root) / LEADERBOARD
    missing = [f for f in LEADERBOARD_FILES if leaderboard and not (board / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{board} lacks {', '.join(missing)}; run `willitmerge leaderboard` first, or leave "
                                "the leaderboard out (`--no-leaderboard`)")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    work.chmod(0o755)  # mkdtemp's 0700 would stay on the folder once it is renamed into place
    try:
        copies = [(src, f"{s.suite.folder}/{rel}") for s in sources for src, rel in s.copies]
        copies += [(board / f, f"{LEADERBOARD}/{f}") for f in LEADERBOARD_FILES if leaderboard]
        for src, rel in copies:
            (work / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, work / rel)
        for s in sources:
            for rel, frame in s.frames.items():
                frame.to_parquet(work / s.suite.folder / rel, index=False)
        published = [s.suite for s in sources]
        (work / CARD).write_text(render_card(work, published, repo_id, list(LEADERBOARD_FILES) if leaderboard else []))
        index = DatasetIndex(format=FORMAT, suites=published, files=hash_folder(work))
        (work / INDEX).write_text(index.model_dump_json(indent=1) + "\n")
        if out.exists():
            out.rmdir()
        work.rename(out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return index
