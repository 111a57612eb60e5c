"""The method track: a merge method scored by the normalized accuracy of what it merges, read top to
bottom from a submission folder to its leaderboard row.

1. `check_submission` reads the folder (the skeleton, `base.py`); the board's reference method runs first.
2. Every pair goes through the ground truth's own grid (`run_units`: tuning on dev when the submission
   declares a search space, then test), its merges made by a sandboxed worker (`SandboxedMerger`) and
   checked (`check_merged`) before lm-eval scores them; evaluations are cached in the job store, so an
   unchanged submission is never run again.
3. Its merge cost (seconds, peak memory) is measured on `COST_PAIRS` pairs, cached per merge.
4. `method_scores` turns the per-pair rows into its row: mean na with an interval, raw accuracy, share of
   pairs at na >= 0.9, wins against the reference, cost; dev tuning's choices beside it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file

from ..evaluation import EvalSettings
from ..groundtruth import ground_truth_settings
from ..groundtruth.grid import grid_keys, run_units
from ..groundtruth.runner import GridRunner
from ..groundtruth.targets import pair_row
from ..merging import merge_provenance
from ..provenance import code_fingerprint
from ..isolation import Limits, isolation, weakest
from ..sandbox import SandboxedWorker, SubmissionFailed
from ..scoring.methods import method_scores
from ..scoring.records import TunedChoice
from ..store import job_key
from ..submissions import method_worker
from ..submissions.methods import SubmittedMethod
from ..submissions import MethodSubmission
from ..suite import Suite, SuiteSpec, load_suite
from ..suite.suite import StateDict
from .base import Harness, Track, suite_folders
from .boards import BOARDS
from .entry import Entry, Plots, Provenance, Samples

# A method's seconds per merge and peak memory come from this many pairs, spread evenly over the
# manifest: merging every pair again in the sandbox only to time it would cost more than the grid
# on a real model (112 sandboxed merges per method on smol).
COST_PAIRS = 10


@dataclass(frozen=True)
class MergeCost:
    """One sandboxed merge as the harness measured it (never as the worker reported it): wall-clock seconds
    of the merge request (merging and writing the safetensors), the worker tree's peak held MB so
    far, and the isolation it ran under (`benchmark.sandbox.Isolation.tool`)."""

    seconds: float
    peak_rss_mb: float
    isolation: str


def check_merged(state: StateDict, base: dict[str, torch.Tensor], who: str) -> None:
    """Merged weights must have exactly the base's tensors, shapes and no NaN/inf."""
    missing, extra = sorted(set(base) - set(state)), sorted(set(state) - set(base))
    if missing or extra:
        raise SubmissionFailed("invalid", f"{who}: merged weights lack {missing[:3]} / have unknown {extra[:3]} tensors")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(base[name].shape):
            raise SubmissionFailed("invalid", f"{who}: tensor {name} has shape {tuple(tensor.shape)}, "
                                              f"expected {tuple(base[name].shape)}")
        if not torch.isfinite(tensor).all():
            raise SubmissionFailed("nan", f"{who}: tensor {name} contains NaN or inf")


class SandboxedMerger:
    """Merges for one method submission, done by one sandboxed worker started on first use."""

    def __init__(self, suite: Suite, limits: Limits, hidden: list[Path]):
        self.suite, self.limits, self.hidden = suite, limits, hidden
        self._scratch = tempfile.TemporaryDirectory(prefix="willitmerge-merges-")
        self._worker: SandboxedWorker | None = None
        self._base = None
        self._merges = 0

    def merge(self, method: SubmittedMethod, experts: tuple[str, ...]) -> tuple[StateDict, MergeCost]:
        """The merged weights, checked, and what the merge cost as measured from outside the worker."""
        if self._worker is None:
            self._worker = SandboxedWorker("benchmark.submissions.method_worker", self.limits,
                                           writable=[Path(self._scratch.name)], hidden=self.hidden,
                                           env={"OMP_NUM_THREADS": "1"},
                                           readable=[method.folder, *suite_folders(self.suite)])
            self._worker.request({"suite": str(self.suite.root)})  # start-up and suite loading: not a merge's cost
            self._base = dict(self.suite.base_tensors())
        self._merges += 1
        out = Path(self._scratch.name).resolve() / f"merge-{self._merges}.safetensors"  # deleted once read
        self._worker.request({"suite": str(self.suite.root), "folder": str(method.folder),
                              "params": dict(method.params), "experts": list(experts), "out": str(out)})
        usage = self._worker.usage
        try:
            state = load_file(str(out))
        except Exception as err:  # noqa: BLE001 - a worker that claims success but wrote garbage
            raise SubmissionFailed("invalid", f"{method.name}: unreadable merged weights ({err})") from err
        finally:
            out.unlink(missing_ok=True)
        check_merged(state, self._base, f"{method.name} on {'+'.join(experts)}")
        return state, MergeCost(usage.seconds, usage.peak_rss_mb, isolation().tool)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._scratch.cleanup()


def cost_key(suite: Suite, method: SubmittedMethod, experts: tuple[str, ...]) -> str:
    """A merge's cost is measured again when the worker or the harness's measurement changes; how a suite is
    found by name (`load_suite`, `SuiteSpec`) measures nothing, and the suite's content is keyed by its sha256."""
    return job_key({"kind": "merge-cost", "suite_sha256": suite.sha256, "experts": list(experts),
                    "method": method.spec(), "weights": merge_provenance(method),
                    "code": code_fingerprint(method_worker.main, SandboxedMerger, SandboxedWorker,
                                             stop_at=(load_suite, SuiteSpec))})


def cost_pairs(suite: Suite) -> set[str]:
    """The ids of the pairs a method's merge cost is measured on: COST_PAIRS of them, evenly spaced."""
    ids = [p.id for p in suite.manifest.pairs]
    step = max(1, len(ids) / COST_PAIRS)
    return {ids[int(i * step)] for i in range(min(COST_PAIRS, len(ids)))}


def per_task_na(rows: pd.DataFrame) -> dict[str, float]:
    """Mean of acc(merged)/acc(expert) on each task, over the pairs that include it (the heatmap)."""
    sides = pd.concat([rows[["task_a", "acc_a", "expert_acc_a"]].set_axis(["task", "acc", "exp"], axis=1),
                       rows[["task_b", "acc_b", "expert_acc_b"]].set_axis(["task", "acc", "exp"], axis=1)])
    return {t: round(float(v), 4) for t, v in (sides.acc / sides.exp).groupby(sides.task).mean().sort_index().items()}


class MethodTrack(Track):
    """One suite's method board: its grid runner (one engine for every submission, `runner.suite` the suite
    opened), and the reference method's per-pair rows once its submission has run (`BOARDS.reference`)."""

    name = "methods"
    submission = MethodSubmission

    def __init__(self, harness: Harness, suite: SuiteSpec, runner: GridRunner, advance=lambda _: None):
        super().__init__(harness, suite)
        self.opened, self.runner, self.advance = runner.suite, runner, advance
        self.reference: pd.DataFrame | None = None
        self.rows: dict[str, pd.DataFrame] = {}

    @classmethod
    @contextmanager
    def on(cls, harness: Harness, suite: SuiteSpec, settings: EvalSettings | None = None,
           advance=lambda _: None) -> Iterator["MethodTrack"]:
        """The suite's method board with its grid runner, closed afterwards. A suite's merges are evaluated
        with the settings its ground truth was measured with, so they line up with its jobs, unless given."""
        opened = suite.open()
        settings = settings or ground_truth_settings(opened, harness.cache) or EvalSettings()
        runner = GridRunner(opened, settings, harness.store)
        try:
            yield cls(harness, suite, runner, advance)
        finally:
            runner.close()

    def is_reference(self, folder: Path) -> bool:
        """Whether the folder's method is the board's reference (so it must run first)."""
        try:
            return SubmittedMethod.from_folder(folder).spec() == BOARDS.reference_method().spec()
        except Exception:  # noqa: BLE001 - a folder that does not load is not the reference; `run` says why
            return False

    def check(self, folder: Path) -> tuple[list[tuple[SubmittedMethod, MergeCost]], str | None]:
        """`submit check`'s quick look: one pair merged by every candidate in the sandbox, weights checked;
        the merges made, and why the next one failed (None when all passed)."""
        method = SubmittedMethod.from_folder(folder, self.known_suites())
        pair = self.opened.manifest.pairs[0]
        merger = SandboxedMerger(self.opened, self.harness.limits, list(self.harness.hidden))
        merges = []
        try:
            for candidate in method.candidates():
                merges.append((candidate, merger.merge(candidate, (pair.expert_a, pair.expert_b))[1]))
        except SubmissionFailed as failure:
            return merges, f"{failure.kind}: {failure.reason}"
        finally:
            merger.close()
        return merges, None

    def compute(self, folder: Path, spec: MethodSubmission, entry: Entry) -> None:
        suite, store = self.opened, self.harness.store
        method = SubmittedMethod.from_folder(folder, self.known_suites())
        merger = SandboxedMerger(suite, self.harness.limits, list(self.harness.hidden))
        merged: dict[tuple[SubmittedMethod, tuple[str, ...]], Any] = {}  # one pair's merged weights at a time
        measured: dict[tuple[SubmittedMethod, tuple[str, ...]], MergeCost] = {}  # the cost of every merge made

        def supply(candidate: SubmittedMethod, experts: tuple[str, ...]):
            if (candidate, experts) not in merged:
                if any(e != experts for _, e in merged):
                    merged.clear()
                merged[(candidate, experts)], measured[(candidate, experts)] = merger.merge(candidate, experts)
            return merged[(candidate, experts)]

        entry.isolation = isolation().tool
        costs, cost_keys = [], []
        try:
            denominators, outcomes = run_units(self.runner, [method], supply, advance=self.advance)
            timed = cost_pairs(suite)
            for outcome in outcomes:
                # The chosen candidate's merge cost, measured once (merging now if its scores came from the
                # cache); only its record is kept, so a rerun from cache uses exactly the same records.
                if outcome.pair_id not in timed:
                    continue
                pair = next(p for p in suite.manifest.pairs if p.id == outcome.pair_id)
                experts = (pair.expert_a, pair.expert_b)
                key = cost_key(suite, outcome.chosen, experts)
                cost_keys.append(key)
                cost = store.get(key)
                if cost is None:
                    if (outcome.chosen, experts) not in measured:
                        supply(outcome.chosen, experts)
                    cost = asdict(measured[(outcome.chosen, experts)])
                    store.put(key, cost)
                costs.append(MergeCost(**cost))
        finally:
            merger.close()
        rows = pd.DataFrame([pair_row(suite, o, denominators) for o in outcomes]).assign(method=method.name)
        if self.reference is None and self.is_reference(folder):
            self.reference = rows
        self.rows[method.name] = rows
        records = grid_keys(suite, [method], self.runner.settings)
        entry.status, entry.isolation = "complete", weakest({c.isolation for c in costs} or {isolation().tool})
        entry.samples = Samples(na={p: float(v) for p, v in zip(rows.pair_id, rows.na)})
        entry.provenance = Provenance(evaluation_records=len(records), records_digest=job_key({"keys": sorted(records)}),
                                      cost_keys=sorted(cost_keys))
        entry.scores = method_scores(method.name, rows, None if rows is self.reference else self.reference,
                                     pd.DataFrame([asdict(c) for c in costs]))
        if len(method.candidates()) > 1:  # what dev tuning chose, pair by pair
            space = method.search_space()
            entry.scores.tuned = TunedChoice(search_space={k: list(v) for k, v in space.items()},
                                             chosen={o.pair_id: {k: dict(o.chosen.params)[k] for k in space}
                                                     for o in outcomes})
        entry.plots = Plots(task_na=per_task_na(rows))
