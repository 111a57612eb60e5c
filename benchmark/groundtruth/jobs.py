"""The jobs of a ground-truth grid: denominators, tuning on dev, and merges on test.

A job's key hashes everything its scores depend on: the suite (its manifest's sha256), the
model (base, expert, or a method with its parameters and the provenance of its merge code),
the tasks and split, and the evaluation settings with their code and library versions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ..evaluation import EvalSettings
from ..merging import merge_provenance
from ..provenance import code_fingerprint
from ..seeding import seeded_rng
from ..store import job_key
from ..suite import Suite
from ..suite.suite import WEIGHT_LOADING


class Method(Protocol):
    """Anything the grid can merge with: a registered method, a mergekit template, a submission.

    A method that merges whole model folders (a mergekit template) also has the capability
    `benchmark.merging.FolderMerger`: the grid then merges it from folders, never streamed."""

    libraries: tuple[str, ...]

    def spec(self) -> dict[str, Any]: ...

    def candidates(self) -> list["Method"]: ...

    def code_roots(self) -> tuple: ...


@dataclass(frozen=True)
class Job:
    """One model evaluated on some tasks. `experts` is () for the base, one id for an expert."""

    kind: Literal["base", "expert", "merge", "tune"]
    experts: tuple[str, ...]
    tasks: tuple[str, ...]
    method: Method | None = None
    split: Literal["test", "dev"] = "test"

    def identity(self, suite_sha: str, settings: EvalSettings) -> dict[str, Any]:
        weights = merge_provenance(self.method) if self.method else {"code": code_fingerprint(*WEIGHT_LOADING)}
        return {"suite_sha256": suite_sha, "kind": self.kind, "experts": list(self.experts),
                "tasks": list(self.tasks), "split": self.split,
                "method": self.method.spec() if self.method else None, "weights": weights,
                "eval": settings.fingerprint()}


def key_of(job: Job, suite: Suite, settings: EvalSettings) -> str:
    return job_key(job.identity(suite.sha256, settings))


def denominator_jobs(suite: Suite) -> list[Job]:
    tasks = tuple(t.id for t in suite.manifest.tasks)
    return [Job("base", (), tasks)] + [Job("expert", (e.id,), tasks) for e in suite.manifest.experts]



def count_jobs(suite: Suite, methods: list[Method], groups: list[PartnerGroup] = ()) -> int:
    per_unit = sum(len(m.candidates()) + (1 if len(m.candidates()) > 1 else 0) for m in methods)
    return len(denominator_jobs(suite)) + (len(suite.manifest.pairs) + len(groups)) * per_unit


# Will-it-Merge's per-update target S(Δi): each of N rounds merges every expert with M = T − 1
# partners of other tasks. With 16 experts on 8 tasks, T = 4 splits each round into 4 groups,
# so N = 5 rounds cost 20 merges per method and give every expert 5 trials.
GROUP_SIZE = 4
GROUP_ROUNDS = 5


@dataclass(frozen=True)
class PartnerGroup:
    """Experts of distinct tasks merged together; each member's own-task accuracy is one trial of its S(Δi)."""

    id: str
    experts: tuple[str, ...]


def partner_groups(suite: Suite, size: int = GROUP_SIZE, rounds: int = GROUP_ROUNDS) -> list[PartnerGroup]:
    """Each round is a random partition of the experts (seeded by the suite's name and the round) into
    groups of `size` experts with distinct tasks (fewer when the suite has fewer tasks, never under 3:
    T = 2 is the pair table); experts left over when the count is not a multiple of the size sit the
    round out."""
    experts = [e.id for e in suite.manifest.experts]
    task = {e.id: e.task for e in suite.manifest.experts}
    size = min(size, len(set(task.values())))
    if size < 3:
        return []
    groups = []
    for n in range(rounds):
        rng = seeded_rng("partner-groups", suite.name, n)
        for _ in range(10_000):
            order = [experts[i] for i in rng.permutation(len(experts))]
            chunks = [tuple(order[i:i + size]) for i in range(0, len(order) - size + 1, size)]
            if all(len({task[e] for e in c}) == size for c in chunks):
                break
        else:
            raise RuntimeError(f"suite {suite.name!r}: found no partition into groups of {size} distinct tasks")
        groups += [PartnerGroup(f"r{n}g{k}", tuple(sorted(c))) for k, c in enumerate(chunks)]
    return groups


def pair_tasks(suite: Suite, pair) -> tuple[str, str]:
    m = suite.manifest
    return m.expert(pair.expert_a).task, m.expert(pair.expert_b).task


def method_label(method: Method) -> str:
    return method.spec()["method"]


def params_json(method: Method) -> str:
    return json.dumps(method.spec()["params"], sort_keys=True)
