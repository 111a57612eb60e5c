"""Run submissions of both tracks in their sandboxes and turn what comes back into entries.

The harness holds the ground truth; a submission's worker never does. A predictor entry is
cached whole under a key of its folder, the code it runs and the suite's inputs; a method entry
is assembled on every run from cached evaluation and merge-cost records, so an unchanged
submission is never run again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..groundtruth import resolve_ground_truth
from ..groundtruth.grid import GridRunner, grid_keys, run_units
from ..groundtruth.targets import pair_row
from ..merging import merge_provenance
from ..predictors.harness import score_predictions, score_update_predictions
from ..predictors.metrics import MetricLibrary, metric_code
from ..predictors.metrics.model import calibration_set
from ..predictors.suites import PredictionSuite, load_prediction_suite, missing_metrics, predictor_inputs
from ..provenance import code_fingerprint, library_versions
from ..sandbox import Limits, SandboxedWorker, SubmissionFailed, isolation, weakest
from ..scoring.methods import method_scores
from ..scoring.transfer import transfer_scores
from ..store import JobStore, job_key
from ..suite import Suite, SuiteSpec, load_suite
from . import method_worker, predictor_worker
from .methods import MergeCost, SandboxedMerger, SubmittedMethod, suite_folders
from .checks import check_submission
from .loading import folder_sha256, package_code_used
from .schema import MethodSubmission, PredictorSubmission, SubmissionError, printable

REFERENCE_METHOD = "weight_avg"
# A method's seconds per merge and peak memory come from this many pairs, spread evenly over the
# manifest: merging every pair again in the sandbox only to time it would cost more than the grid
# on a real model (112 sandboxed merges per method on smol).
COST_PAIRS = 10
SCATTER_METHOD = "weight_avg"


@dataclass
class Entry:
    """One submission on one suite, as the leaderboard lists it."""

    track: Literal["predictors", "methods"]
    suite: str
    name: str
    about: dict[str, Any]
    status: Literal["complete", "incomplete", "failed"]
    reason: str | None = None
    scores: dict[str, Any] | None = None
    plots: dict[str, Any] = field(default_factory=dict)
    # how the submission's code was isolated when this entry was computed (`benchmark.sandbox.Isolation.tool`:
    # "bubblewrap", "unshare" or "none"); part of the cached record, so a replayed entry says how it ran.
    # None when no submission code ran (an invalid folder, a suite it was not submitted for)
    isolation: str | None = None

    # per-pair values behind the board's paired comparisons (`benchmark.publish.ranking`); not published
    samples: dict[str, Any] | None = None
    # where the entry's numbers are cached: the job-store keys of its records
    provenance: dict[str, Any] = field(default_factory=dict)

    def __setattr__(self, key: str, value: Any) -> None:
        # a folder's name and a worker's words may hold lone surrogates, which no leaderboard file can
        super().__setattr__(key, printable(value) if key in ("name", "reason") and isinstance(value, str) else value)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _about(spec: PredictorSubmission | MethodSubmission) -> dict[str, Any]:
    source = {k: getattr(spec, k) for k in ("registry", "entry_point", "mergekit", "predictions")
              if getattr(spec, k, None) is not None}
    return {"authors": spec.authors, "description": spec.description, "licence": spec.licence, "source": source}


# ---------------------------------------------------------------- predictors

def prediction_inputs_fingerprint(suite: SuiteSpec, cache: Path) -> str:
    """What a predictor's score depends on besides its code: the suite's files (for a result suite, its
    published metrics and targets), and for a suite with weights its ground truth and the metric code
    (hashing files, so nothing has to be loaded to check a cache)."""
    files, head = suite.fingerprint_paths(), []
    if suite.has_weights:
        files += sorted(p for p in resolve_ground_truth(suite.root, cache).iterdir() if p.is_file())
        head = [metric_code()]
    return job_key({"code": head, "files": [(f.name, hashlib.sha256(f.read_bytes()).hexdigest())
                                            for f in files if f.is_file()]})


def predictor_entry_key(folder: Path, submission: PredictorSubmission, suite: SuiteSpec, cache: Path) -> str:
    """A predictor entry is recomputed when its folder, the code it runs (its package entry point, the
    harness, the scoring), the suite's inputs or a library it runs on change; never otherwise. The
    metric library's code counts among the inputs of suites with weights only (result suites ship
    their metrics), so the harness's fingerprint stops at it."""
    code = code_fingerprint(run_predictor, _WorkerAnswers, score_predictions, score_update_predictions,
                            load_prediction_suite, predictor_worker.main,
                            *package_code_used(folder, submission.entry_point),
                            stop_at=(MetricLibrary, calibration_set, metric_code))
    return job_key({"kind": "predictor-entry", "folder_sha256": folder_sha256(folder), "suite": suite.name,
                    "inputs": prediction_inputs_fingerprint(suite, cache), "code": code,
                    "libraries": library_versions("numpy", "scipy", "pandas", "torch", "transformers")})


class _WorkerAnswers:
    """Held-out predictions collected from sandboxed workers, checked before scoring sees them."""

    def __init__(self, name: str):
        self.name = name
        self.pairs: dict[tuple[str, str, str], dict[str, float]] = {}  # (method, target, fold) -> pair -> score
        self.updates: dict[tuple[str, str, str], dict[str, float]] = {}

    def add(self, answer: dict, fold: str, folds: list[str], pair_tasks: dict[str, tuple[str, str]],
            update_tasks: dict[str, str]) -> None:
        for kind, ids_key, store in (("predictions", "pairs", self.pairs), ("update_predictions", "updates", self.updates)):
            known = pair_tasks if ids_key == "pairs" else update_tasks
            ids, per_method = answer.get(ids_key), answer.get(kind)
            if not (isinstance(ids, list) and isinstance(per_method, dict)
                    and all(isinstance(v, dict) for v in per_method.values())):
                raise SubmissionFailed("invalid-answer", f"{self.name}: the answer lacks `{ids_key}` (a list) or "
                                                         f"`{kind}` (method -> target -> scores)")
            unknown = [i for i in ids if not isinstance(i, str) or i not in known]
            if unknown or len(set(ids)) != len(ids):
                raise SubmissionFailed("invalid-answer", f"{self.name}: the answer names "
                                       + (f"{str(unknown[0])[:80]!r}, not one of the suite's {ids_key}" if unknown
                                          else f"some of the {ids_key} twice"))
            for method, per_target in per_method.items():
                for target, values in per_target.items():
                    if not isinstance(values, list) or len(values) != len(ids):
                        count = len(values) if isinstance(values, list) else "no list of"
                        raise SubmissionFailed("wrong-count", f"{self.name}: {count} scores for {len(ids)} "
                                                              f"{ids_key} (method {method[:80]})")
                    if any(v is None or isinstance(v, float) and not np.isfinite(v) for v in values):
                        raise SubmissionFailed("nan", f"{self.name}: NaN or inf among the scores (method {method[:80]})")
                    if not all(isinstance(v, float) or type(v) is int and abs(v) < 2 ** 63 for v in values):
                        raise SubmissionFailed("invalid-answer", f"{self.name}: a score that is not a number "
                                                                 f"(method {method[:80]})")
                    for f in (folds if fold == "*" else [fold]):
                        tasks_of = pair_tasks if ids_key == "pairs" else {u: (t,) for u, t in update_tasks.items()}
                        chosen = {i: v for i, v in zip(ids, values) if f in tasks_of[i]}
                        store.setdefault((method, target, f), {}).update(chosen)

    def lookup(self, table: dict):
        def predict(method, target, held_out, train_items, train_targets, test_items):
            got = table.get((method, target, held_out)) or table.get((method, "*", held_out)) or {}
            missing = [item.id for item in test_items if item.id not in got]
            if missing:
                raise SubmissionFailed("wrong-count", f"{self.name}: no score for {missing[0]!r} "
                                                      f"(method {method}, held-out task {held_out})")
            return np.array([got[item.id] for item in test_items])
        return predict


def _train_targets(truth: PredictionSuite, held_out: str) -> tuple[dict, dict]:
    pair_targets: dict[str, dict[str, dict[str, float]]] = {}
    for (method, target), values in sorted(truth.targets.items()):
        pair_targets.setdefault(method, {})[target] = {
            p.id: float(v) for p, v in zip(truth.pairs, values) if held_out not in (p.task_a, p.task_b) and np.isfinite(v)}
    update_targets: dict[str, dict[str, dict[str, float]]] = {}
    for (method, target), values in sorted((truth.update_targets or {}).items()):
        update_targets.setdefault(method, {})[target] = {
            u.id: float(v) for u, v in zip(truth.updates, values) if u.task != held_out}
    return pair_targets, update_targets


def harness_failure(track: Literal["predictors", "methods"], suite: str, folder: Path, err: Exception) -> Entry:
    """The last line of defence: an exception while evaluating one submission becomes its failed entry,
    never the end of the leaderboard for everyone."""
    return Entry(track, suite, Path(folder).name, {}, "failed",
                 f"harness-error: {type(err).__name__}: {str(err)[:500]} (while evaluating {Path(folder).name}; "
                 "the harness should have caught this, please report it)")


def run_predictor(folder: Path, suite: SuiteSpec, load_truth: Callable[[], PredictionSuite], store: JobStore,
                  limits: Limits, hidden: list[Path], cache: Path) -> Entry:
    """Score one predictor submission on one suite; failures become a failed entry, never an exception.

    `load_truth` gives the suite with its targets (harness side); it is only called on a cache miss, and
    computes every metric the predictor may read before its first worker starts. Each worker gets a copy
    of those metrics and a scratch folder of its own; nothing else is writable to it."""
    try:
        return _run_predictor(folder, suite, load_truth, store, limits, hidden, cache)
    except Exception as err:  # noqa: BLE001 - see harness_failure
        return harness_failure("predictors", suite.name, folder, err)


def _run_predictor(folder: Path, suite: SuiteSpec, load_truth: Callable[[], PredictionSuite], store: JobStore,
                   limits: Limits, hidden: list[Path], cache: Path) -> Entry:
    suite_name = suite.name
    try:
        spec = check_submission(folder, PredictorSubmission, [suite_name])
    except SubmissionError as err:
        return Entry("predictors", suite_name, Path(folder).name, {}, "failed", f"invalid: {err}")
    entry = Entry("predictors", suite_name, spec.name, _about(spec), "failed")
    if suite_name not in spec.suites:
        entry.status, entry.reason = "incomplete", f"not submitted for suite {suite_name!r} (its `suites` field)"
        return entry
    key = predictor_entry_key(folder, spec, suite, cache)
    entry.provenance = {"entry_key": key}
    cached = store.get(key)
    if cached is not None:
        return Entry(**cached)
    truth = load_truth()
    inputs = json.dumps(predictor_inputs(truth))
    worker = functools.partial(_predictor_worker, limits, hidden, [Path(folder).resolve(), *suite_folders(suite)],
                               inputs)
    entry.isolation = isolation().tool
    folds = sorted({t for pair in truth.pair_tasks for t in pair})
    pair_tasks_by_id = {p.id: (p.task_a, p.task_b) for p in truth.pairs}
    update_tasks = {u.id: u.task for u in truth.updates}
    answers = _WorkerAnswers(spec.name)
    request = {"suite": str(suite.root), "folder": str(Path(folder).resolve()), "held_out": None,
               "pair_targets": {m: {} for m in truth.methods},
               "update_targets": {m: {} for m, _ in sorted(truth.update_targets or {})}}
    try:
        with worker() as (sandboxed, inputs_file):
            first = sandboxed.request(request | {"inputs": inputs_file})
        if "unsupported" in first:
            if not isinstance(first["unsupported"], str):
                raise SubmissionFailed("invalid-answer", f"{spec.name}: `unsupported` must say why, as text")
            entry.status, entry.reason = "incomplete", first["unsupported"][:500]
            store.put(key, entry.to_dict())
            return entry
        if first.get("learned") is True:
            for fold in folds:  # a fresh process per fold: no fold's held-out targets ever reach the predictor
                pair_targets, update_targets = _train_targets(truth, fold)
                with worker() as (sandboxed, inputs_file):
                    answer = sandboxed.request(request | {"inputs": inputs_file, "held_out": fold,
                                                          "pair_targets": pair_targets,
                                                          "update_targets": update_targets})
                answers.add(answer, fold, folds, pair_tasks_by_id, update_tasks)
        else:
            answers.add(first, "*", folds, pair_tasks_by_id, update_tasks)
        scores = score_predictions(truth, answers.lookup(answers.pairs), keep_held_out=True)
        entry.samples = {"held_out": scores.pop("held_out")}
        if answers.updates:
            scores["updates"] = score_update_predictions(truth, answers.lookup(answers.updates))
    except SubmissionFailed as failure:
        entry.reason = f"{failure.kind}: {failure.reason}"
        return entry
    entry.status, entry.scores = "complete", scores
    entry.plots = {"scatter": _scatter(truth, answers.pairs)}
    store.put(key, entry.to_dict())
    return entry


@contextmanager
def _predictor_worker(limits: Limits, hidden: list[Path], readable: list[Path],
                      inputs: str) -> Iterator[tuple[SandboxedWorker, str]]:
    """A sandboxed predictor worker with a scratch folder and a copy of the `inputs` (JSON) of its own, both
    removed when it ends: nothing one worker writes reaches another, not even the next fold's worker of the
    same predictor (which would otherwise learn the targets this fold trained on). With bubblewrap the copy
    is mounted read-only and the scratch folder is the only writable place."""
    with tempfile.TemporaryDirectory(prefix="willitmerge-predictor-") as tmp:
        own = Path(tmp).resolve()
        (own / "scratch").mkdir()
        (own / "inputs").mkdir()
        (own / "inputs" / "inputs.json").write_text(inputs)
        with SandboxedWorker("benchmark.submissions.predictor_worker", limits, writable=[own / "scratch"],
                             hidden=hidden, readable=[*readable, own / "inputs"]) as worker:
            yield worker, str(own / "inputs" / "inputs.json")


def _scatter(truth: PredictionSuite, predictions: dict) -> dict:
    """Held-out predictions (z-scored within each fold, as per-fold ranking sees them) vs measured `na`."""
    method = SCATTER_METHOD if SCATTER_METHOD in truth.methods else truth.methods[0]
    actual = dict(zip((p.id for p in truth.pairs), truth.targets[(method, "na")]))
    points = []
    for (m, target, fold), scores in sorted(predictions.items()):
        if m != method or target not in ("na", "*"):
            continue
        ids = sorted(i for i in scores if np.isfinite(actual[i]))
        x = np.array([scores[i] for i in ids])
        z = (x - x.mean()) / x.std() if x.std() > 0 else np.zeros_like(x)
        points += [[round(float(a), 4), round(float(actual[i]), 4)] for a, i in zip(z, ids)]
    return {"method": method, "points": points}


# ---------------------------------------------------------------- transfer

def transfer_pending(specs: list[SuiteSpec], cache: Path) -> str | None:
    """Why a transfer between these suites cannot run yet (a suite without metrics or ground truth), or None."""
    reasons = []
    for spec in specs:
        missing, needed = missing_metrics(spec.root, cache)
        if missing:
            reasons.append(f"no metrics for {spec.name} ({needed - missing} of {needed} records computed; "
                           f"`willitmerge suite metrics {spec.name}` computes them)")
        if spec.has_weights:
            try:
                resolve_ground_truth(spec.root, cache)
            except FileNotFoundError:
                reasons.append(f"no ground truth for {spec.name}")
    return "pending: " + "; ".join(reasons) if reasons else None


def run_transfer(folder: Path, train: SuiteSpec, test: SuiteSpec, load_train: Callable[[], PredictionSuite],
                 load_test: Callable[[], PredictionSuite], store: JobStore, limits: Limits, hidden: list[Path],
                 cache: Path) -> Entry | None:
    """A predictor that declares `transfer: true`, fit in its sandbox on every pair of `train` (targets of
    the merge methods both suites have) and predicting every pair of `test` from the metrics both suites
    share; scored by `transfer_scores`. None for a predictor that does not declare it; a failure is a failed
    entry. Cached whole, like `run_predictor`'s entries."""
    try:
        spec = check_submission(folder, PredictorSubmission, [train.name, test.name])
    except SubmissionError as err:
        return Entry("transfer", test.name, Path(folder).name, {}, "failed", f"invalid: {err}")
    if not spec.transfer:
        return None
    entry = Entry("transfer", test.name, spec.name, _about(spec), "failed")
    code = code_fingerprint(run_transfer, transfer_scores, load_prediction_suite, predictor_worker.main,
                            *package_code_used(folder, spec.entry_point),
                            stop_at=(MetricLibrary, calibration_set, metric_code))
    key = job_key({"kind": "predictor-transfer", "folder_sha256": folder_sha256(folder), "train": train.name,
                   "test": test.name, "inputs": [prediction_inputs_fingerprint(s, cache) for s in (train, test)],
                   "code": code, "libraries": library_versions("numpy", "scipy", "pandas", "torch", "transformers")})
    entry.provenance = {"entry_key": key}
    cached = store.get(key)
    if cached is not None:
        return Entry(**cached)
    fit_on, scored_on = load_train(), load_test()
    methods = sorted(set(fit_on.methods) & set(scored_on.methods))
    features = sorted(set.intersection(*(set(p.metrics) for p in fit_on.pairs + scored_on.pairs)))
    pair_targets = {m: {"na": {p.id: float(v) for p, v in zip(fit_on.pairs, fit_on.targets[(m, "na")])
                               if np.isfinite(v)}} for m in methods}
    request = {"suite": str(train.root), "transfer_to": str(test.root), "folder": str(folder),
               "features": features, "pair_targets": pair_targets}
    inputs = json.dumps(predictor_inputs(fit_on) | {"transfer_to": predictor_inputs(scored_on)})
    entry.isolation = isolation().tool
    try:
        if not methods or not features:
            raise SubmissionFailed("nothing-shared", f"{train.name} and {test.name} share "
                                                     f"{len(methods)} merge methods and {len(features)} metrics")
        with _predictor_worker(limits, hidden, [Path(folder).resolve(), *suite_folders(train), *suite_folders(test)],
                               inputs) as (worker, inputs_file):
            answer = worker.request(request | {"inputs": inputs_file})
        if "unsupported" in answer:
            entry.status, entry.reason = "incomplete", answer["unsupported"]
            store.put(key, entry.to_dict())
            return entry
        ids = [p.id for p in scored_on.pairs]
        predictions = {}
        for m in methods:
            values = (answer["predictions"].get(m) or {}).get("na") or []
            if answer["pairs"] != ids or len(values) != len(ids):
                raise SubmissionFailed("wrong-count", f"{spec.name}: {len(values)} scores for {len(ids)} pairs of "
                                                      f"{test.name} (method {m})")
            if any(v is None for v in values):
                raise SubmissionFailed("nan", f"{spec.name}: NaN or inf among the scores (method {m})")
            predictions[m] = np.array(values, dtype=float)
    except SubmissionFailed as failure:
        entry.reason = f"{failure.kind}: {failure.reason}"
        return entry
    entry.status = "complete"
    entry.scores = transfer_scores(train.name, test.name, predictions,
                                   {m: scored_on.targets[(m, "na")] for m in methods})
    entry.scores |= {"train_suite": train.name, "features": len(features), "fit_pairs": len(fit_on.pairs)}
    store.put(key, entry.to_dict())
    return entry


# ---------------------------------------------------------------- merge methods

def _cost_key(suite: Suite, method: SubmittedMethod, experts: tuple[str, ...]) -> str:
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


def run_method(folder: Path, suite: Suite, runner: GridRunner, limits: Limits, hidden: list[Path],
               reference: pd.DataFrame | None = None,
               advance: Callable[[str], None] = lambda _: None) -> tuple[Entry, pd.DataFrame | None]:
    """Run a method submission through the ground truth's own grid (`run_units`: tuning on dev when it
    declares a search space, then test), its merges made in the sandbox, and summarise.
    Returns the entry and its per-pair rows; failures become a failed entry, never an exception."""
    try:
        return _run_method(folder, suite, runner, limits, hidden, reference, advance)
    except Exception as err:  # noqa: BLE001 - see harness_failure
        return harness_failure("methods", suite.name, folder, err), None


def _run_method(folder: Path, suite: Suite, runner: GridRunner, limits: Limits, hidden: list[Path],
                reference: pd.DataFrame | None, advance: Callable[[str], None]) -> tuple[Entry, pd.DataFrame | None]:
    try:
        method = SubmittedMethod.from_folder(folder, [suite.name])
    except SubmissionError as err:
        return Entry("methods", suite.name, Path(folder).name, {}, "failed", f"invalid: {err}"), None
    entry = Entry("methods", suite.name, method.name, _about(method.submission), "failed")
    if suite.name not in method.submission.suites:
        entry.status, entry.reason = "incomplete", f"not submitted for suite {suite.name!r} (its `suites` field)"
        return entry, None
    merger = SandboxedMerger(suite, limits, hidden)
    merged: dict[tuple[SubmittedMethod, tuple[str, ...]], Any] = {}  # one pair's merged weights at a time
    measured: dict[tuple[SubmittedMethod, tuple[str, ...]], MergeCost] = {}  # the cost of every merge made

    def supply(candidate: SubmittedMethod, experts: tuple[str, ...]):
        if (candidate, experts) not in merged:
            if any(e != experts for _, e in merged):
                merged.clear()
            merged[(candidate, experts)], measured[(candidate, experts)] = merger.merge(candidate, experts)
        return merged[(candidate, experts)]

    store, costs, cost_keys = runner.store, [], []
    try:
        denominators, outcomes = run_units(runner, [method], supply, advance=advance)
        timed = cost_pairs(suite)
        for outcome in outcomes:
            # The chosen candidate's merge cost, measured once (merging now if its scores came from the
            # cache); only its record is kept, so a rerun from cache uses exactly the same records.
            if outcome.pair_id not in timed:
                continue
            pair = next(p for p in suite.manifest.pairs if p.id == outcome.pair_id)
            experts = (pair.expert_a, pair.expert_b)
            cost_key = _cost_key(suite, outcome.chosen, experts)
            cost_keys.append(cost_key)
            cost = store.get(cost_key)
            if cost is None:
                if (outcome.chosen, experts) not in measured:
                    supply(outcome.chosen, experts)
                cost = asdict(measured[(outcome.chosen, experts)])
                store.put(cost_key, cost)
            costs.append(MergeCost(**cost))
    except SubmissionFailed as failure:
        entry.reason, entry.isolation = f"{failure.kind}: {failure.reason}", isolation().tool
        return entry, None
    finally:
        merger.close()
    rows = pd.DataFrame([pair_row(suite, o, denominators) for o in outcomes]).assign(method=method.name)
    entry.status, entry.isolation = "complete", weakest({c.isolation for c in costs} or {isolation().tool})
    entry.samples = {"na": {p: float(v) for p, v in zip(rows.pair_id, rows.na)}}
    records = grid_keys(suite, [method], runner.settings)
    entry.provenance = {"evaluation_records": len(records), "records_digest": job_key({"keys": sorted(records)}),
                        "cost_keys": sorted(cost_keys)}
    entry.scores = method_scores(method.name, rows, reference, pd.DataFrame([asdict(c) for c in costs]))
    if len(method.candidates()) > 1:  # what dev tuning chose, pair by pair
        space = method.search_space()
        entry.scores["tuned"] = {"search_space": {k: list(v) for k, v in space.items()},
                                 "chosen": {o.pair_id: {k: dict(o.chosen.params)[k] for k in space}
                                            for o in outcomes}}
    entry.plots = {"task_na": _per_task_na(rows)}
    return entry, rows


def _per_task_na(rows: pd.DataFrame) -> dict[str, float]:
    """Mean of acc(merged)/acc(expert) on each task, over the pairs that include it (the heatmap)."""
    sides = pd.concat([rows[["task_a", "acc_a", "expert_acc_a"]].set_axis(["task", "acc", "exp"], axis=1),
                       rows[["task_b", "acc_b", "expert_acc_b"]].set_axis(["task", "acc", "exp"], axis=1)])
    return {t: round(float(v), 4) for t, v in (sides.acc / sides.exp).groupby(sides.task).mean().sort_index().items()}
