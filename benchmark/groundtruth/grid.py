"""Run the pairs × methods grid on one live engine, resumably.

Work is a list of units: the denominators (base and every expert on every task), then per
(pair, method) the dev tuning jobs of its search space and the test merge with the chosen
parameters. Each finished job is stored under its key before the next starts, so a killed
run resumes where it stopped and redoes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..evaluation import Engine, EvalSettings, TaskScore
from ..merging import merge_experts
from ..suite import Suite
from ..suite.suite import StateDict
from .jobs import Job, Method, denominator_jobs, key_of, pair_tasks, tuning_candidates
from .store import JobStore


@dataclass(frozen=True)
class MergeOutcome:
    """The test-split result of one (pair, method), with the parameters tuning chose."""

    pair_id: str
    method: Method
    chosen: Method
    scores: dict[str, TaskScore]


def _record(job: Job, scores: dict[str, TaskScore], seconds: float) -> dict:
    return {"kind": job.kind, "experts": list(job.experts), "split": job.split, "seconds": round(seconds, 3),
            "scores": {t: {"accuracy": s.accuracy, "stderr": s.stderr, "n": s.n,
                           "correct": "".join(map(str, s.correct))} for t, s in scores.items()}}


def scores_of(record: dict) -> dict[str, TaskScore]:
    return {t: TaskScore(t, s["accuracy"], s["stderr"], s["n"], tuple(int(c) for c in s["correct"]))
            for t, s in record["scores"].items()}


class GridRunner:
    """Runs jobs through one engine (created only if some job is not cached yet)."""

    def __init__(self, suite: Suite, settings: EvalSettings, store: JobStore):
        self.suite, self.settings, self.store = suite, settings, store
        self._engine: Engine | None = None
        self.computed = 0

    def result(self, job: Job, make_state: Callable[[], StateDict] | None = None) -> dict[str, TaskScore]:
        """The job's scores from the cache, else computed; `make_state` supplies weights the grid
        cannot make itself (a sandboxed submission's merge) and is only called on a cache miss."""
        key = key_of(job, self.suite, self.settings)
        record = self.store.get(key)
        if record is None:
            started = time.perf_counter()
            state = make_state() if make_state is not None else self._state(job)
            if self._engine is None:
                self._engine = Engine(self.suite, self.settings)
            scores = self._engine.evaluate(list(job.tasks), state, split=job.split)
            self.store.put(key, _record(job, scores, time.perf_counter() - started))
            self.computed += 1
            record = self.store.get(key)
        return scores_of(record)

    def _state(self, job: Job):
        if job.kind == "base":
            return self.suite.base_state_dict()
        if job.kind == "expert":
            return self.suite.expert_state_dict(job.experts[0])
        return merge_experts(self.suite, job.method, list(job.experts))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def count_jobs(suite: Suite, methods: list[Method]) -> int:
    per_pair = sum(len(tuning_candidates(m)) + (1 if len(tuning_candidates(m)) > 1 else 0) for m in methods)
    return len(denominator_jobs(suite)) + len(suite.manifest.pairs) * per_pair


def _units(suite: Suite, methods: list[Method]):
    for pair in suite.manifest.pairs:
        for method in methods:
            yield pair, method


def _exit_with_parent(parent: int) -> None:
    """Spawned workers outlive a killed parent; poll for it and exit, so a killed run stops computing."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _work_shard(suite_root: str, methods: list[Method], settings: EvalSettings, store_root: str,
                shard: int, shards: int, parent: int) -> None:
    """A worker process: compute (and store) every shard-th (pair, method) unit on its own engine."""
    from ..suite import load_suite

    import torch

    _exit_with_parent(parent)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // shards))  # no oversubscription across workers
    suite = load_suite(suite_root)
    runner = GridRunner(suite, settings, JobStore(store_root))
    work = [lambda job=job: runner.result(job) for job in denominator_jobs(suite)]
    for pair, method in _units(suite, methods):
        tasks, experts = pair_tasks(suite, pair), (pair.expert_a, pair.expert_b)
        work.append(lambda m=method, e=experts, t=tasks: runner.result(
            Job("merge", e, t, tune(runner, tuning_candidates(m), e, t, lambda: None))))
    try:
        for i, unit in enumerate(work):
            if i % shards == shard:
                unit()
    finally:
        runner.close()


def _run_parallel(suite: Suite, methods: list[Method], settings: EvalSettings, store: JobStore, jobs: int,
                  show_progress: bool) -> None:
    """Fill the store with `jobs` worker processes; the caller then assembles from the cache."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_work_shard, str(suite.root), methods, settings, str(store.root), i, jobs, os.getpid())
                   for i in range(jobs)]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as bar:
            task = bar.add_task(f"ground truth, {jobs} workers (jobs in cache)", total=None)
            while not all(f.done() for f in futures):
                bar.update(task, completed=len(store))
                time.sleep(1)
        for f in futures:
            f.result()


def run_grid(suite: Suite, methods: list[Method], settings: EvalSettings, store: JobStore,
             show_progress: bool = True, jobs: int = 1
             ) -> tuple[dict[tuple[str, ...], dict[str, TaskScore]], list[MergeOutcome]]:
    """Denominators keyed by () for the base and (expert,) per expert, and one outcome per (pair, method).

    With `jobs` > 1, worker processes with an engine each fill the cache first.
    """
    if jobs > 1:
        _run_parallel(suite, methods, settings, store, jobs, show_progress)
    runner = GridRunner(suite, settings, store)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, disable=not show_progress) as bar:
            job_bar = bar.add_task("ground truth", total=count_jobs(suite, methods), rate="")
            started = time.perf_counter()

            def advance(description: str) -> None:
                elapsed = time.perf_counter() - started
                rate = f"{60 * runner.computed / elapsed:.1f} evals/min" if runner.computed else "cached"
                bar.update(job_bar, advance=1, description=description, rate=rate)

            denominators = {}
            for job in denominator_jobs(suite):
                denominators[job.experts] = runner.result(job)
                advance(f"denominators {job.experts[0] if job.experts else 'base'}")
            outcomes = []
            for pair, method in _units(suite, methods):
                tasks, experts = pair_tasks(suite, pair), (pair.expert_a, pair.expert_b)
                chosen = tune(runner, tuning_candidates(method), experts, tasks, lambda: advance(f"tuning {pair.id}"))
                scores = runner.result(Job("merge", experts, tasks, chosen))
                outcomes.append(MergeOutcome(pair.id, method, chosen, scores))
                advance(f"{pair.id} {method.spec()['method']}")
    finally:
        runner.close()
    return denominators, outcomes


def tune(runner: GridRunner, candidates: list, experts, tasks, advance,
         make_state: Callable[[object], StateDict] | None = None):
    """The candidate with the best mean dev accuracy over the pair's two tasks (first on ties).

    `make_state(candidate)` supplies merged weights when the grid cannot merge them itself."""
    if len(candidates) == 1:
        return candidates[0]
    best, best_score = candidates[0], -1.0
    for candidate in candidates:
        supply = None if make_state is None else (lambda c=candidate: make_state(c))
        scores = runner.result(Job("tune", experts, tasks, candidate, split="dev"), supply)
        advance()
        mean = sum(s.accuracy for s in scores.values()) / len(scores)
        if mean > best_score:
            best, best_score = candidate, mean
    return best
