"""Where a round's files live, what its commitment and manifest hold, and how open rounds are sealed.

In the repository, `leaderboard/blind/ROUND/` holds the commitment (`commitment.json`), while the
round is open its sealed units (`sealed/*.bin`) and its published aggregates (`scores.json`), and once
revealed the secret, the round's manifest, suite, ground truth and per-entry predictions. On the
operator's machine, `CACHE/blind/ROUND/` holds the round in clear: the built suite, the caches of its
ground truth and scoring. A unit is a folder or file of that work folder, sealed as one encrypted tar
under a name derived from the secret, so not even the file names of an open round are public.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ..store import default_cache
from .secret import Secret, SecretError

BLIND_DIR = Path("leaderboard") / "blind"
COMMITMENT = "commitment.json"
ROUND_MANIFEST = "manifest.json"
SCORES = "scores.json"
PREDICTIONS = "predictions.json"
SECRET_FILE = "secret.txt"
SIGNAL = "signal.json"
# the folders of a round's work folder that its manifest covers, and under these names that reveal publishes
SUITE, GROUND_TRUTH = "suite", "groundtruth"


class FileRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str
    sha256: str
    bytes: int


class BaseSuiteRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    sha256: str = Field(description="sha256 of the base suite's manifest when the round was opened")


class RoundManifest(BaseModel):
    """Every file of the round (its suite and its ground truth) with its sha256; the commitment hashes this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: str
    shape: str
    base_suite: BaseSuiteRecord
    files: list[FileRecord]

    def dumps(self) -> str:
        return json.dumps(self.model_dump(), indent=1, sort_keys=True) + "\n"


class Commitment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    round: str
    base_suite: BaseSuiteRecord
    shape: str
    secret_sha256: str = Field(description="sha256 of the secret's 64 hex digits")
    manifest_sha256: str = Field(description="sha256 of the round's manifest.json (every file's sha256)")
    build_code: str = Field(description="fingerprint of the code that drew and built the round")
    opened: str = Field(description="UTC time the round was committed; entries first committed before it are scored")
    experts: int
    tasks: int
    pairs: int


def file_records(root: Path, folders: tuple[str, ...]) -> list[FileRecord]:
    files = sorted(p for folder in folders for p in (root / folder).rglob("*") if p.is_file())
    return [FileRecord(path=p.relative_to(root).as_posix(), sha256=hashlib.sha256(p.read_bytes()).hexdigest(),
                       bytes=p.stat().st_size) for p in files]


@dataclass(frozen=True)
class RoundPaths:
    """A round's folder in the repository (`public`) and on the operator's machine (`work`)."""

    name: str
    public: Path
    work: Path

    @classmethod
    def of(cls, name: str, root: Path = Path("."), cache: Path | None = None) -> "RoundPaths":
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"round name {name!r}: use letters, digits and dashes, e.g. smol-r1")
        return cls(name, (Path(root) / BLIND_DIR / name).resolve(), (Path(cache or default_cache()) / "blind" / name).resolve())

    @property
    def commitment_file(self) -> Path:
        return self.public / COMMITMENT

    def commitment(self) -> Commitment:
        if not self.commitment_file.is_file():
            raise FileNotFoundError(f"{self.commitment_file}: round {self.name!r} has no commitment; open it with "
                                    "`willitmerge blind open SUITE --round NAME --secret-file F`")
        return Commitment.model_validate_json(self.commitment_file.read_text())

    @property
    def revealed(self) -> bool:
        return (self.public / SECRET_FILE).is_file()

    @property
    def sealed_dir(self) -> Path:
        return self.public / "sealed"

    @property
    def suite(self) -> Path:
        return self.work / SUITE

    @property
    def cache(self) -> Path:
        """The round's own job store, ground truth and metrics (never the operator's main cache)."""
        return self.work / "cache"

    @property
    def jobs_pack(self) -> Path:
        return self.work / "jobs.jsonl"

    @property
    def scoring(self) -> Path:
        return self.work / "scoring.json"


def _tar(root: Path, unit: str) -> bytes:
    """A deterministic tar of one unit (sorted members, no times or owners), so unchanged units seal unchanged."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        path = root / unit
        members = [path] + (sorted(p for p in path.rglob("*")) if path.is_dir() else [])
        for member in members:
            info = tar.gettarinfo(str(member), member.relative_to(root).as_posix())
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if member.is_file():
                with open(member, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
    return buffer.getvalue()


class Sealer:
    """Seals units of a round's work folder into the repository, and restores them on a fresh machine."""

    def __init__(self, paths: RoundPaths, secret: Secret):
        self.paths, self.secret = paths, secret

    def _file(self, unit: str) -> Path:
        return self.paths.sealed_dir / f"{self.secret.token('unit', self.paths.name, unit)[:24]}.bin"

    def seal(self, unit: str) -> None:
        """Write the unit sealed, unless the sealed file already holds exactly its bytes."""
        plain = _tar(self.paths.work, unit)
        target = self._file(unit)
        if target.is_file() and self.secret.unseal(self.paths.name, unit, target.read_bytes(), target) == plain:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        tmp.write_bytes(self.secret.seal(self.paths.name, unit, plain))
        tmp.replace(target)

    def drop(self, unit: str) -> None:
        self._file(unit).unlink(missing_ok=True)

    def restore(self, unit: str) -> bool:
        """Unpack the sealed unit into the work folder if it is sealed and missing there; whether it is there now."""
        if (self.paths.work / unit).exists():
            return True
        source = self._file(unit)
        if not source.is_file():
            return False
        plain = self.secret.unseal(self.paths.name, unit, source.read_bytes(), source)
        self.paths.work.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
            tar.extractall(self.paths.work, filter="data")
        return True


def check_secret(paths: RoundPaths, secret: Secret) -> Commitment | None:
    """The round's commitment if it has one (and the secret is the one it commits to), else None."""
    if not paths.commitment_file.is_file():
        return None
    commitment = paths.commitment()
    if commitment.secret_sha256 != secret.sha256:
        raise SecretError(f"{paths.commitment_file}: field `secret_sha256` does not match this secret's sha256; "
                          f"pass the secret file round {paths.name!r} was opened with")
    return commitment
