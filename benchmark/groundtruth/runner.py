"""One live engine running grid jobs: the cached record if there is one, else the job computed now.

Below every executor: the local grid, its worker processes and the Ray actors all run jobs through a
`GridRunner`, and tuning everywhere picks a candidate by `choose_candidate`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..evaluation import Engine, EvalSettings, TaskScore, open_engine
from ..evaluation.cuda import streamed_merge
from ..merging import FolderMerger, merge_experts
from ..store import JobStore
from ..suite import Suite
from ..suite.suite import StateDict
from .jobs import Job, Method, key_of


def _record(job: Job, scores: dict[str, TaskScore], seconds: float) -> dict:
    return {"kind": job.kind, "experts": list(job.experts), "split": job.split, "seconds": round(seconds, 3),
            "method": job.method.spec()["method"] if job.method else None,
            "scores": {t: {"accuracy": s.accuracy, "stderr": s.stderr, "n": s.n,
                           "correct": "".join(map(str, s.correct))} for t, s in scores.items()}}


def scores_of(record: dict) -> dict[str, TaskScore]:
    return {t: TaskScore(t, s["accuracy"], s["stderr"], s["n"], tuple(int(c) for c in s["correct"]))
            for t, s in record["scores"].items()}


class GridRunner:
    """Runs jobs through one engine (created only if some job is not cached yet); without a store it only
    computes (`compute`), as a Ray actor does for the driver that stores."""

    def __init__(self, suite: Suite, settings: EvalSettings, store: JobStore | None):
        self.suite, self.settings, self.store = suite, settings, store
        self._engine: Engine | None = None
        self.computed = 0

    def result(self, job: Job, make_state: Callable[[], StateDict] | None = None) -> dict[str, TaskScore]:
        """The job's scores from the cache, else computed; `make_state` supplies weights the grid
        cannot make itself (a sandboxed submission's merge) and is only called on a cache miss."""
        key = key_of(job, self.suite, self.settings)
        record = self.store.get(key)
        if record is None:
            self.store.put(key, self.compute(job, make_state))
            record = self.store.get(key)
        return scores_of(record)

    def compute(self, job: Job, make_state: Callable[[], StateDict] | None = None) -> dict:
        """The job's record, evaluated now whatever the cache holds (a Ray actor computes, the driver stores)."""
        started = time.perf_counter()
        state = make_state() if make_state is not None else self._state(job)
        if self._engine is None:
            self._engine = open_engine(self.suite, self.settings)
        scores = self._engine.evaluate(list(job.tasks), state, split=job.split)
        self.computed += 1
        return _record(job, scores, time.perf_counter() - started)

    def _state(self, job: Job):
        if job.kind == "base":
            return self.suite.base_state_dict()
        if job.kind == "expert":
            return self.suite.expert_state_dict(job.experts[0])
        if self.settings.device == "cuda" and not isinstance(job.method, FolderMerger):
            return streamed_merge(self.suite, job.method, list(job.experts))
        return merge_experts(self.suite, job.method, list(job.experts))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def choose_candidate(candidates: list[Method], dev: list[dict[str, TaskScore]]) -> Method:
    """Dev tuning's choice: the best mean dev accuracy over the experts' tasks, the first on ties."""
    means = [sum(s.accuracy for s in scores.values()) / len(scores) for scores in dev]
    return candidates[means.index(max(means))]
