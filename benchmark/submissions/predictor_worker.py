"""The sandboxed predictor worker: `python -m benchmark.submissions.predictor_worker FD`.

It loads the suite without targets, with the metrics the harness computed (a file of its own, read-only
in bubblewrap; see `predictor_inputs`), and the submission's predictor, and answers one request:
zero-shot predictions for every pair (if the predictor has no `fit`), or one leave-one-task-out
fold, fitted on the training-fold targets the harness sends, or a transfer: fitted on every pair of
the suite and predicting every pair of `transfer_to`, both seeing only the metrics in `features`. A
learned predictor gets a fresh worker per fold, so no fold's held-out targets ever reach its process.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ..predictors.api import fit_if_supported
from ..predictors.suites import load_prediction_suite
from ..sandbox import serve
from .checks import check_predictions_file
from .loading import load_predictor


def _floats(values) -> list[float | None]:
    """JSON cannot carry NaN; None stands for it and the harness rejects it."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=float).reshape(-1)]


def main() -> None:
    def handle(message: dict) -> dict:
        inputs = json.loads(Path(message["inputs"]).read_text())
        suite = load_prediction_suite(message["suite"], show_progress=False, with_targets=False, inputs=inputs)
        spec, predictor = load_predictor(Path(message["folder"]))
        if spec.predictions is not None:
            check_predictions_file(predictor, suite)
        if getattr(predictor, "works_from", "metrics") == "weights" and not suite.has_weights:
            return {"unsupported": f"suite {suite.name!r} ships no weights; this predictor works from weights"}
        if message.get("transfer_to"):
            return _transfer(message, predictor, suite, inputs["transfer_to"])
        learned = callable(getattr(predictor, "fit", None)) or callable(getattr(predictor, "fit_updates", None))
        held_out = message.get("held_out")
        if held_out is None and learned:
            return {"learned": True}
        pairs = suite.pairs if held_out is None else [p for p in suite.pairs if held_out in (p.task_a, p.task_b)]
        updates = list(suite.updates) if held_out is None else [u for u in suite.updates if u.task == held_out]
        by_id = {p.id: p for p in suite.pairs}
        answer = {"pairs": [p.id for p in pairs], "updates": [u.id for u in updates], "predictions": {},
                  "update_predictions": {}}
        for method, per_target in message["pair_targets"].items():
            for target, train in (per_target.items() if learned else [(None, {})]):
                fit_if_supported(predictor, [by_id[i] for i in train], np.array(list(train.values())), method)
                answer["predictions"].setdefault(method, {})[target or "*"] = _floats(predictor.predict(pairs, method))
        if updates and callable(getattr(predictor, "predict_updates", None)):
            update_by_id = {u.id: u for u in suite.updates}
            for method, per_target in message["update_targets"].items():
                for target, train in (per_target.items() if learned else [(None, {})]):
                    fit_if_supported(predictor, [update_by_id[i] for i in train], np.array(list(train.values())),
                                     method, name="fit_updates")
                    answer["update_predictions"].setdefault(method, {})[target or "*"] = _floats(
                        predictor.predict_updates(updates, method))
        return answer

    serve(handle)


def _transfer(message: dict, predictor, train, test_inputs: dict) -> dict:
    """Fit on every pair of `train` with the targets sent, predict every pair of the other suite."""
    test = load_prediction_suite(message["transfer_to"], show_progress=False, with_targets=False, inputs=test_inputs)
    if getattr(predictor, "works_from", "metrics") == "weights":
        return {"unsupported": "transfer runs on the metrics both suites share; this predictor works from weights"}

    def shared(pairs):  # what the predictor sees of a pair: ids, tasks and the shared metrics
        return [dataclasses.replace(p, metrics={m: p.metrics[m] for m in message["features"]}, handles=None,
                                    base=None, calibration=()) for p in pairs]

    by_id = {p.id: p for p in shared(train.pairs)}
    test_pairs = shared(test.pairs)
    answer = {"pairs": [p.id for p in test_pairs], "predictions": {}}
    for method, per_target in message["pair_targets"].items():
        for target, fit_on in per_target.items():
            fit_if_supported(predictor, [by_id[i] for i in fit_on], np.array(list(fit_on.values())), method)
            answer["predictions"].setdefault(method, {})[target] = _floats(predictor.predict(test_pairs, method))
    return answer


if __name__ == "__main__":
    main()
