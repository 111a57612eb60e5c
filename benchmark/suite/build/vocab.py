"""Experts whose vocabulary differs from the base's: a rule stated in the suite, never a silent fix.

MergeBench's Llama-3.2-3B experts carry 128,320 embedding rows against the base's 128,256 (added
tokens). A task vector needs equal shapes, so a suite states one rule: `refuse` (the default:
stop and name the tensor and both shapes) or `truncate-to-base` (keep the base's rows; the added
tokens' rows are dropped, which is exact for text the base tokenizer writes, as it never emits
them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from safetensors.torch import save_file

VocabRule = Literal["refuse", "truncate-to-base"]
# tensors with one row per token: the only ones a vocabulary difference may change
VOCAB_TENSORS = ("embed_tokens.weight", "lm_head.weight")


class VocabMismatch(ValueError):
    """An expert tensor whose shape differs from the base's in a way the suite's rule does not allow."""


def align_tensor(name: str, tensor: torch.Tensor, base_shape: tuple[int, ...], rule: VocabRule,
                 where: str) -> torch.Tensor:
    """The tensor with the base's shape under `rule`, or VocabMismatch naming it and both shapes."""
    shape = tuple(tensor.shape)
    if shape == base_shape:
        return tensor
    extra_rows = (name.endswith(VOCAB_TENSORS) and len(shape) == 2 and shape[1:] == base_shape[1:]
                  and shape[0] > base_shape[0])
    if extra_rows and rule == "truncate-to-base":
        return tensor[:base_shape[0]].contiguous()
    fix = ("set `vocab: truncate-to-base` in the suite to keep the base's rows" if extra_rows and rule == "refuse"
           else "this is not a vocabulary difference the rules cover; the expert does not fit this base")
    raise VocabMismatch(f"{where}: tensor {name} has shape {list(shape)}, the base's has {list(base_shape)} "
                        f"(vocab rule {rule!r}); {fix}")


def align_expert_file(expert_file: Path, base_file: Path, out_file: Path, rule: VocabRule) -> dict[str, list[int]]:
    """Write the expert's tensors with the base's shapes to `out_file`; returns {tensor: [rows before,
    rows after]} for every tensor the rule truncated. Raises before writing anything on a mismatch."""
    aligned, changed = {}, {}
    with safe_open(str(base_file), "pt") as base, safe_open(str(expert_file), "pt") as expert:
        base_names = set(base.keys())
        for name in expert.keys():
            if name not in base_names:
                raise VocabMismatch(f"{expert_file}: tensor {name} is not in the base {base_file}")
            tensor = expert.get_tensor(name)
            aligned[name] = align_tensor(name, tensor, tuple(base.get_slice(name).get_shape()), rule, str(expert_file))
            if aligned[name].shape != tensor.shape:
                changed[name] = [tensor.shape[0], aligned[name].shape[0]]
    save_file(aligned, str(out_file), metadata={"format": "pt"})
    return changed
