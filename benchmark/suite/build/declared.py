"""Declared suites: a base, experts and tasks named by reference (Hub repos, lm-eval task names)
instead of bundled files, in one typed YAML file (`declared.yaml`).

Like scikit-learn's `fetch_*` datasets, a declared suite costs nothing until `willitmerge suite
fetch NAME` downloads it; what the file can say offline (the job plan, the bytes, the compute)
`plan` derives from it. Revisions left open in the file are resolved on the first fetch and
kept in the lock (see `benchmark.suite.build.fetch`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .vocab import VocabRule

DECLARED_FILE = "declared.yaml"
DECLARED_ROOT = Path(__file__).parents[1] / "declared"
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
COMMIT_SHA = re.compile(r"^[0-9a-f]{40}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_Strict):
    """A decoder-only (Llama/Mistral) shape, enough to count parameters without the weights."""

    vocab: int
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    tied_embeddings: bool
    source: str = Field(description="where these numbers come from, and whether they were checked here")

    def parameters(self, vocab: int | None = None) -> int:
        """Embeddings (and an untied output layer), attention, MLP and RMSNorm weights."""
        rows = vocab or self.vocab
        kv = self.hidden // self.heads * self.kv_heads
        attention = 2 * self.hidden * self.hidden + 2 * self.hidden * kv
        per_layer = attention + 3 * self.hidden * self.intermediate + 2 * self.hidden
        embeddings = rows * self.hidden * (1 if self.tied_embeddings else 2)
        return embeddings + self.layers * per_layer + self.hidden


class AdapterShape(_Strict):
    """A LoRA adapter's shape, for estimating its size before it is downloaded."""

    rank: int
    target_modules: list[Literal["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]]
    dtype: Literal["float32", "bfloat16", "float16"]
    source: str

    def parameters(self, arch: Architecture) -> int:
        kv = arch.hidden // arch.heads * arch.kv_heads
        shapes = {"q_proj": (arch.hidden, arch.hidden), "k_proj": (arch.hidden, kv), "v_proj": (arch.hidden, kv),
                  "o_proj": (arch.hidden, arch.hidden), "gate_proj": (arch.hidden, arch.intermediate),
                  "up_proj": (arch.hidden, arch.intermediate), "down_proj": (arch.intermediate, arch.hidden)}
        return arch.layers * sum(self.rank * (i + o) for i, o in (shapes[m] for m in self.target_modules))


class HubModel(_Strict):
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$")
    revision: str | None = Field(None, description="a commit sha; empty means 'resolved on first fetch and locked'")

    @model_validator(mode="after")
    def _revision_is_a_commit(self) -> HubModel:
        if self.revision is not None and not COMMIT_SHA.match(self.revision):
            raise ValueError(f"revision {self.revision!r} of {self.repo}: pin a 40-hex commit sha, or leave it "
                             "empty to resolve and lock it on the first fetch (a branch or tag can move)")
        return self


class DeclaredBase(HubModel):
    architecture: Architecture
    dtype: Literal["float32", "bfloat16", "float16"] = Field(description="dtype of the published safetensors")
    licence: str
    gated: bool = Field(False, description="the Hub asks for a token and an accepted licence")


class DeclaredExpert(HubModel):
    id: str
    task: str
    format: Literal["full", "lora"]
    vocab_rows: int | None = Field(None, description="embedding rows when they differ from the base's")


class DeclaredTask(_Strict):
    id: str
    lm_eval_task: str = Field(description="the task name lm-eval runs")
    lm_eval_yaml: str | None = Field(None, description="a YAML beside this file that defines it; empty: the name "
                                                       "is in lm-eval's standard registry")
    examples: int = Field(description="test examples scored per model (for the cost estimate)")
    examples_source: str
    source: str | None = None


class CostInputs(_Strict):
    """What the compute estimate needs that the file cannot know: stated, not measured."""

    prompt_tokens: int = Field(description="mean prompt tokens per example (an assumption)")
    generated_tokens: int = Field(description="tokens generated per example (the task's generation cap)")
    basis: str = Field(description="why these numbers")


class DeclaredSuite(_Strict):
    name: str
    version: str
    description: str
    citation: str
    provenance: str = Field(description="where the list of experts and tasks comes from, and what was verified")
    base: DeclaredBase
    adapter_shape: AdapterShape | None = Field(None, description="required when an expert is a LoRA adapter")
    experts: list[DeclaredExpert]
    tasks: list[DeclaredTask]
    pairs: Literal["all-cross-task"] | list[tuple[str, str]] = Field(
        "all-cross-task", description="every pair of experts on different tasks, or an explicit list of id pairs")
    methods: list[str]
    vocab: VocabRule = Field(description="what to do with an expert whose embedding rows differ from the base's")
    cost: CostInputs
    notes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references_resolve(self) -> DeclaredSuite:
        tasks = {t.id for t in self.tasks}
        experts = {e.id for e in self.experts}
        for e in self.experts:
            if e.task not in tasks:
                raise ValueError(f"expert {e.id!r}: task {e.task!r} is not declared under `tasks`")
        if any(e.format == "lora" for e in self.experts) and self.adapter_shape is None:
            raise ValueError("LoRA experts need `adapter_shape` (rank, target modules, dtype) for the size estimate")
        if isinstance(self.pairs, list):
            for a, b in self.pairs:
                if a not in experts or b not in experts:
                    raise ValueError(f"pair ({a}, {b}): both must be declared experts")
        if len(experts) != len(self.experts):
            raise ValueError("expert ids must be unique")
        return self

    def expert_pairs(self) -> list[tuple[str, str]]:
        if isinstance(self.pairs, list):
            return [tuple(p) for p in self.pairs]
        return [(a.id, b.id) for a, b in combinations(self.experts, 2) if a.task != b.task]

    def repos(self) -> list[HubModel]:
        """The base first, then every expert: what `fetch` downloads and locks."""
        return [self.base, *self.experts]


class DeclaredSuiteError(ValueError):
    """A declared-suite file that is missing or does not validate; the message names the file and field."""


@dataclass(frozen=True)
class DeclaredSpec:
    """A declared suite and the folder its file sits in (task YAMLs are relative to it)."""

    suite: DeclaredSuite
    root: Path

    @property
    def path(self) -> Path:
        return self.root / DECLARED_FILE


def read_declared(root: Path) -> DeclaredSpec:
    path = Path(root) / DECLARED_FILE
    if not path.is_file():
        raise DeclaredSuiteError(f"{path}: no declared suite here")
    try:
        suite = DeclaredSuite.model_validate(yaml.safe_load(path.read_text()))
    except (ValidationError, yaml.YAMLError) as err:
        problems = (err.errors()[:5] if isinstance(err, ValidationError) else [{"loc": (), "msg": str(err)}])
        detail = "; ".join(f"field {'.'.join(map(str, e['loc'])) or '(file)'}: {e['msg']}" for e in problems)
        raise DeclaredSuiteError(f"{path}: invalid declared suite ({detail}); fix the field named") from err
    for task in suite.tasks:
        if task.lm_eval_yaml and not (path.parent / task.lm_eval_yaml).is_file():
            raise DeclaredSuiteError(f"{path}: field tasks.{task.id}.lm_eval_yaml: {task.lm_eval_yaml} does not exist "
                                     "beside the file")
    return DeclaredSpec(suite, path.parent.resolve())


def declared_suites() -> list[DeclaredSpec]:
    """Every declared suite shipped in the package, by name."""
    if not DECLARED_ROOT.is_dir():
        return []
    found = [read_declared(p) for p in sorted(DECLARED_ROOT.iterdir()) if (p / DECLARED_FILE).is_file()]
    return sorted(found, key=lambda s: s.suite.name)


def find_declared(name_or_path: str | Path) -> DeclaredSpec | None:
    """A shipped declared suite by name, or a folder holding a `declared.yaml`; None if neither."""
    for spec in declared_suites():
        if spec.suite.name == str(name_or_path):
            return spec
    path = Path(name_or_path)
    if (path / DECLARED_FILE).is_file():
        return read_declared(path)
    return None
