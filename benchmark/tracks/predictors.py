"""The predictor track: a mergeability predictor scored leave-one-task-out on one suite.

The harness holds the ground truth; a worker never does. A zero-shot predictor answers for every pair
in one request; a learned one gets a fresh sandboxed worker per held-out task, sent only the other
tasks' targets, so no fold's held-out targets ever reach it. Answers are checked against the protocol
(`protocol.py`) before scoring sees them. The entry is cached whole under a key of the folder, the
code that computes its numbers, the suite's inputs and the libraries.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..groundtruth import resolve_ground_truth
from ..predictors.harness import (UnsupportedSuite, score_predictions, score_predictor, score_update_predictions,
                                  score_update_predictor)
from ..predictors.metrics import MetricLibrary, metric_code
from ..predictors.metrics.model import calibration_set
from ..predictors.suites import PredictionSuite, load_prediction_suite, predictor_inputs
from ..predictors.zero_shot import PredictionsFile
from ..provenance import code_fingerprint, library_versions
from ..isolation import Limits, isolation
from ..sandbox import SandboxedWorker, SubmissionFailed
from ..store import job_key
from ..submissions import predictor_worker
from ..submissions import (PredictorSubmission, SubmissionError, check_predictions_file, folder_sha256,
                           load_predictor)
from ..submissions.loading import package_code_used
from ..suite import SuiteSpec
from .base import Harness, Track, suite_folders
from .entry import Entry, Plots, Samples, ScatterPlot
from .protocol import PredictionsAnswer, PredictorRequest, TrainTargets, Unsupported, parse_answer

# (method, target, held-out task) -> item id -> score; target "*" and task "*" stand for every one
Answers = dict[tuple[str, str, str], dict[str, float]]
LIBRARIES = ("numpy", "scipy", "pandas", "torch", "transformers")
SCATTER_METHOD = "weight_avg"  # whose measured na the page plots predictions against, where a suite has it


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


def predictor_code(folder: Path, spec: PredictorSubmission, *harness_code) -> str:
    """The code behind a predictor entry's numbers: the worker, what the harness sends it and does with its
    answers, the scoring, and the submission's own package code. The metric library counts among the
    suite's inputs (result suites ship their metrics), so the trace stops there."""
    return code_fingerprint(predictor_worker.main, load_prediction_suite, predictor_inputs, *harness_code,
                            *package_code_used(folder, spec.entry_point),
                            stop_at=(MetricLibrary, calibration_set, metric_code))


@contextmanager
def predictor_worker_in(limits: Limits, hidden: tuple[Path, ...], readable: list[Path],
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
                             hidden=list(hidden), readable=[*readable, own / "inputs"]) as worker:
            yield worker, str(own / "inputs" / "inputs.json")


def train_targets(truth: PredictionSuite, held_out: str) -> tuple[TrainTargets, TrainTargets]:
    """The targets a fold may learn from: every pair and update without the held-out task."""
    pair_targets: TrainTargets = {}
    for (method, target), values in sorted(truth.targets.items()):
        pair_targets.setdefault(method, {})[target] = {
            p.id: float(v) for p, v in zip(truth.pairs, values) if held_out not in (p.task_a, p.task_b) and np.isfinite(v)}
    update_targets: TrainTargets = {}
    for (method, target), values in sorted((truth.update_targets or {}).items()):
        update_targets.setdefault(method, {})[target] = {
            u.id: float(v) for u, v in zip(truth.updates, values) if u.task != held_out}
    return pair_targets, update_targets


def collect(answers: Answers, ids: list[str], per_method: dict, fold: str, folds: list[str],
            tasks_of: dict[str, tuple[str, ...]]) -> None:
    """File one answer's scores under every fold they predict (a zero-shot answer, fold '*', serves each
    fold its held-out items)."""
    for method, per_target in per_method.items():
        for target, values in per_target.items():
            for f in (folds if fold == "*" else [fold]):
                chosen = {i: v for i, v in zip(ids, values) if f in tasks_of[i]}
                answers.setdefault((method, target, f), {}).update(chosen)


def lookup(who: str, answers: Answers):
    """The collected answers as the scoring's `Predict`: the held-out fold's scores, in its item order."""
    def predict(method, target, held_out, train_items, train_targets, test_items):
        got = answers.get((method, target, held_out)) or answers.get((method, "*", held_out)) or {}
        missing = [item.id for item in test_items if item.id not in got]
        if missing:
            raise SubmissionFailed("wrong-count", f"{who}: no score for {missing[0]!r} "
                                                  f"(method {method}, held-out task {held_out})")
        return np.array([got[item.id] for item in test_items])
    return predict


def scatter(truth: PredictionSuite, answers: Answers) -> ScatterPlot:
    """Held-out predictions (z-scored within each fold, as per-fold ranking sees them) vs measured `na`."""
    method = SCATTER_METHOD if SCATTER_METHOD in truth.methods else truth.methods[0]
    actual = dict(zip((p.id for p in truth.pairs), truth.targets[(method, "na")]))
    points = []
    for (m, target, fold), scores in sorted(answers.items()):
        if m != method or target not in ("na", "*"):
            continue
        ids = sorted(i for i in scores if np.isfinite(actual[i]))
        x = np.array([scores[i] for i in ids])
        z = (x - x.mean()) / x.std() if x.std() > 0 else np.zeros_like(x)
        points += [[round(float(a), 4), round(float(actual[i]), 4)] for a, i in zip(z, ids)]
    return ScatterPlot(method=method, points=points)


class PredictorTrack(Track):
    """`load_truth` gives the suite with its targets (harness side); it is called only on a cache miss and
    computes every metric the predictor may read before its first worker starts."""

    name = "predictors"
    submission = PredictorSubmission

    def __init__(self, harness: Harness, suite: SuiteSpec, load_truth: Callable[[], PredictionSuite]):
        super().__init__(harness, suite)
        self.load_truth = load_truth

    def key(self, folder: Path, spec: PredictorSubmission) -> str:
        """Recomputed when the folder, the code behind its numbers, the suite's inputs or a library change."""
        code = predictor_code(folder, spec, PredictorTrack.compute, train_targets, collect, lookup, scatter,
                              score_predictions, score_update_predictions)
        return job_key({"kind": "predictor-entry", "folder_sha256": folder_sha256(folder), "suite": self.suite.name,
                        "inputs": prediction_inputs_fingerprint(self.suite, self.harness.cache), "code": code,
                        "libraries": library_versions(*LIBRARIES)})

    def compute(self, folder: Path, spec: PredictorSubmission, entry: Entry) -> None:
        truth = self.load_truth()
        inputs = json.dumps(predictor_inputs(truth))
        pair_tasks = {p.id: (p.task_a, p.task_b) for p in truth.pairs}
        update_tasks = {u.id: (u.task,) for u in truth.updates}
        folds = sorted({t for pair in truth.pair_tasks for t in pair})

        def ask(held_out: str | None, pair_targets: TrainTargets, update_targets: TrainTargets):
            with predictor_worker_in(self.harness.limits, self.harness.hidden,
                                     [Path(folder).resolve(), *suite_folders(self.suite)], inputs) as (worker, file):
                request = PredictorRequest(suite=str(self.suite.root), folder=str(Path(folder).resolve()), inputs=file,
                                           held_out=held_out, pair_targets=pair_targets, update_targets=update_targets)
                return parse_answer(spec.name, worker.request(request.message()), set(pair_tasks), set(update_tasks))

        entry.isolation = isolation().tool
        first = ask(None, {m: {} for m in truth.methods}, {m: {} for m, _ in sorted(truth.update_targets or {})})
        if isinstance(first, Unsupported):
            entry.status, entry.reason = "incomplete", first.unsupported
            return
        answered = [("*", first)] if isinstance(first, PredictionsAnswer) else \
            [(fold, ask(fold, *train_targets(truth, fold))) for fold in folds]  # a fresh worker per fold
        pair_answers, update_answers = {}, {}
        for fold, answer in answered:
            if not isinstance(answer, PredictionsAnswer):  # a fold's worker must predict: name what it lacks
                parse_answer(spec.name, {}, set(), set())
            collect(pair_answers, answer.pairs, answer.predictions, fold, folds, pair_tasks)
            collect(update_answers, answer.updates, answer.update_predictions, fold, folds, update_tasks)
        scores, held_out = score_predictions(truth, lookup(spec.name, pair_answers))
        if update_answers:
            scores.updates = score_update_predictions(truth, lookup(spec.name, update_answers))
        entry.status, entry.scores = "complete", scores
        entry.samples = Samples(held_out=held_out)
        entry.plots = Plots(scatter=scatter(truth, pair_answers))


def score_in_process(folder: Path, truth: PredictionSuite, suite: str) -> Entry:
    """`submit check --in-process`: the predictor imported and scored in this process, for debugging one's own
    code (tracebacks and debuggers work); never used for the leaderboard, whose runs are sandboxed."""
    entry = Entry(track="predictors", suite=suite, name=Path(folder).name, status="failed")
    try:
        _, predictor = load_predictor(Path(folder))
        if isinstance(predictor, PredictionsFile):
            check_predictions_file(predictor, truth)
        scores = score_predictor(predictor, truth)
        if callable(getattr(predictor, "predict_updates", None)) and truth.updates:
            scores.updates = score_update_predictor(predictor, truth)
    except (UnsupportedSuite, SubmissionError, KeyError, ValueError) as err:
        entry.reason = f"{type(err).__name__}: {err}"
        return entry
    entry.status, entry.scores = "complete", scores
    return entry
