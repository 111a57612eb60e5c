"""Merge methods registered by name, each with typed parameters.

A method merges one tensor at a time: it sees the base tensor and the experts' deltas
(task vectors) for that tensor and returns the merged delta. The driver in `merge.py`
walks the tensors, so no method ever holds more than one tensor of each expert.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import torch

from ..suite.suite import StateDict


@dataclass(frozen=True)
class MergeContext:
    """What a method may know about the experts besides their weights, in expert order.

    `base_dev_accuracy` is the base model's dev-split accuracy on each expert's task
    (Will-it-Merge's base knowledge); dev only, never test.
    """

    expert_ids: tuple[str, ...]
    base_dev_accuracy: tuple[float, ...]
    seed: int = 0


@dataclass(frozen=True)
class MergeMethod:
    """Base class; subclasses are frozen dataclasses whose fields are the parameters."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Parameters the harness may tune on the dev split: field name -> candidate values.
    search_space: ClassVar[dict[str, tuple[Any, ...]]] = {}
    # Distributions besides torch whose version can change what this method returns.
    libraries: ClassVar[tuple[str, ...]] = ()

    def merge_tensor(self, name: str, base: torch.Tensor, deltas: list[torch.Tensor],
                     context: MergeContext) -> torch.Tensor:
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def spec(self) -> dict[str, Any]:
        """Name and parameters: what a ground-truth row records and hashes."""
        return {"method": self.name, "params": self.params()}

    def candidates(self) -> list["MergeMethod"]:
        """Every point of the dev search space (the method itself if it has none)."""
        return [dataclasses.replace(self, **point) for point in expand_search_space(self.search_space)] or [self]

    def code_roots(self) -> tuple:
        """The code a merge with this method runs (see `benchmark.provenance`)."""
        return (type(self),)


@runtime_checkable
class FolderMerger(Protocol):
    """The capability of a method that merges whole model folders (a mergekit template) rather than tensor
    by tensor: the driver writes the experts out as folders for it, and its merge cannot be streamed.
    Ask `isinstance(method, FolderMerger)`."""

    def merge_folders(self, base_dir: Path, expert_dirs: list[Path]) -> StateDict: ...


def expand_search_space(space: dict[str, Any]) -> list[dict[str, Any]]:
    """Every combination of a search space's values, parameters in name order; [] for no space."""
    if not space:
        return []
    names = sorted(space)
    return [dict(zip(names, values)) for values in itertools.product(*(space[n] for n in names))]


METHODS: dict[str, type[MergeMethod]] = {}


def register(cls: type[MergeMethod]) -> type[MergeMethod]:
    if cls.name in METHODS:
        raise ValueError(f"merge method {cls.name!r} is already registered by {METHODS[cls.name].__qualname__}")
    METHODS[cls.name] = cls
    return cls


def get_method(name: str, **params: Any) -> MergeMethod:
    """A registered method with `params` overriding its defaults; errors name the fix."""
    if name not in METHODS:
        raise KeyError(f"no merge method {name!r}; registered: {', '.join(sorted(METHODS))}")
    cls = METHODS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(params) - known
    if unknown:
        raise TypeError(f"merge method {name!r} has no parameter(s) {sorted(unknown)}; it takes {sorted(known)}")
    return cls(**params)

