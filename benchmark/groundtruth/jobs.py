"""The jobs of a ground-truth grid: denominators, tuning on dev, and merges on test."""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace
from typing import Any, Literal

from ..evaluation import EvalSettings
from ..merging import MergeMethod, MergekitMethod
from ..suite import Suite
from .store import job_key

Method = MergeMethod | MergekitMethod


@dataclass(frozen=True)
class Job:
    """One model evaluated on some tasks. `experts` is () for the base, one id for an expert."""

    kind: Literal["base", "expert", "merge", "tune"]
    experts: tuple[str, ...]
    tasks: tuple[str, ...]
    method: Method | None = None
    split: Literal["test", "dev"] = "test"

    def identity(self, suite_sha: str, settings: EvalSettings) -> dict[str, Any]:
        return {"suite_sha256": suite_sha, "kind": self.kind, "experts": list(self.experts),
                "tasks": list(self.tasks), "split": self.split,
                "method": self.method.spec() if self.method else None, "eval": settings.fingerprint()}


def suite_sha(suite: Suite) -> str:
    """The manifest's hash stands for the whole suite: it lists every file's sha256."""
    return hashlib.sha256((suite.root / "manifest.json").read_bytes()).hexdigest()


def key_of(job: Job, suite: Suite, settings: EvalSettings) -> str:
    return job_key(job.identity(suite_sha(suite), settings))


def denominator_jobs(suite: Suite) -> list[Job]:
    tasks = tuple(t.id for t in suite.manifest.tasks)
    return [Job("base", (), tasks)] + [Job("expert", (e.id,), tasks) for e in suite.manifest.experts]


def pair_tasks(suite: Suite, pair) -> tuple[str, str]:
    m = suite.manifest
    return m.expert(pair.expert_a).task, m.expert(pair.expert_b).task


def tuning_candidates(method: Method) -> list[Method]:
    """Every point of a method's declared dev search space (the method itself if none)."""
    space = getattr(method, "search_space", {}) or {}
    if not space:
        return [method]
    names = sorted(space)
    return [replace(method, **dict(zip(names, values))) for values in itertools.product(*(space[n] for n in names))]


def method_label(method: Method) -> str:
    return method.spec()["method"]


def params_json(method: Method) -> str:
    return json.dumps(method.spec()["params"], sort_keys=True)
