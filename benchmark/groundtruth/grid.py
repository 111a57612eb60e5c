"""Run the pairs × methods grid on one live engine, resumably.

Work is a list of units: the denominators (base and every expert on every task), then per
(pair, method) the dev tuning jobs of its candidates and the test merge with the chosen one,
then the same per (partner group, method) for the per-update target.
Each finished job is stored under its key before the next starts, so a killed run resumes
where it stopped and redoes nothing. The ground truth and the method track both run this one
loop (`run_units`); the method track supplies merges from a sandboxed submission.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..evaluation import EvalSettings, TaskScore
from ..store import CHECKPOINT_SECONDS, JobStore
from ..suite import Suite, load_suite
from ..suite.suite import StateDict
from .jobs import Job, Method, PartnerGroup, count_jobs, denominator_jobs, key_of
from .ray_executor import RayOptions, fill_store_on_ray
from .runner import GridRunner, choose_candidate


@dataclass(frozen=True)
class MergeOutcome:
    """The test-split result of one (pair or partner group, method), with the parameters tuning chose.
    `pair_id` is the pair's id, or the group's for a partner group (`group` set)."""

    pair_id: str
    method: Method
    chosen: Method
    scores: dict[str, TaskScore]
    experts: tuple[str, ...] = ()
    group: bool = False


# (candidate, expert ids) -> merged weights, for merges the grid does not compute itself
Supply = Callable[[Method, tuple[str, ...]], StateDict]


def grid_keys(suite: Suite, methods: list[Method], settings: EvalSettings, groups: list[PartnerGroup] = ()) -> list[str]:
    """The key of every job the grid may run (a test job for every candidate: tuning picks one)."""
    keys = [key_of(job, suite, settings) for job in denominator_jobs(suite)]
    units = [(p.expert_a, p.expert_b) for p in suite.manifest.pairs] + [g.experts for g in groups]
    for experts in units:
        tasks = tuple(suite.manifest.expert(e).task for e in experts)
        for method in methods:
            candidates = method.candidates()
            for candidate in candidates:
                if len(candidates) > 1:
                    keys.append(key_of(Job("tune", experts, tasks, candidate, split="dev"), suite, settings))
                keys.append(key_of(Job("merge", experts, tasks, candidate), suite, settings))
    return keys


def evaluate_merge(runner: GridRunner, unit_id: str, experts: tuple[str, ...], method: Method,
                   supply: Supply | None = None, advance: Callable[[], None] = lambda: None,
                   group: bool = False) -> MergeOutcome:
    """Tune on dev over the method's candidates (best mean dev accuracy over the experts' tasks, first
    on ties), then score the chosen candidate on test."""
    tasks = tuple(runner.suite.manifest.expert(e).task for e in experts)

    def make(candidate):
        return None if supply is None else (lambda: supply(candidate, experts))

    candidates = method.candidates()
    chosen = candidates[0]
    if len(candidates) > 1:
        dev = []
        for candidate in candidates:
            dev.append(runner.result(Job("tune", experts, tasks, candidate, split="dev"), make(candidate)))
            advance()
        chosen = choose_candidate(candidates, dev)
    scores = runner.result(Job("merge", experts, tasks, chosen), make(chosen))
    advance()
    return MergeOutcome(unit_id, method, chosen, scores, experts, group)


def run_units(runner: GridRunner, methods: list[Method], supply: Supply | None = None, shard: int = 0,
              shards: int = 1, advance: Callable[[str], None] = lambda _: None,
              groups: list[PartnerGroup] = ()):
    """The grid's one loop: denominators, then every (pair, method), then every (partner group,
    method), each shard-th unit only.

    Returns the denominators (keyed by () for the base and (expert,) per expert) and the outcomes
    (pairs first, then groups, marked `group`)."""
    suite = runner.suite
    units = [(job, None) for job in denominator_jobs(suite)]
    units += [(pair, method) for pair in suite.manifest.pairs for method in methods]
    units += [(group, method) for group in groups for method in methods]
    denominators, outcomes = {}, []
    for i, (what, method) in enumerate(units):
        if i % shards != shard:
            continue
        if method is None:
            denominators[what.experts] = runner.result(what)
            advance(f"denominators {what.experts[0] if what.experts else 'base'}")
            continue
        is_group = isinstance(what, PartnerGroup)
        experts = what.experts if is_group else (what.expert_a, what.expert_b)
        label = f"{what.id} {method.spec()['method']}"
        outcomes.append(evaluate_merge(runner, what.id, experts, method, supply, lambda: advance(label), is_group))
    return denominators, outcomes


# glibc keeps the memory of freed tensors in heaps it seldom returns: a smol worker grew from 3.5 to 8.5 GB
# of RSS in 45 minutes of grid jobs; with blocks over 1 MiB mapped (and unmapped when freed) and two heaps,
# the same workers held 1.9 GB after 30 minutes. Results do not depend on it.
WORKER_HEAP = {"MALLOC_MMAP_THRESHOLD_": str(1 << 20), "MALLOC_ARENA_MAX": "2"}


def _exit_with_parent(parent: int) -> None:
    """Spawned workers outlive a killed parent; poll for it and exit, so a killed run stops computing."""
    import threading

    def watch():
        while os.getppid() == parent:
            time.sleep(2)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _work_shard(suite_root: str, methods: list[Method], settings: EvalSettings, store_root: str,
                shard: int, shards: int, parent: int, groups: list[PartnerGroup], packs: tuple) -> None:
    """A worker process: compute (and store) every shard-th unit on its own engine."""
    import torch

    _exit_with_parent(parent)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // shards))  # no oversubscription across workers
    runner = GridRunner(load_suite(suite_root), settings, JobStore(store_root, packs))
    try:
        run_units(runner, methods, shard=shard, shards=shards, groups=groups)
    finally:
        runner.close()


def _run_parallel(suite: Suite, methods: list[Method], settings: EvalSettings, store: JobStore, jobs: int,
                  show_progress: bool, groups: list[PartnerGroup], checkpoint: Callable[[], None]) -> None:
    """Fill the store with `jobs` worker processes (the caller then assembles from the cache), calling
    `checkpoint` every CHECKPOINT_SECONDS meanwhile."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    for name, value in WORKER_HEAP.items():  # read by glibc when a spawned worker starts
        os.environ.setdefault(name, value)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"))
    try:
        futures = [pool.submit(_work_shard, str(suite.root), methods, settings, str(store.root), i, jobs, os.getpid(), groups,
                               store.packs)
                   for i in range(jobs)]
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      disable=not show_progress) as bar:
            task = bar.add_task(f"ground truth, {jobs} workers (jobs in cache)", total=None)
            last = time.monotonic()
            while not all(f.done() for f in futures):
                bar.update(task, completed=len(store))
                time.sleep(1)
                if time.monotonic() - last > CHECKPOINT_SECONDS:
                    checkpoint()
                    last = time.monotonic()
        for f in futures:
            f.result()
    except BaseException:
        # Ctrl-C or a failed shard stops the workers now: the pool's own shutdown would wait for every shard
        # to finish its whole share of the grid. What they stored stays (each job is written atomically).
        for process in list((pool._processes or {}).values()):
            process.terminate()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()


def run_grid(suite: Suite, methods: list[Method], settings: EvalSettings, store: JobStore,
             show_progress: bool = True, jobs: int = 1, groups: list[PartnerGroup] = (),
             checkpoint: Callable[[], None] = lambda: None, ray: RayOptions | None = None
             ) -> tuple[dict[tuple[str, ...], dict[str, TaskScore]], list[MergeOutcome]]:
    """Denominators keyed by () for the base and (expert,) per expert, and one outcome per (pair, method)
    and per (partner group, method). `checkpoint` is called every CHECKPOINT_SECONDS of computing.

    With `ray`, actors on a Ray cluster fill the cache first; else with `jobs` > 1, worker processes with
    an engine each do. The tables are then assembled here from the cache, whoever computed it.
    """
    if ray is not None:
        fill_store_on_ray(suite, methods, settings, store, ray, groups, show_progress=show_progress,
                          checkpoint=checkpoint)
    elif jobs > 1:
        _run_parallel(suite, methods, settings, store, jobs, show_progress, groups, checkpoint)
    runner = GridRunner(suite, settings, store)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, disable=not show_progress) as bar:
            job_bar = bar.add_task("ground truth", total=count_jobs(suite, methods, groups), rate="")
            started = last_checkpoint = time.perf_counter()

            def advance(description: str) -> None:
                nonlocal last_checkpoint
                if time.perf_counter() - last_checkpoint > CHECKPOINT_SECONDS:
                    checkpoint()
                    last_checkpoint = time.perf_counter()
                elapsed = time.perf_counter() - started
                rate = f"{60 * runner.computed / elapsed:.1f} evals/min" if runner.computed else "cached"
                bar.update(job_bar, advance=1, description=description, rate=rate)

            return run_units(runner, methods, advance=advance, groups=groups)
    finally:
        runner.close()
