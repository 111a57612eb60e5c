"""Published numbers must not depend on the thread count or on the SVD basis LAPACK picks.

Every built-in merge method gives the same weights with 1, 2 and 4 torch threads on the tiny
suite's LoRA/LoRA, LoRA/full and full/full pairs; the SVD-based methods and the subspace
metrics give the same result when the singular vectors of a low-rank task vector's null
space are rotated (the same τ, a different but equally valid SVD).
"""

import pytest
import torch

from benchmark.linalg import RANK_RTOL, numerical_rank, ranked_svd
from benchmark.merging import METHODS, MergeContext, get_method, merge, merge_experts
from benchmark.predictors.metrics import weights as w

THREADS = (1, 2, 4)
TOLERANCE = 1e-5


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _pair(suite, kinds: tuple[str, ...]) -> list[str]:
    """Experts of distinct tasks with the given formats (two, or a partner group's four)."""
    chosen = []
    for kind in kinds:
        chosen.append(next(e for e in suite.manifest.experts
                           if e.format == kind and e.task not in {c.task for c in chosen}))
    return [e.id for e in chosen]


def _max_difference(a: dict, b: dict) -> float:
    return max(float((a[k] - b[k]).abs().max()) for k in a)


@pytest.mark.parametrize("kinds", [("lora", "lora"), ("lora", "full"), ("full", "full"), ("full", "lora", "lora", "lora")])
def test_every_method_gives_the_same_weights_with_1_2_and_4_threads(tiny_suite, kinds, restore_threads):
    experts = _pair(tiny_suite, kinds)
    for name in sorted(METHODS):
        merged = []
        for threads in THREADS:
            torch.set_num_threads(threads)
            merged.append(merge_experts(tiny_suite, get_method(name), experts))
        gaps = [_max_difference(merged[0], other) for other in merged[1:]]
        # bit-identical, not close: 2e-6 in a TSV merge flipped a greedy answer of tiny's ground truth
        assert max(gaps) == 0, f"{name} on {'+'.join(experts)}: max abs difference {gaps} across {THREADS} threads"


def rotated_null_space_svd(svd, seed: int = 0):
    """torch.linalg.svd, but with the singular vectors of the (numerically) zero singular values
    rotated by a random orthogonal matrix: still a valid SVD of the same matrix."""
    generator = torch.Generator().manual_seed(seed)

    def rotated(matrix, full_matrices=True, **kwargs):
        u, s, vh = svd(matrix, full_matrices=full_matrices, **kwargs)
        r, k = numerical_rank(s), s.numel()
        if k - r > 1:
            q = torch.linalg.qr(torch.randn(k - r, k - r, generator=generator, dtype=torch.float64))[0].to(u.dtype)
            u = torch.cat([u[:, :r], u[:, r:k] @ q, u[:, k:]], 1)
            vh = torch.cat([vh[:r], q.T @ vh[r:k], vh[k:]], 0)
        return u, s, vh

    return rotated


def _low_rank(rows: int, cols: int, rank: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(rows, rank, generator=g) @ torch.randn(rank, cols, generator=g) / rank


@pytest.mark.parametrize("name", ["tsv", "isoc"])
def test_svd_methods_do_not_depend_on_the_null_space_basis(name, tiny_suite, monkeypatch):
    base = {"w": torch.randn(48, 32, generator=torch.Generator().manual_seed(1)), "b": torch.zeros(32)}
    experts = [{"w": base["w"] + _low_rank(48, 32, 3, seed), "b": torch.full((32,), float(seed))} for seed in (2, 3)]
    ctx = MergeContext(("a", "b"), (0.5, 0.5))
    method = get_method(name)
    lora_pair = _pair(tiny_suite, ("lora", "lora"))
    mixed_pair = _pair(tiny_suite, ("lora", "full"))
    plain = [merge(method, base, experts, ctx), merge_experts(tiny_suite, method, lora_pair),
             merge_experts(tiny_suite, method, mixed_pair)]
    monkeypatch.setattr(torch.linalg, "svd", rotated_null_space_svd(torch.linalg.svd))
    rotated = [merge(method, base, experts, ctx), merge_experts(tiny_suite, method, lora_pair),
               merge_experts(tiny_suite, method, mixed_pair)]
    for label, a, b in zip(("synthetic rank 3", "+".join(lora_pair), "+".join(mixed_pair)), plain, rotated):
        assert _max_difference(a, b) <= TOLERANCE, f"{name} on {label} changed with the null-space basis"


def test_a_zero_matrix_has_the_rank_0_factors_lapack_would_give():
    for shape in ((7, 3), (3, 7), (0, 4)):
        zero = torch.zeros(shape)
        u, s, vh = torch.linalg.svd(zero, full_matrices=False)
        expected = (u[:, :0], s[:0], vh[:0])
        for got, want in zip(ranked_svd(zero), expected):
            assert got.shape == want.shape and got.dtype == want.dtype
    assert ranked_svd(torch.eye(3))[1].tolist() == [1.0, 1.0, 1.0]


def test_tsv_keeps_at_most_the_numerical_rank_and_isoc_the_nuclear_norm():
    a, b = _low_rank(40, 40, 2, 4), _low_rank(40, 40, 3, 5)
    base = {"w": torch.zeros(40, 40)}
    ctx = MergeContext(("a", "b"), (0.5, 0.5))
    tsv = merge(get_method("tsv"), base, [{"w": a}, {"w": b}], ctx)["w"]
    assert numerical_rank(torch.linalg.svdvals(tsv)) == 5  # 2 + 3 triplets, not 2 × 20
    iso = merge(get_method("isoc"), base, [{"w": a}, {"w": b}], ctx)["w"]
    s_sum, s_iso = torch.linalg.svdvals(a + b), torch.linalg.svdvals(iso)
    assert numerical_rank(s_iso) == numerical_rank(s_sum) == 5
    torch.testing.assert_close(s_iso.sum(), s_sum.sum(), rtol=1e-5, atol=0)  # the nuclear norm is kept
    torch.testing.assert_close(s_iso[:5], s_iso[:5].mean().expand(5), rtol=1e-5, atol=0)  # a flat spectrum


def test_subspace_metrics_do_not_depend_on_threads_or_the_null_space_basis(tiny_suite, monkeypatch, restore_threads):
    base = tiny_suite.base_state_dict()
    tvs = []
    for expert in _pair(tiny_suite, ("lora", "lora")):
        state = tiny_suite.expert_state_dict(expert)
        tvs.append({k: state[k] - base[k] for k in base})
    values = []
    for threads in THREADS:
        torch.set_num_threads(threads)
        values.append(w.subspace_metrics(w.layer_svds(tvs[0]), w.layer_svds(tvs[1])))
    monkeypatch.setattr(torch.linalg, "svd", rotated_null_space_svd(torch.linalg.svd))
    values.append(w.subspace_metrics(w.layer_svds(tvs[0]), w.layer_svds(tvs[1])))
    for other in values[1:]:
        assert other == pytest.approx(values[0], abs=TOLERANCE, nan_ok=False)
    assert RANK_RTOL < 1e-4


def test_a_method_fingerprint_covers_its_own_code_and_nothing_of_another_method():
    from benchmark.merging.merge import MERGE_DRIVER
    from benchmark.provenance import code_fingerprint, traced_names

    ties = traced_names(*get_method("ties").code_roots(), *MERGE_DRIVER)
    assert "benchmark.merging.methods.trim_to_top_k" in ties and "benchmark.merging.methods.disjoint_mean" in ties
    assert "benchmark.suite.suite.lora_deltas" in ties  # how a LoRA expert's weights are made
    assert not any("TaskSingularVectors" in n or "linalg" in n for n in ties)
    tsv = traced_names(*get_method("tsv").code_roots(), *MERGE_DRIVER)
    assert "benchmark.linalg.ranked_svd" in tsv and "benchmark.linalg.RANK_RTOL" not in tsv  # a default, by value
    assert code_fingerprint(*get_method("ties").code_roots()) != code_fingerprint(*get_method("tsv").code_roots())
