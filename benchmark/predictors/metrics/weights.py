"""Weight-space metrics of two task vectors: the task-vector, effective-rank and subspace
families of Demystifying Mergeability, plus kinship, sign agreement, norm and top singular value.

Inputs are per-tensor task vectors {name: τ}; "flat" metrics treat the concatenation of all
tensors as one vector, "layer" metrics average over the 2-D tensors (the model's matrices).
"""

from __future__ import annotations

import math

import torch

from ...linalg import ranked_svd

TaskVector = dict[str, torch.Tensor]
SUBSPACE_K = 10
PROFILE_LENGTH = 100
SUBSPACE_METRICS = ("singular_value_overlap", "subspace_overlap", "right_subspace_overlap_top_k",
                    "right_subspace_overlap_bottom_k", "interaction_matrix_overlap_top_k",
                    "interaction_matrix_overlap_bottom_k")


def flat(tv: TaskVector) -> torch.Tensor:
    return torch.cat([tv[k].reshape(-1).to(torch.float64) for k in sorted(tv)])


def unflat(vector: torch.Tensor, like: TaskVector) -> TaskVector:
    """The tensors of `like` as views of `vector` (laid out as `flat(like)`), in `vector`'s dtype."""
    out, offset = {}, 0
    for k in sorted(like):
        n = like[k].numel()
        out[k] = vector[offset:offset + n].view(like[k].shape)
        offset += n
    return out


def task_vector_metrics(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Cosine, L2 distance, dot product, angle in degrees, magnitude ratio min/max."""
    na, nb = a.norm(), b.norm()
    cos = float(a @ b / (na * nb))
    return {"task_vector_cosine_similarity": cos, "task_vector_l2_distance": float((a - b).norm()),
            "task_vector_dot_product": float(a @ b),
            "weight_space_angle": math.degrees(math.acos(max(-1.0, min(1.0, cos)))),
            "task_vector_magnitude_ratio": float(torch.minimum(na, nb) / torch.maximum(na, nb))}


def _pair_singular_values(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Singular values of the 2×D matrix [a; b], from its 2×2 Gram matrix (no D×D work)."""
    gram = torch.stack([torch.stack([a @ a, a @ b]), torch.stack([a @ b, b @ b])])
    return torch.linalg.eigvalsh(gram).clamp_min(0).sqrt().flip(0)


def _effective_rank(s: torch.Tensor) -> float:
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def effective_rank_metrics(tv_a: TaskVector, tv_b: TaskVector) -> dict[str, float]:
    a, b = flat(tv_a), flat(tv_b)
    s = _pair_singular_values(a, b)
    erank = _effective_rank(s)
    weights, layer_ranks = [], []
    for name in sorted(tv_a):
        la, lb = tv_a[name].reshape(-1).double(), tv_b[name].reshape(-1).double()
        norm = float(la.norm() + lb.norm())
        if norm > 0:
            weights.append(norm)
            layer_ranks.append(_effective_rank(_pair_singular_values(la, lb)))
    layer_erank = sum(w * r for w, r in zip(weights, layer_ranks)) / sum(weights)
    return {"effective_rank": erank, "effective_rank_mergeability_score": min(1.0, max(0.0, 2 - erank)),
            "stable_rank": float(s.sum() ** 2 / (s ** 2).sum()),
            "spectral_gap": float((s[0] - s[1]) / s[0]), "singular_value_ratio": float(s[1] / s[0]),
            "layerwise_effective_rank": layer_erank,
            "layerwise_effective_rank_mergeability_score": min(1.0, max(0.0, 2 - layer_erank))}


def layer_svds(tv: TaskVector) -> dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """SVD of every 2-D tensor of a task vector on its numerical rank (see `benchmark.linalg`);
    computed once per expert. Tensors the expert did not change (rank 0) have no subspace and are left out."""
    svds = {k: ranked_svd(v.double()) for k, v in sorted(tv.items()) if v.dim() == 2}
    return {k: usv for k, usv in svds.items() if usv[1].numel() > 0}


def subspace_metrics(svd_a, svd_b, k: int = SUBSPACE_K) -> dict[str, float]:
    """Averages over the 2-D layers both experts changed of spectrum-profile cosine and top/bottom-k
    subspace overlaps. k is capped at the smaller numerical rank, and "bottom" means the last k
    directions within the rank: beyond it, singular vectors are arbitrary."""
    totals: dict[str, float] = {}
    layers = sorted(set(svd_a) & set(svd_b))
    if not layers:
        return dict.fromkeys(SUBSPACE_METRICS, float("nan"))
    for name in layers:
        ua, sa, vha = svd_a[name]
        ub, sb, vhb = svd_b[name]
        kk = min(k, sa.numel(), sb.numel())
        pa, pb = (torch.nn.functional.pad(s[:PROFILE_LENGTH] / s.norm(), (0, max(0, PROFILE_LENGTH - s.numel())))
                  for s in (sa, sb))
        va_top, vb_top = vha[:kk].T, vhb[:kk].T
        va_bot, vb_bot = vha[-kk:].T, vhb[-kk:].T
        top = va_top.T @ vb_top
        bot = va_bot.T @ vb_bot
        values = {
            "singular_value_overlap": float(pa @ pb / (pa.norm() * pb.norm())),
            "subspace_overlap": float((ua[:, :kk].T @ ub[:, :kk]).norm() / kk),
            "right_subspace_overlap_top_k": float(top.norm() / math.sqrt(kk)),
            "right_subspace_overlap_bottom_k": float(bot.norm() / math.sqrt(kk)),
            "interaction_matrix_overlap_top_k": float((torch.linalg.svdvals(top) ** 2).mean()),
            "interaction_matrix_overlap_bottom_k": float((torch.linalg.svdvals(bot) ** 2).mean()),
        }
        for key, v in values.items():
            totals[key] = totals.get(key, 0.0) + v
    return {key: v / len(layers) for key, v in totals.items()}


def kinship_metrics(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    """Model kinship (Pearson correlation of task vectors) and sign agreement where both move."""
    ac, bc = a - a.mean(), b - b.mean()
    both = (a != 0) & (b != 0)
    return {"kinship_pearson": float(ac @ bc / (ac.norm() * bc.norm())),
            "sign_agreement": float((a[both].sign() == b[both].sign()).double().mean()) if both.any() else 0.0}


def expert_magnitudes(tv: TaskVector, svds) -> dict[str, float]:
    """Per expert: ‖τ‖ and the mean top singular value of the matrices it changed (Will-it-Merge's weak
    signals); 0 for an expert that changed no matrix."""
    top = [float(s[0]) for _, s, _ in svds.values()]
    return {"norm": float(flat(tv).norm()), "top_singular_value": sum(top) / len(top) if top else 0.0}
