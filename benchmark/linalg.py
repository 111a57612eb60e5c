"""SVDs defined on the numerical rank, so results never depend on the basis LAPACK picks.

The singular vectors of (numerically) zero singular values are arbitrary: LAPACK returns a
different basis for them with a different thread count. Anything built on an SVD keeps only
the triplets whose singular value exceeds `RANK_RTOL` × the largest one. The tolerance sits
between fp32 round-off in a task vector (measured on the tiny suite's LoRA deltas: the zero
singular values are at most 2.4e-7 of the largest) and the smallest real singular value of a
full fine-tune there (9e-5 of the largest).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

RANK_RTOL = 1e-5


def numerical_rank(singular_values: torch.Tensor, rtol: float = RANK_RTOL) -> int:
    """How many singular values (sorted, descending) exceed `rtol` × the largest; 0 for a zero matrix."""
    if singular_values.numel() == 0 or not singular_values[0] > 0:
        return 0
    return int((singular_values > rtol * singular_values[0]).sum())


@contextmanager
def one_thread():
    """LAPACK's SVD (and a GEMM after it) differs in the last bits between thread counts (2e-6 in a
    TSV merge of tiny's full fine-tune), enough to flip a greedy answer: the grid's workers, its main
    process and the sandbox ran it at 1, 2 and 1 threads. One thread everywhere makes it bit-identical."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def ranked_svd(matrix: torch.Tensor, rtol: float = RANK_RTOL) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The thin SVD cut to the numerical rank r: U (m×r), S (r), Vᵀ (r×n).

    A zero matrix (rank 0) skips LAPACK: a LoRA expert leaves most matrices untouched, and their
    SVDs (the 49152×576 embedding's above all) were most of a TSV or Iso-C merge's time on smol."""
    if not matrix.any():
        m, n = matrix.shape
        return matrix.new_zeros(m, 0), matrix.new_zeros(0), matrix.new_zeros(0, n)
    with one_thread():
        u, s, vh = torch.linalg.svd(matrix, full_matrices=False)
    r = numerical_rank(s, rtol)
    return u[:, :r], s[:r], vh[:r]


def polar_factor(matrix: torch.Tensor) -> torch.Tensor:
    """U Vᵀ on the numerical rank: the nearest matrix with orthonormal columns when `matrix` has
    full column rank, and the unique partial isometry of its polar decomposition when it does not."""
    u, _, vh = ranked_svd(matrix)
    return u @ vh
