"""The built-in merge methods, with the settings of the two papers as defaults.

Formulas follow ../shared/PAPERS.md (Demystifying Mergeability's table; Will-it-Merge's
weighted merge). Each returns the merged delta for one tensor; the driver adds the base.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..linalg import one_thread, polar_factor, ranked_svd
from ..seeding import text_seed
from .registry import MergeContext, MergeMethod, register


@register
@dataclass(frozen=True)
class WeightAveraging(MergeMethod):
    name = "weight_avg"
    description = "θ0 + mean of the task vectors"

    def merge_tensor(self, name, base, deltas, context):
        return torch.stack(deltas).mean(0)


@register
@dataclass(frozen=True)
class TaskArithmetic(MergeMethod):
    name = "task_arithmetic"
    description = "θ0 + α Σ τ"
    alpha: float = 0.3

    def merge_tensor(self, name, base, deltas, context):
        return self.alpha * torch.stack(deltas).sum(0)


def trim_to_top_k(delta: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the `density` share of entries with the largest magnitude (at least one)."""
    k = max(1, int(density * delta.numel()))
    flat = delta.reshape(-1)
    keep = torch.zeros_like(flat)
    keep[torch.topk(flat.abs(), k, sorted=False).indices] = 1
    return (flat * keep).reshape_as(delta)


def disjoint_mean(deltas: torch.Tensor) -> torch.Tensor:
    """Elect a sign per entry by the sum, then average only the entries that agree with it."""
    elected = torch.where(deltas.sum(0) >= 0, 1.0, -1.0)
    agree = (deltas.sign() == elected).to(deltas.dtype)
    count = agree.sum(0)
    return (deltas * agree).sum(0) / torch.where(count == 0, torch.ones_like(count), count)


@register
@dataclass(frozen=True)
class Ties(MergeMethod):
    name = "ties"
    description = "trim each τ to its top-k entries per tensor, elect signs, mean of agreeing entries, × λ"
    density: float = 0.2
    lam: float = 0.3

    def merge_tensor(self, name, base, deltas, context):
        return self.lam * disjoint_mean(torch.stack([trim_to_top_k(d, self.density) for d in deltas]))


def _tensor_seed(seed: int, name: str, index: int) -> int:
    """A seed per (run seed, tensor, expert) so masks do not depend on traversal order."""
    return text_seed(seed, name, index)


@register
@dataclass(frozen=True)
class Dare(MergeMethod):
    name = "dare"
    description = "drop each entry with probability p, rescale by 1/(1-p), mean over experts, × λ"
    p: float = 0.9
    lam: float = 1.0
    seed: int = 0

    def merge_tensor(self, name, base, deltas, context):
        kept = []
        for i, d in enumerate(deltas):
            gen = torch.Generator().manual_seed(_tensor_seed(self.seed, name, i))
            mask = torch.rand(d.shape, generator=gen) >= self.p
            kept.append(d * mask / (1 - self.p))
        return self.lam * torch.stack(kept).mean(0)


@register
@dataclass(frozen=True)
class TaskSingularVectors(MergeMethod):
    """TSV: each τ keeps its top 1/T singular triplets, but never more than its numerical rank
    (a LoRA delta stored at rank 24 has 24); U and V of all kept triplets are orthogonalised."""

    name = "tsv"
    description = ("per matrix: top 1/T singular triplets of each τ (at most its numerical rank), orthogonalised "
                   "U and V; other tensors: mean")
    alpha: float = 1.0

    def merge_tensor(self, name, base, deltas, context):
        if base.dim() != 2:
            return torch.stack(deltas).mean(0)
        keep = max(1, math.floor(min(base.shape) / len(deltas)))
        us, ss, vs = [], [], []
        for d in deltas:
            u, s, vh = ranked_svd(d)
            us.append(u[:, :keep])
            ss.append(s[:keep])
            vs.append(vh[:keep].T)
        s_all = torch.cat(ss)
        if s_all.numel() == 0:
            return torch.zeros_like(base)
        with one_thread():  # the products too: bit-identical at any thread count
            u_perp, v_perp = polar_factor(torch.cat(us, 1)), polar_factor(torch.cat(vs, 1))
            return self.alpha * (u_perp * s_all) @ v_perp.T


@register
@dataclass(frozen=True)
class IsoC(MergeMethod):
    """Iso-C: the summed task matrix with a flat spectrum, on its numerical rank r: α · mean(S_r) · U_r V_rᵀ,
    which keeps the nuclear norm of Σ τ (for a full-rank sum this is the published formula)."""

    name = "isoc"
    description = "per matrix: Σ τ = U S Vᵀ on its numerical rank -> α · mean(S) · U Vᵀ; other tensors: mean"
    alpha: float = 1.0

    def merge_tensor(self, name, base, deltas, context):
        total = torch.stack(deltas).sum(0)
        if base.dim() != 2:
            return total / len(deltas)
        u, s, vh = ranked_svd(total)
        if s.numel() == 0:
            return torch.zeros_like(base)
        with one_thread():  # the product too: bit-identical at any thread count
            return self.alpha * s.mean() * (u @ vh)


@register
@dataclass(frozen=True)
class WillItMergeWeighted(MergeMethod):
    """Will-it-Merge's merge: weight each update by how little the base knows its task."""

    name = "wim_weighted"
    description = "θ0 + Σ w τ with w = softmax((1 - base dev accuracy)/t)"
    temperature: float = 0.3
    search_space = {"temperature": (0.1, 0.3, 1.0)}

    def weights(self, context: MergeContext) -> torch.Tensor:
        weakness = torch.tensor([1.0 - a for a in context.base_dev_accuracy], dtype=torch.float64)
        return torch.softmax(weakness / self.temperature, 0)

    def merge_tensor(self, name, base, deltas, context):
        w = self.weights(context).to(deltas[0].dtype)
        return (torch.stack(deltas) * w.view(-1, *[1] * deltas[0].dim())).sum(0)
