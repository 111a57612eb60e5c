"""The predictor API: what a mergeability predictor is given, and what it returns.

A predictor is any object with `predict(pairs, method) -> scores` (one float per pair, higher
meaning "merges better") and, optionally, `fit(pairs, targets, method)`. It never sees the
ground truth of the pairs it predicts: the harness only passes training-fold targets to
`fit`. `works_from` says what it needs: "weights" (lazy handles to the base and experts,
only on suites that ship weights) or "metrics" (precomputed pairwise metrics, available on
every suite).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Protocol

import numpy as np
import torch


@dataclass(frozen=True)
class ExpertHandle:
    """Lazy access to one expert of a weight-bearing suite."""

    id: str
    task: str
    _suite: Any = field(repr=False)

    def tensor(self, name: str) -> torch.Tensor:
        return self._suite.expert_tensors(self.id)[name]

    def task_vector(self) -> dict[str, torch.Tensor]:
        base, expert = self._suite.base_tensors(), self._suite.expert_tensors(self.id)
        return {k: expert[k] - base[k] for k in base}

    def model(self):
        """A transformers model with this expert's weights."""
        return self._suite.model(self._suite.expert_state_dict(self.id))

    def train_sample(self, n: int = 100) -> list[tuple[str, str]]:
        return self._suite.examples(self.task, "train")[:n]

    def dev_sample(self, n: int = 100) -> list[tuple[str, str]]:
        return self._suite.examples(self.task, "dev")[:n]


@dataclass(frozen=True)
class Pair:
    """One pair as a predictor sees it: ids, tasks, metrics, and (on weight suites) handles."""

    id: str
    expert_a: str
    expert_b: str
    task_a: str
    task_b: str
    metrics: Mapping[str, float]
    handles: tuple[ExpertHandle, ExpertHandle] | None = None
    base: Any = field(default=None, repr=False)
    calibration: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Update:
    """One expert as a per-update predictor sees it (Will-it-Merge's S(Δi) target)."""

    id: str
    task: str
    metrics: Mapping[str, float]
    handle: ExpertHandle | None = None


class Predictor(Protocol):
    works_from: ClassVar[Literal["weights", "metrics"]]

    def predict(self, pairs: list[Pair], method: str) -> np.ndarray: ...


def fit_if_supported(predictor, items: list, targets: np.ndarray, method: str, name: str = "fit") -> None:
    fit = getattr(predictor, name, None)
    if callable(fit):
        fit(items, targets, method)
