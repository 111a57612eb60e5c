"""Drive a merge tensor by tensor, in memory, from lazy tensor sources."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Mapping

import torch
from safetensors.torch import save_file

from ..provenance import code_fingerprint, library_versions
from ..suite.suite import WEIGHT_LOADING, Suite
from .registry import MergeContext, MergeMethod

StateDict = dict[str, torch.Tensor]


def merge(method: MergeMethod, base: Mapping[str, torch.Tensor], experts: list[Mapping[str, torch.Tensor]],
          context: MergeContext) -> StateDict:
    """θ0 + method(τ1..τT), one tensor at a time; `experts` may be lazy mappings."""
    if len(experts) < 2:
        raise ValueError(f"a merge needs at least 2 experts, got {len(experts)}")
    if len(context.expert_ids) != len(experts):
        raise ValueError(f"context names {len(context.expert_ids)} experts but {len(experts)} were given")
    merged = {}
    for name in base.keys():
        stored = base[name]
        base_tensor = stored.to(torch.float32)
        deltas = [expert[name].to(torch.float32) - base_tensor for expert in experts]
        delta = method.merge_tensor(name, base_tensor, deltas, context)
        if tuple(delta.shape) != tuple(base_tensor.shape):
            raise ValueError(f"merge method {method.name!r} returned shape {tuple(delta.shape)} for tensor {name}; "
                             f"merge_tensor must return the base's shape {tuple(base_tensor.shape)}")
        merged[name] = (base_tensor + delta).to(stored.dtype)
    return merged


def save_merged(state: StateDict, config_dir: Path, out: Path) -> Path:
    """Write a merged model as a transformers folder (config copied from `config_dir`)."""
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json"):
        if (config_dir / name).is_file():
            (out / name).write_bytes((config_dir / name).read_bytes())
    save_file({k: v.contiguous() for k, v in state.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


def suite_context(suite, expert_ids: list[str]) -> MergeContext:
    """What a method may know of a suite's experts: ids and the base's dev accuracy on their tasks."""
    m = suite.manifest
    return MergeContext(expert_ids=tuple(expert_ids),
                        base_dev_accuracy=tuple(m.task(m.expert(e).task).base_accuracy["dev"] for e in expert_ids))


def merge_experts(suite, method, expert_ids: list[str]) -> StateDict:
    """Merge suite experts in memory, tensor by tensor, or through model folders for methods that
    need them (a mergekit template has `merge_folders`)."""
    # This function's code is part of every committed evaluation record's key, so it keeps asking
    # `hasattr` until the issue "The methods practitioners use, scored in one forward pass", which
    # changes every key anyway: the capability check (`isinstance(method, FolderMerger)`) moves here then.
    if hasattr(method, "merge_folders"):
        with tempfile.TemporaryDirectory(prefix="willitmerge-experts-") as scratch:
            folders = [suite.expert_folder(e, Path(scratch)) for e in expert_ids]
            return method.merge_folders(suite.base_dir, folders)
    return merge(method, suite.base_tensors(), [suite.expert_tensors(e) for e in expert_ids],
                 suite_context(suite, expert_ids))


MERGE_DRIVER = (merge, merge_experts, suite_context, Suite.expert_folder, *WEIGHT_LOADING)


def merge_provenance(method) -> dict:
    """What a merge's weights depend on besides the suite and the parameters: the method's code,
    the driver's, and the libraries it runs on."""
    return {"code": code_fingerprint(*method.code_roots(), *MERGE_DRIVER),
            "libraries": library_versions("torch", "safetensors", *method.libraries)}
