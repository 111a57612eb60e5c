"""Merge methods: known answers on hand-built tensors, and agreement with mergekit."""

from pathlib import Path

import pytest
import torch

from benchmark.merging import METHODS, MergeContext, get_method, load_mergekit_method, merge, merge_experts
from benchmark.merging.mergekit_adapter import MergekitTemplateError, MergekitMethod

CONFIGS = Path(__file__).parents[1] / "benchmark" / "merging" / "mergekit_configs"
CTX2 = MergeContext(("a", "b"), (0.9, 0.1))


def _merge_one(method, base, *experts, ctx=CTX2):
    return merge(method, {"w": base}, [{"w": e} for e in experts], ctx)["w"]


def test_weight_avg_task_arithmetic_ties_on_known_tensors():
    base = torch.zeros(2, 5)
    a = torch.tensor([[1.0, -2.0, 0.1, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 2.0, 0.0, 0.2, -0.5], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert torch.equal(_merge_one(get_method("weight_avg"), base, a, b), (a + b) / 2)
    torch.testing.assert_close(_merge_one(get_method("task_arithmetic"), base, a, b), 0.3 * (a + b))
    # density 0.2 of 10 entries keeps 2 per expert: a keeps 3.0 and -2.0, b keeps 2.0 and 1.0 (first of the ties).
    ties = _merge_one(get_method("ties", density=0.2, lam=1.0), base, a, b)
    expected = torch.zeros(2, 5)
    expected[0, 0] = 1.0  # only b kept it
    expected[0, 1] = 2.0  # -2 + 2 = 0 elects +, only b's +2 agrees
    expected[0, 4] = 3.0
    torch.testing.assert_close(ties, expected)


def test_dare_is_seeded_and_unbiased():
    base = torch.zeros(200, 200)
    a, b = torch.ones(200, 200), 3 * torch.ones(200, 200)
    one = _merge_one(get_method("dare", p=0.9, seed=1), base, a, b)
    assert torch.equal(one, _merge_one(get_method("dare", p=0.9, seed=1), base, a, b))
    assert not torch.equal(one, _merge_one(get_method("dare", p=0.9, seed=2), base, a, b))
    assert ((one == 0).float().mean() - 0.81).abs() < 0.02  # both dropped: 0.9²
    assert (one.mean() - 2.0).abs() < 0.1


def test_tsv_and_isoc_on_orthogonal_rank_one_updates():
    e1, e2 = torch.eye(4)[:, :1], torch.eye(4)[:, 1:2]
    a, b = 2 * e1 @ e1.T, 4 * e2 @ e2.T  # orthogonal singular vectors: TSV keeps both exactly
    torch.testing.assert_close(_merge_one(get_method("tsv"), torch.zeros(4, 4), a, b), a + b)
    # Σ τ = diag(1, 2, 3, 4): Iso-C flattens the spectrum to its mean, 2.5, keeping U Vᵀ = I.
    iso = _merge_one(get_method("isoc"), torch.zeros(4, 4), torch.diag(torch.tensor([1.0, 2, 0, 0])),
                     torch.diag(torch.tensor([0.0, 0, 3, 4])))
    torch.testing.assert_close(iso, 2.5 * torch.eye(4))


def test_wim_weights_favour_what_the_base_does_not_know():
    method = get_method("wim_weighted", temperature=0.5)
    w = method.weights(CTX2)
    torch.testing.assert_close(w, torch.softmax(torch.tensor([0.1, 0.9], dtype=torch.float64) / 0.5, 0))
    base, a, b = torch.zeros(3), torch.ones(3), -torch.ones(3)
    torch.testing.assert_close(_merge_one(method, base, a, b), (w[0] - w[1]).float() * torch.ones(3))


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_merges_three_experts(name, micro_suite):
    ids = [e.id for e in micro_suite.manifest.experts][::2][:3]
    merged = merge_experts(micro_suite, get_method(name), ids)
    base = micro_suite.base_state_dict()
    assert merged.keys() == base.keys()
    assert all(torch.isfinite(t).all() and t.shape == base[k].shape for k, t in merged.items())


def test_unknown_method_and_parameter_name_the_fix():
    with pytest.raises(KeyError, match="registered: .*ties"):
        get_method("tie")
    with pytest.raises(TypeError, match="takes \\['alpha'\\]"):
        get_method("task_arithmetic", lam=1)


def test_mergekit_template_needs_an_expert_entry():
    with pytest.raises(MergekitTemplateError, match="models"):
        MergekitMethod("bad", "merge_method: linear\nmodels: []\n")


@pytest.mark.parametrize("ours, theirs", [("weight_avg", "linear"), ("task_arithmetic", "task_arithmetic"),
                                          ("ties", "ties")])
def test_builtin_equals_mergekit(ours, theirs, micro_suite):
    ids = [e.id for e in micro_suite.manifest.experts if e.format == "full"][:1] + \
          [e.id for e in micro_suite.manifest.experts if e.format == "lora"][1:2]
    built_in = merge_experts(micro_suite, get_method(ours), ids)
    via_mergekit = merge_experts(micro_suite, load_mergekit_method(CONFIGS / f"{theirs}.yaml"), ids)
    for name, tensor in built_in.items():
        torch.testing.assert_close(via_mergekit[name], tensor, rtol=0, atol=1e-6)


def test_mergekit_merges_leave_no_files_mapped(micro_suite):
    """mergekit caches a loader per model folder (files mapped) for the process's life; a sandboxed worker
    merging every pair of smol ran out of address space after ~60 merges (1 GB more mapped per merge)."""
    from mergekit.io.tasks import LoaderCache

    method = load_mergekit_method(CONFIGS / "linear.yaml")
    for pair in micro_suite.manifest.pairs[:3]:
        merge_experts(micro_suite, method, [pair.expert_a, pair.expert_b])
        assert LoaderCache().loaders == {}
