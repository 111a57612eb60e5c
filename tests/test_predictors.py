"""Predictor track: LOTO scoring, the ground truth stays hidden, the Demystifying reproduction,
and submissions (code or predictions file) through `willitmerge submit check`."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.predictors.harness import score_predictor
from benchmark.predictors.suites import load_prediction_suite
from benchmark.scoring import loto_score
from benchmark.submissions import SubmissionError, load_predictor, read_submission

ROOT = Path(__file__).parents[1]
runner = CliRunner()


@pytest.fixture(scope="module")
def vitb16():
    return load_prediction_suite("demystifying-vitb16")


def test_loto_perfect_and_inverted_predictors():
    tasks = [(a, b) for a in "abcde" for b in "abcde" if a < b]
    y = np.arange(len(tasks), dtype=float)
    perfect = loto_score(tasks, y, lambda train, test, held_out: y[test], samples=200)
    assert perfect.spearman == pytest.approx(1.0) and perfect.pooled_spearman == pytest.approx(1.0)
    assert len(perfect.folds) == 5 and all(len(f.targets) == 4 for f in perfect.folds)
    inverted = loto_score(tasks, y, lambda train, test, held_out: -y[test], samples=200)
    assert inverted.spearman == pytest.approx(-1.0) and inverted.pearson == pytest.approx(-1.0)
    assert inverted.spearman_ci[0] <= inverted.spearman <= inverted.spearman_ci[1]


class _Spy:
    """Records what the harness shows it, to prove held-out targets never reach `fit`."""

    works_from = "metrics"

    def __init__(self):
        self.calls = []

    def fit(self, pairs, targets, method):
        self._train = {p.id for p in pairs}
        self.calls.append(len(targets))

    def predict(self, pairs, method):
        assert not self._train & {p.id for p in pairs}, "a held-out pair was in the training fold"
        return np.array([p.metrics["task_vector_cosine_similarity"] for p in pairs])


def test_fit_only_sees_the_training_fold(vitb16):
    spy = _Spy()
    score_predictor(spy, vitb16)
    assert set(spy.calls) <= {171, 169, 170}  # 190 pairs minus the 19 of the held-out task (TSV lost two)
    assert len(spy.calls) == 20 * 5 * 2


def test_l1_pearson_linear_reproduces_demystifying(vitb16):
    """Mean per-fold validation Pearson, raw-accuracy target, seed 0, averaged over five methods: paper 0.544."""
    _, predictor = load_predictor(ROOT / "submissions" / "predictors" / "l1-pearson-linear")
    result = score_predictor(predictor, vitb16)
    assert result.averages["raw"].mean_fold_pearson == pytest.approx(0.544, abs=0.03)


def test_submission_yaml_errors_name_file_and_field(tmp_path):
    (tmp_path / "submission.yaml").write_text("name: Bad Name\nkind: predictor\n")
    with pytest.raises(SubmissionError, match=r"submission.yaml: field `name`"):
        read_submission(tmp_path)
    (tmp_path / "submission.yaml").write_text(
        "name: both\nkind: predictor\nauthors: [a]\ndescription: d\nlicence: MIT\nsuites: [tiny]\n")
    with pytest.raises(SubmissionError, match="exactly one of `entry_point` and `predictions`"):
        read_submission(tmp_path)


def _predictions_submission(folder: Path, table: pd.DataFrame) -> Path:
    folder.mkdir()
    table.to_csv(folder / "predictions.csv", index=False)
    (folder / "submission.yaml").write_text(
        f"name: {folder.name}\nkind: predictor\nauthors: [someone]\ndescription: scores computed elsewhere\n"
        "licence: CC-BY-4.0\npredictions: predictions.csv\nsuites: [demystifying-vitb16]\n")
    return folder


def test_predictions_file_is_scored_and_validated(vitb16, tmp_path):
    scores = pd.DataFrame({"pair_id": [p.id for p in vitb16.pairs], "method": "*",
                           "score": [-p.metrics["encoder_gradient_l2_distance"] for p in vitb16.pairs]})
    good = _predictions_submission(tmp_path / "good", scores)
    out = runner.invoke(app, ["submit", "check", str(good), "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)["suites"]["demystifying-vitb16"]
    assert set(report["methods"]) == {"weight_avg", "task_arithmetic", "ties", "dare", "tsv"}
    ref = runner.invoke(app, ["submit", "check", str(ROOT / "submissions/predictors/gradient-l2"),
                              "--suite", "demystifying-vitb16", "--json"])
    assert json.loads(ref.stdout)["suites"]["demystifying-vitb16"]["primary"] == pytest.approx(report["primary"])
    bad = _predictions_submission(tmp_path / "bad", pd.concat([scores, pd.DataFrame(
        {"pair_id": ["Nope__Nada"], "method": ["*"], "score": [0.0]})]))
    out = runner.invoke(app, ["submit", "check", str(bad)])
    assert out.exit_code == 1 and "Nope__Nada" in out.output


def test_base_knowledge_on_tiny_scores_pairs_and_updates():
    out = runner.invoke(app, ["submit", "check", str(ROOT / "submissions/predictors/base-knowledge"), "--json"])
    assert out.exit_code == 0, out.output
    tiny = json.loads(out.stdout)["suites"]["tiny"]  # stderr carries the sandboxed run's progress
    assert len(tiny["methods"]) == 7 and set(tiny["averages"]) == {"na", "raw", "gain"}
    assert -1 <= tiny["primary"] <= 1
    updates = tiny["updates"]
    assert set(updates["methods"]) == set(tiny["methods"])
    for row in updates["methods"].values():
        low, high = row["s_acc"]["pooled_spearman_ci"]
        assert low <= row["s_acc"]["pooled_spearman"] <= high


def test_weight_predictor_is_refused_on_a_suite_without_weights(vitb16):
    class NeedsWeights:
        works_from = "weights"

        def predict(self, pairs, method):
            return np.zeros(len(pairs))

    from benchmark.predictors.harness import UnsupportedSuite

    with pytest.raises(UnsupportedSuite, match="ships no weights"):
        score_predictor(NeedsWeights(), vitb16)


def test_single_metric_fills_undefined_values_only_when_told():
    """On smol, experts that changed disjoint matrices have no subspace overlap (NaN): the baseline
    declares 0 for them, and a predictor that does not declare a value keeps the NaN for the harness."""
    from types import SimpleNamespace

    from benchmark.predictors.zero_shot import SingleMetric

    pairs = [SimpleNamespace(id=i, metrics={"subspace_overlap": v}) for i, v in (("p", 0.4), ("q", float("nan")))]
    assert SingleMetric("subspace_overlap", sign=-1, undefined=0.0).predict(pairs, "ties").tolist() == [-0.4, -0.0]
    assert np.isnan(SingleMetric("subspace_overlap").predict(pairs, "ties")[1])
    smol = load_prediction_suite("smol")
    _, predictor = load_predictor(ROOT / "submissions" / "predictors" / "subspace-overlap")
    scores = predictor.predict(smol.pairs, "ties")
    assert np.isfinite(scores).all() and (scores == 0).sum() >= 1
