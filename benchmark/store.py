"""A content-addressed store of finished evaluation jobs, one JSON file per job.

Each file is written to a temporary name and renamed into place, so a run killed at any
moment (even SIGKILL) leaves only whole records; the key hashes everything the result
depends on, so a changed method, suite or library version never reuses a stale record.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_VARIABLE = "WILLITMERGE_CACHE"
CHECKPOINT_SECONDS = 300


def default_cache() -> Path:
    """The cache folder when none is passed: $WILLITMERGE_CACHE, else ~/.cache/willitmerge.

    Read at call time, not import time, so one setting reaches every part of a run; commands
    take `--cache` and pass it down explicitly."""
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "willitmerge")


def job_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class JobStore:
    """Records by key under `root`; `packs` are read-only JSON-lines files of records committed
    with the repository (written by `write_pack`), consulted when `root` lacks a key. `used`
    collects every key read or written, so a run can pack exactly what it needed."""

    def __init__(self, root: Path, packs: tuple[Path, ...] = ()):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.packs = tuple(Path(p) for p in packs)
        self._packed: dict[str, dict[str, Any]] | None = None
        self.used: set[str] = set()

    def _pack_records(self) -> dict[str, dict[str, Any]]:
        if self._packed is None:
            self._packed = read_packs(self.packs)
        return self._packed

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        if path.is_file():
            record = json.loads(path.read_text())
        else:
            record = self._pack_records().get(key) if self.packs else None
        if record is not None:
            self.used.add(key)
        return record

    def put(self, key: str, record: dict[str, Any]) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(record, fh, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.used.add(key)

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.json"))


def read_packs(packs: tuple[Path, ...]) -> dict[str, dict[str, Any]]:
    """Key -> record of every pack that exists (a later pack wins on a repeated key)."""
    records = {}
    for pack in packs:
        if pack.is_file():
            for line in pack.read_text().splitlines():
                row = json.loads(line)
                records[row["key"]] = row["record"]
    return records


def write_pack(path: Path, stores: list[JobStore], skip: tuple[Path, ...] = (), keep: tuple[Path, ...] = ()) -> int:
    """Write every record the stores used as one sorted JSON-lines file (byte-identical for the same
    records), leaving out those already in the packs `skip` (committed elsewhere). Records of the packs
    `keep` stay even if unused: a checkpoint of an unfinished run must not drop what it has not reached yet."""
    elsewhere = set(read_packs(skip))
    records = {k: v for k, v in read_packs(keep).items() if k not in elsewhere}
    for store in stores:
        for key in store.used - elsewhere:
            records[key] = store.get(key)
    return _write_records(path, records)


def pack_keys(path: Path, store: JobStore, keys: list[str]) -> int:
    """Write the records of `keys` that the store holds (in its folder or its packs) as a pack: a
    checkpoint of a long run that a fresh clone can resume from."""
    records = {}
    for key in keys:
        record = store.get(key)
        if record is not None:
            records[key] = record
    return _write_records(path, records)


def _write_records(path: Path, records: dict[str, dict[str, Any]]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps({"key": k, "record": records[k]}, sort_keys=True, separators=(",", ":")) + "\n"
                           for k in sorted(records)))
    os.replace(tmp, path)
    return len(records)


@contextmanager
def checkpointing(write: Callable[[], object], seconds: float = CHECKPOINT_SECONDS) -> Iterator[Callable[[], None]]:
    """A long run's pack: `write` runs when the yielded `tick` (called after each finished job) finds
    `seconds` passed since the last write, and when the run is stopped or fails, so a fresh clone
    resumes from the committed pack. The run's normal end writes its final pack itself."""
    last = time.monotonic()

    def tick() -> None:
        nonlocal last
        if time.monotonic() - last > seconds:
            write()
            last = time.monotonic()

    try:
        yield tick
    except BaseException:
        write()
        raise
