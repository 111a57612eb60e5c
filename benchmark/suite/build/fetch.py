"""`suite fetch`: download a declared suite's repos with huggingface-hub, verify them, lock them.

Every revision is resolved before anything is downloaded, so an offline machine (or a typo in a
repo name) fails at once and leaves the cache as it was. The lock records each repo's resolved
commit and every file's sha256: a later fetch downloads exactly those commits and refuses bytes
that differ (some Lots-of-LoRAs adapters were changed after Will-it-Merge used them).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ...hub import allow_hub, offline_error
from ..manifest import FileEntry, file_entry, verify_files
from .declared import DECLARED_FILE, DeclaredSpec, DeclaredSuiteError, HubModel

LOCK_FILE = "lock.json"
# weights only as safetensors: pickled checkpoints (*.bin, *.pt) are never downloaded
HUB_PATTERNS = ["*.safetensors", "*.json", "tokenizer.model"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LockedRepo(_Strict):
    repo: str
    revision: str
    files: list[FileEntry]


class Lock(_Strict):
    suite: str
    declared_sha256: str
    repos: list[LockedRepo]

    def repo(self, repo_id: str) -> LockedRepo | None:
        return next((r for r in self.repos if r.repo == repo_id), None)


def suite_cache(cache: Path, name: str) -> Path:
    return Path(cache) / "declared" / name


def hub_cache(cache: Path) -> Path:
    return Path(cache) / "hub"


def read_lock(cache: Path, name: str) -> Lock | None:
    path = suite_cache(cache, name) / LOCK_FILE
    if not path.is_file():
        return None
    try:
        return Lock.model_validate_json(path.read_text())
    except ValidationError as err:
        raise DeclaredSuiteError(f"{path}: invalid lock ({err.errors()[0]['msg']}); delete it to resolve the "
                                 "revisions again") from err


def locked_revision(model: HubModel, lock: Lock | None) -> str | None:
    """The commit to fetch: the lock's, else the file's pin, else None (the Hub's current one); a pin
    that disagrees with the lock is an error (the file changed after the lock was written)."""
    locked = lock.repo(model.repo) if lock else None
    if locked and model.revision and model.revision != locked.revision:
        raise DeclaredSuiteError(f"{model.repo}: the suite pins {model.revision}, the lock has {locked.revision}; "
                                 "delete the lock to re-resolve, or restore the pin")
    return locked.revision if locked else model.revision


def resolve_revisions(spec: DeclaredSpec, lock: Lock | None) -> dict[str, str]:
    """repo -> commit sha for every repo: the lock's or the pin's (checked to exist on the Hub), else the
    Hub's current one. Every repo is asked before any download, so a failure leaves the cache untouched."""
    from huggingface_hub import HfApi

    api = HfApi()
    resolved = {}
    for model in spec.suite.repos():
        known = locked_revision(model, lock)
        try:
            resolved[model.repo] = api.model_info(model.repo, revision=known).sha
        except Exception as err:  # any failure of the network boundary: no network, no repo, no access
            raise offline_error(model.repo, err, "resolve the revision of") from err
        if known and resolved[model.repo] != known:
            raise DeclaredSuiteError(f"{model.repo}: the Hub answers {resolved[model.repo]} for revision {known}")
    return resolved


def hash_folder(folder: Path) -> list[FileEntry]:
    """Every file of a downloaded snapshot with its sha256 and size (symlinks into the blob store followed)."""
    return [file_entry(folder, p) for p in sorted(folder.rglob("*")) if p.is_file()]


def check_snapshot(repo: str, folder: Path, files: list[FileEntry], locked: LockedRepo | None) -> None:
    """Weights must be safetensors, and a locked repo's files must match the lock byte for byte."""
    if not any(f.path.endswith(".safetensors") for f in files):
        raise DeclaredSuiteError(f"{repo}: no .safetensors file in {folder}; this benchmark reads weights only as "
                                 "safetensors (convert the checkpoint, or choose a repo that ships them)")
    if locked is not None:
        problems = verify_files(folder, locked.files, "", f"the lock of {repo}")
        if problems:
            raise DeclaredSuiteError(f"{repo}@{locked.revision} differs from the lock: {'; '.join(problems)}")


def fetch_declared(spec: DeclaredSpec, cache: Path) -> Lock:
    """Download, verify and lock every repo of the suite; returns the lock (written on first fetch)."""
    from huggingface_hub import snapshot_download

    name = spec.suite.name
    lock = read_lock(cache, name)
    allow_hub()
    revisions = resolve_revisions(spec, lock)  # raises before anything is written
    repos = []
    for model in spec.suite.repos():
        try:
            folder = Path(snapshot_download(model.repo, revision=revisions[model.repo], cache_dir=str(hub_cache(cache)),
                                            allow_patterns=HUB_PATTERNS))
        except Exception as err:  # the network boundary, as above
            raise offline_error(model.repo, err, "download") from err
        files = hash_folder(folder)
        check_snapshot(model.repo, folder, files, lock.repo(model.repo) if lock else None)
        repos.append(LockedRepo(repo=model.repo, revision=revisions[model.repo], files=files))
    new_lock = Lock(suite=name, declared_sha256=hashlib.sha256((spec.root / DECLARED_FILE).read_bytes()).hexdigest(),
                    repos=repos)
    if new_lock != lock:  # first fetch, or repos the file gained since: lock what was resolved (locked ones are kept)
        write_lock(cache, new_lock)
    return new_lock


def write_lock(cache: Path, lock: Lock) -> Path:
    folder = suite_cache(cache, lock.suite)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    with os.fdopen(fd, "w") as fh:
        fh.write(lock.model_dump_json(indent=1) + "\n")
    path = folder / LOCK_FILE
    os.replace(tmp, path)
    return path
