"""Compute the grid's jobs on a Ray cluster: one live engine per actor, the driver the store's only writer.

Jobs stream to whichever actor is free; each actor keeps its `GridRunner` (and so its engine) for its
whole life and returns records, which the driver writes to the content-addressed job store as they
arrive. The driver schedules a (pair or group, method) as its dev jobs, then the test merge of the
candidate they choose (`choose_candidate`, the local grid's own rule), so the store ends up holding
exactly the records the local executor would write; the caller then assembles the tables from it.
An actor that dies mid-job is restarted by Ray and the job retried, `retries` times at most; a job
that still fails is reported with its reason. A killed driver loses only the jobs in flight.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..evaluation import EvalSettings, TaskScore
from ..store import CHECKPOINT_SECONDS, JobStore
from ..merging import merge_experts
from ..suite import Suite, load_suite
from .jobs import Job, Method, PartnerGroup, count_jobs, denominator_jobs, key_of
from .runner import GridRunner, choose_candidate, scores_of

EXECUTORS = ("local", "ray")
PROBES = 60  # an actor that has not answered this many probes, a second apart, after dying is given up


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide to run. `address` None starts a Ray instance on this machine (unless this process
    is already connected to one); `actors` None means one per GPU, else one per `cpus_per_actor` CPUs."""

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: int = 1
    retries: int = 2


class GridFailed(RuntimeError):
    """Jobs that failed on every attempt; everything else the run finished is in the store."""


@dataclass
class _Unit:
    """One (pair or group, method): its dev jobs, then the test merge of the candidate they choose."""

    experts: tuple[str, ...]
    tasks: tuple[str, ...]
    candidates: list[Method]
    dev: dict[int, dict[str, TaskScore]] = field(default_factory=dict)

    def first_jobs(self) -> list[tuple[Job, int]]:
        if len(self.candidates) == 1:
            return [(Job("merge", self.experts, self.tasks, self.candidates[0]), 0)]
        return [(Job("tune", self.experts, self.tasks, c, split="dev"), i) for i, c in enumerate(self.candidates)]

    def tuned(self, index: int, scores: dict[str, TaskScore]) -> Job | None:
        """Record one candidate's dev scores; the test merge once every candidate has them."""
        self.dev[index] = scores
        if len(self.dev) < len(self.candidates):
            return None
        chosen = choose_candidate(self.candidates, [self.dev[i] for i in range(len(self.candidates))])
        return Job("merge", self.experts, self.tasks, chosen)


@dataclass
class _Work:
    job: Job
    key: str
    unit: _Unit | None = None
    index: int = 0
    attempts: int = 0


class _GridActor:
    """A Ray actor's state: one suite and one `GridRunner` with its engine, for the actor's whole life."""

    def __init__(self, suite_root: str, settings: EvalSettings, threads: int):
        import torch

        torch.set_num_threads(threads)
        self.runner = GridRunner(load_suite(suite_root), settings, store=None)

    def pid(self) -> int:
        return os.getpid()

    def compute(self, job: Job, merge_with: Method | None) -> dict:
        """The job's record; `merge_with` merges in place of the job's own method (which keys it)."""
        make = None if merge_with is None else (lambda: merge_experts(self.runner.suite, merge_with, list(job.experts)))
        return self.runner.compute(job, make)


@dataclass
class RayRun:
    """What a Ray run did: jobs computed (and stored) by the actors, jobs found in the store, actor restarts,
    and the pids of the actors' processes (the current ones)."""

    computed: int = 0
    cached: int = 0
    restarts: int = 0
    actor_pids: dict[int, int] = field(default_factory=dict)


def connect(options: RayOptions) -> bool:
    """Connect to the cluster at `options.address`, or start Ray on this machine; True if this call did
    (so the caller shuts it down). Offline-safe: no dashboard, and only loopback for a local start."""
    import ray

    if ray.is_initialized():
        return False
    if options.address:
        ray.init(address=options.address, log_to_driver=False)
    else:
        ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
    return True


def fill_store_on_ray(suite: Suite, methods: list[Method], settings: EvalSettings, store: JobStore,
                      options: RayOptions = RayOptions(), groups: list[PartnerGroup] = (),
                      merge_with: Callable[[Method], Method | None] = lambda _: None, show_progress: bool = True,
                      checkpoint: Callable[[], None] = lambda: None,
                      on_actors: Callable[[RayRun], None] = lambda _: None) -> RayRun:
    """Compute every job of the grid that `store` lacks on Ray actors, writing each record as it arrives.

    `merge_with` maps a candidate to the method an actor merges with (None: the candidate itself; the
    leaderboard keys a submission by the submission, merges with its registered method). `checkpoint`
    runs every CHECKPOINT_SECONDS; `on_actors` is called once every actor is up (tests kill one).
    Raises GridFailed naming each job that failed on every attempt, after storing all the others."""
    import ray

    started_ray = connect(options)
    try:
        return _drive(suite, methods, settings, store, options, groups, merge_with, show_progress, checkpoint,
                      on_actors)
    finally:
        if started_ray:
            ray.shutdown()


def _actor_count(options: RayOptions) -> tuple[int, float]:
    """Actors and GPUs per actor: one per GPU where the cluster has GPUs, else one per `cpus_per_actor`."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    fit = gpus if gpus else int(resources.get("CPU", 1)) // options.cpus_per_actor
    return max(1, options.actors or fit), (1.0 if gpus else 0.0)


def _drive(suite, methods, settings, store, options, groups, merge_with, show_progress, checkpoint, on_actors) -> RayRun:
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    run, queue, failed = RayRun(), deque(), []
    probes_failed, reprobe = {}, []  # failed probes per actor; (when, actor) to probe again
    announced = False  # on_actors called

    def submit(work: _Work) -> None:
        record = store.get(work.key)
        if record is None:
            queue.append(work)
        else:
            run.cached += 1
            finished(work, record)

    def finished(work: _Work, record: dict) -> None:
        if work.unit is not None and work.job.kind == "tune":
            test = work.unit.tuned(work.index, scores_of(record))
            if test is not None:
                submit(_Work(test, key_of(test, suite, settings)))

    for job in denominator_jobs(suite):
        submit(_Work(job, key_of(job, suite, settings)))
    units = [(p.expert_a, p.expert_b) for p in suite.manifest.pairs] + [g.experts for g in groups]
    for experts in units:
        tasks = tuple(suite.manifest.expert(e).task for e in experts)
        for method in methods:
            unit = _Unit(experts, tasks, method.candidates())
            for job, index in unit.first_jobs():
                submit(_Work(job, key_of(job, suite, settings), unit, index))
    if not queue:
        return run

    count, gpus = _actor_count(options)
    actor_class = ray.remote(_GridActor).options(num_cpus=options.cpus_per_actor, num_gpus=gpus, max_restarts=-1,
                                                 max_task_retries=0)
    actors = [actor_class.remote(str(suite.root), settings, options.cpus_per_actor) for _ in range(count)]
    pending = {}  # ref -> (actor, its job or None for a probe of whether the actor is up)
    idle, gone, total = [], set(), count_jobs(suite, methods, groups)

    def probe(i: int) -> None:
        pending[actors[i].pid.remote()] = (i, None)

    for i in range(count):
        probe(i)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
               TimeElapsedColumn())
    started = last_checkpoint = time.monotonic()
    try:
        with Progress(*columns, disable=not show_progress) as bar:
            task = bar.add_task(f"ground truth on Ray, {count} actors", total=total, completed=run.cached, status="")
            while queue or any(work is not None for _, work in pending.values()):
                for when, i in [r for r in reprobe if r[0] <= time.monotonic()]:
                    reprobe.remove((when, i))
                    probe(i)
                while queue and idle:
                    i = idle.pop()
                    work = queue.popleft()
                    work.attempts += 1
                    pending[actors[i].compute.remote(work.job, merge_with(work.job.method) if work.job.method else None)] = (i, work)
                ready = ray.wait(list(pending), num_returns=1, timeout=1.0)[0] if pending else time.sleep(0.2) or []
                for ref in ready:
                    i, work = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except RayActorError as err:  # the actor died: Ray restarts it; probe until it is back
                        run.actor_pids.pop(i, None)
                        if work is None:
                            probes_failed[i] = probes_failed.get(i, 0) + 1
                            if probes_failed[i] >= PROBES:  # it does not come back (say its constructor fails)
                                gone.add(i)
                            else:
                                reprobe.append((time.monotonic() + 1.0, i))
                        else:
                            run.restarts += 1
                            _retry(work, f"actor died: {err}", options.retries, queue, failed)
                            probe(i)
                        continue
                    except RayTaskError as err:  # the job itself raised: a retry would raise again
                        failed.append((work, f"{type(err.cause).__name__}: {err.cause}"))
                        idle.append(i)
                        continue
                    idle.append(i)
                    if work is None:
                        run.actor_pids[i], probes_failed[i] = result, 0
                        if len(run.actor_pids) == count and not announced:
                            announced = True
                            on_actors(run)
                        continue
                    store.put(work.key, result)
                    run.computed += 1
                    finished(work, result)
                if len(gone) == count:
                    failed += [(w, "every actor died and none came back") for w in queue]
                    queue.clear()
                if time.monotonic() - last_checkpoint > CHECKPOINT_SECONDS:
                    checkpoint()
                    last_checkpoint = time.monotonic()
                bar.update(task, completed=run.cached + run.computed,
                           status=_status(run, total, len(run.actor_pids), count, time.monotonic() - started))
    finally:
        for actor in actors:
            ray.kill(actor)
    if failed:
        raise GridFailed(f"{len(failed)} job(s) failed on Ray (the {run.computed} others computed are stored; "
                         "rerun the same command to retry them):\n" +
                         "\n".join(f"  {w.job.kind} {'+'.join(w.job.experts) or 'base'} "
                                   f"{w.job.method.spec() if w.job.method else ''} after {w.attempts} attempt(s): "
                                   f"{reason}" for w, reason in failed))
    return run


def _retry(work: _Work, reason: str, retries: int, queue: deque, failed: list) -> None:
    if work.attempts > retries:
        failed.append((work, reason))
    else:
        queue.appendleft(work)


def _status(run: RayRun, total: int, live: int, actors: int, elapsed: float) -> str:
    """Live actors, computed jobs per minute and the time left at that rate."""
    rate = run.computed / elapsed * 60 if elapsed else 0.0
    left = total - run.cached - run.computed
    eta = time.strftime("%H:%M:%S", time.gmtime(left / rate * 60)) if rate else "?"
    return f"{live}/{actors} actors live, {rate:.1f} jobs/min, ETA {eta}"
