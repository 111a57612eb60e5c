"""Each pairwise metric on hand-built tensors with a known answer."""

import math
import os

import numpy as np
import pytest
import torch

from benchmark.predictors.metrics import DEMYSTIFYING_METRICS, EXTRA_METRICS, MetricLibrary
from benchmark.predictors.metrics import model as fn
from benchmark.predictors.metrics import weights as w


def test_task_vector_family():
    a, b = torch.tensor([3.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 4.0], dtype=torch.float64)
    m = w.task_vector_metrics(a, b)
    assert m["task_vector_cosine_similarity"] == pytest.approx(0.0)
    assert m["task_vector_l2_distance"] == pytest.approx(5.0)
    assert m["task_vector_dot_product"] == pytest.approx(0.0)
    assert m["weight_space_angle"] == pytest.approx(90.0)
    assert m["task_vector_magnitude_ratio"] == pytest.approx(0.75)


def test_effective_rank_family_for_orthogonal_and_parallel_updates():
    ortho = w.effective_rank_metrics({"x": torch.tensor([1.0, 0.0])}, {"x": torch.tensor([0.0, 1.0])})
    assert ortho["effective_rank"] == pytest.approx(2.0)  # two equal singular values
    assert ortho["effective_rank_mergeability_score"] == pytest.approx(0.0)
    assert ortho["stable_rank"] == pytest.approx(2.0)
    assert ortho["spectral_gap"] == pytest.approx(0.0) and ortho["singular_value_ratio"] == pytest.approx(1.0)
    parallel = w.effective_rank_metrics({"x": torch.tensor([1.0, 1.0]), "y": torch.tensor([2.0])},
                                        {"x": torch.tensor([2.0, 2.0]), "y": torch.tensor([4.0])})
    assert parallel["effective_rank"] == pytest.approx(1.0)  # rank one
    assert parallel["effective_rank_mergeability_score"] == pytest.approx(1.0)
    assert parallel["spectral_gap"] == pytest.approx(1.0) and parallel["singular_value_ratio"] == pytest.approx(0.0, abs=1e-6)
    assert parallel["layerwise_effective_rank"] == pytest.approx(1.0)


def test_subspace_family_on_identical_and_disjoint_subspaces():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(40, 40, dtype=torch.float64))
    s = torch.linspace(10, 1, 20, dtype=torch.float64)
    a = q[:, :20] @ torch.diag(s) @ q[:, :20].T
    same = w.subspace_metrics(w.layer_svds({"m": a}), w.layer_svds({"m": 2 * a}), k=10)
    assert same["singular_value_overlap"] == pytest.approx(1.0)
    assert same["subspace_overlap"] == pytest.approx(1 / math.sqrt(10))  # ‖I_k‖_F / k
    assert same["right_subspace_overlap_top_k"] == pytest.approx(1.0)
    assert same["interaction_matrix_overlap_top_k"] == pytest.approx(1.0)
    b = q[:, 20:] @ torch.diag(s) @ q[:, 20:].T  # orthogonal complement
    apart = w.subspace_metrics(w.layer_svds({"m": a}), w.layer_svds({"m": b}), k=10)
    assert apart["subspace_overlap"] == pytest.approx(0.0, abs=1e-9)
    assert apart["right_subspace_overlap_top_k"] == pytest.approx(0.0, abs=1e-9)
    assert apart["interaction_matrix_overlap_top_k"] == pytest.approx(0.0, abs=1e-9)


def test_kinship_sign_agreement_and_magnitudes():
    a = torch.tensor([1.0, -2.0, 3.0, 0.0], dtype=torch.float64)
    k = w.kinship_metrics(a, 2 * a + 1)
    assert k["kinship_pearson"] == pytest.approx(1.0)
    assert w.kinship_metrics(a, torch.tensor([1.0, 2.0, -3.0, 5.0], dtype=torch.float64))["sign_agreement"] == \
        pytest.approx(1 / 3)
    tv = {"m": torch.diag(torch.tensor([3.0, 4.0]))}
    mags = w.expert_magnitudes(tv, w.layer_svds(tv))
    assert mags["norm"] == pytest.approx(5.0) and mags["top_singular_value"] == pytest.approx(4.0)


def test_vector_metrics_with_ratio():
    m = fn.vector_metrics("activation", torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0]), with_ratio=True)
    assert m == pytest.approx({"activation_l2_distance": math.sqrt(5), "activation_cosine_similarity": 0.0,
                               "activation_dot_product": 0.0, "activation_magnitude_ratio": 0.5})


def test_library_computes_every_metric_once_and_caches(micro_suite, tmp_path):
    lib = MetricLibrary(micro_suite, cache=tmp_path)
    pair = micro_suite.manifest.pairs[0]
    metrics = lib.pair_metrics(pair.expert_a, pair.expert_b)
    assert set(DEMYSTIFYING_METRICS) | set(EXTRA_METRICS) == set(metrics)
    assert all(np.isfinite(v) for v in metrics.values())
    assert 0 <= metrics["base_accuracy_min"] <= metrics["base_accuracy_mean"] <= 1
    updates = lib.update_metrics(pair.expert_a)
    assert set(updates) == {"base_accuracy", "base_loglik", "tv_norm", "top_singular_value"}
    again = MetricLibrary(micro_suite, cache=tmp_path)
    assert again.pair_metrics(pair.expert_a, pair.expert_b) == metrics
    assert again.update_metrics(pair.expert_a) == updates
    assert again._experts == {}, "the second library read the pair and the expert from the cache"


def test_bottom_k_overlaps_on_a_full_rank_matrix():
    torch.manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(30, 30, dtype=torch.float64))
    a = q @ torch.diag(torch.linspace(30, 1, 30, dtype=torch.float64)) @ q.T
    same = w.subspace_metrics(w.layer_svds({"m": a}), w.layer_svds({"m": 3 * a}), k=10)
    assert same["right_subspace_overlap_bottom_k"] == pytest.approx(1.0)
    assert same["interaction_matrix_overlap_bottom_k"] == pytest.approx(1.0)


def test_base_knowledge_of_a_model_that_knows_nothing(micro_suite):
    """All-zero weights give uniform next-token probabilities: log-likelihood -log(V) and no answer."""
    model = micro_suite.model({k: torch.zeros_like(v) for k, v in micro_suite.base_state_dict().items()})
    examples = micro_suite.examples("cap", "train")[:8]
    known = fn.base_knowledge(model, micro_suite.tokenizer(), examples, micro_suite.manifest.prompting, 24)
    assert known["accuracy"] == 0.0
    assert known["loglik"] == pytest.approx(-math.log(micro_suite.config.vocab_size))


def test_parameter_gradient_matches_the_training_loss(micro_suite):
    from benchmark.suite.generation import encode
    from benchmark.suite.build.training import _loss

    model, tok = micro_suite.model(), micro_suite.tokenizer()
    examples = micro_suite.examples("dbl", "train")[:10]
    params, inputs = fn.gradients(model, tok, examples, micro_suite.manifest.prompting, 24)
    ids, mask = encode(tok, examples, micro_suite.manifest.prompting, answer_only=True, seq_len=24)
    grads = torch.autograd.grad(_loss(model, ids, mask), [p for _, p in sorted(model.named_parameters())])
    torch.testing.assert_close(params, torch.cat([g.reshape(-1).double() for g in grads]))
    assert inputs.shape == (micro_suite.config.hidden_size,)


def test_spilled_features_of_a_killed_run_are_removed_by_the_next(tmp_path):
    import subprocess

    from benchmark.predictors.metrics import _fresh_spill_dir

    gone = subprocess.Popen(["true"])
    gone.wait()
    stale = tmp_path / f"features-{gone.pid}-abc"
    stale.mkdir()
    (stale / "e-tv.npy").write_bytes(b"x")
    live = tmp_path / f"features-{os.getpid()}-def"
    live.mkdir()
    fresh = _fresh_spill_dir(tmp_path)
    assert not stale.exists() and live.exists()
    assert fresh.name.startswith(f"features-{os.getpid()}-")
