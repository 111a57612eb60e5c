"""The transfer track: a predictor that declares `transfer: true`, fit in its sandbox on every pair of one
suite (the targets of the merge methods both suites have) and predicting every pair of another from the
metrics both share; scored by `benchmark.scoring.transfer`. Cached whole, like predictor entries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..groundtruth import resolve_ground_truth
from ..predictors.suites import PredictionSuite, missing_metrics, predictor_inputs
from ..provenance import library_versions
from ..isolation import isolation
from ..sandbox import SubmissionFailed
from ..scoring.records import TransferScores
from ..scoring.transfer import transfer_scores
from ..store import job_key
from ..submissions import PredictorSubmission, folder_sha256
from ..suite import SuiteSpec
from .base import Harness, Track, suite_folders
from .entry import Entry
from .predictors import LIBRARIES, prediction_inputs_fingerprint, predictor_code, predictor_worker_in
from .protocol import PredictorRequest, Unsupported, parse_answer


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


class TransferTrack(Track):
    """Fit on `train`, scored on `self.suite` (the test suite); `load_*` give each with its targets."""

    name = "transfer"
    submission = PredictorSubmission

    def __init__(self, harness: Harness, train: SuiteSpec, test: SuiteSpec, load_train: Callable[[], PredictionSuite],
                 load_test: Callable[[], PredictionSuite]):
        super().__init__(harness, test)
        self.train, self.load_train, self.load_test = train, load_train, load_test

    def known_suites(self) -> list[str]:
        return [self.train.name, self.suite.name]

    def listed(self, spec: PredictorSubmission) -> bool:
        return spec.transfer

    def not_entered(self, spec: PredictorSubmission) -> str | None:
        return None

    def key(self, folder: Path, spec: PredictorSubmission) -> str:
        code = predictor_code(folder, spec, TransferTrack.compute, transfer_scores)
        return job_key({"kind": "predictor-transfer", "folder_sha256": folder_sha256(folder), "train": self.train.name,
                        "test": self.suite.name, "code": code, "libraries": library_versions(*LIBRARIES),
                        "inputs": [prediction_inputs_fingerprint(s, self.harness.cache) for s in (self.train, self.suite)]})

    def compute(self, folder: Path, spec: PredictorSubmission, entry: Entry) -> None:
        fit_on, scored_on = self.load_train(), self.load_test()
        methods = sorted(set(fit_on.methods) & set(scored_on.methods))
        features = sorted(set.intersection(*(set(p.metrics) for p in fit_on.pairs + scored_on.pairs)))
        pair_targets = {m: {"na": {p.id: float(v) for p, v in zip(fit_on.pairs, fit_on.targets[(m, "na")])
                                   if np.isfinite(v)}} for m in methods}
        inputs = json.dumps(predictor_inputs(fit_on) | {"transfer_to": predictor_inputs(scored_on)})
        entry.isolation = isolation().tool
        if not methods or not features:
            raise SubmissionFailed("nothing-shared", f"{self.train.name} and {self.suite.name} share "
                                                     f"{len(methods)} merge methods and {len(features)} metrics")
        readable = [Path(folder).resolve(), *suite_folders(self.train), *suite_folders(self.suite)]
        with predictor_worker_in(self.harness.limits, self.harness.hidden, readable, inputs) as (worker, file):
            request = PredictorRequest(suite=str(self.train.root), transfer_to=str(self.suite.root), folder=str(folder),
                                       features=features, pair_targets=pair_targets, inputs=file)
            raw = worker.request(request.message())
        ids = [p.id for p in scored_on.pairs]
        answer = parse_answer(spec.name, raw if "unsupported" in raw else raw | {"updates": [], "update_predictions": {}},
                              set(ids), set())
        if isinstance(answer, Unsupported):
            entry.status, entry.reason = "incomplete", answer.unsupported
            return
        predictions = {}
        for m in methods:
            values = (answer.predictions.get(m) or {}).get("na") or []
            if answer.pairs != ids or len(values) != len(ids):
                raise SubmissionFailed("wrong-count", f"{spec.name}: {len(values)} scores for {len(ids)} pairs of "
                                                      f"{self.suite.name} (method {m})")
            predictions[m] = np.array(values, dtype=float)
        correlation = transfer_scores(self.train.name, self.suite.name, predictions,
                                      {m: scored_on.targets[(m, "na")] for m in methods})
        entry.status = "complete"
        entry.scores = TransferScores(**correlation.model_dump(), train_suite=self.train.name, features=len(features),
                                      fit_pairs=len(fit_on.pairs))
