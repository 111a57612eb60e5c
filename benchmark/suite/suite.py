"""Load a built suite: the manifest plus typed access to its tokenizer, weights and data.

Suites are found by name or path through `benchmark.suite.registry` (bundled ones live in the
package, like scikit-learn's `load_*`). LoRA experts are materialised as base + B·A·(alpha/r)
on demand, so every consumer sees one kind of expert: a full state dict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ..lazy_import import LazyName
from .lm_eval_tasks import render_task_dir
from ..store import default_cache
from .manifest import Manifest, read_manifest, verify
from .pretrained_base import BaseUnavailable, ensure_base

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# transformers on first use: sandboxed predictor workers import this module only to read metrics
AutoTokenizer = LazyName("transformers", "AutoTokenizer")
LlamaConfig = LazyName("transformers", "LlamaConfig")
LlamaForCausalLM = LazyName("transformers", "LlamaForCausalLM")

StateDict = dict[str, torch.Tensor]


class Suite:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.manifest: Manifest = read_manifest(self.root)

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def version(self) -> str:
        return self.manifest.version

    @cached_property
    def sha256(self) -> str:
        """The manifest's hash stands for the whole suite: it lists every file's sha256."""
        return hashlib.sha256((self.root / "manifest.json").read_bytes()).hexdigest()

    def verify(self) -> list[str]:
        """Problems with the suite's files and, for a base kept outside the folder, with the base."""
        problems = verify(self.root, self.manifest)
        if self.manifest.base_source is not None:
            try:
                ensure_base(self.manifest.base_source, default_cache(), verify=True)
            except BaseUnavailable as err:
                problems.append(f"base: {err}")
        return problems

    @cached_property
    def base_dir(self) -> Path:
        """The base model's folder: in the suite, or (for a pinned external base) in the cache."""
        if self.manifest.base_source is None:
            return self.root / self.manifest.base
        return ensure_base(self.manifest.base_source, default_cache())

    def tokenizer(self) -> PreTrainedTokenizerBase:
        return AutoTokenizer.from_pretrained(str(self.root / self.manifest.tokenizer))

    @cached_property
    def config(self) -> LlamaConfig:
        return LlamaConfig.from_pretrained(str(self.base_dir))

    def base_state_dict(self) -> StateDict:
        return load_file(str(self.base_dir / "model.safetensors"))

    def expert_state_dict(self, expert_id: str) -> StateDict:
        entry = self.manifest.expert(expert_id)
        folder = self.root / entry.path
        if entry.format == "full":
            return load_file(str(folder / "model.safetensors"))
        state = self.base_state_dict()
        for name, delta in lora_deltas(folder).items():
            state[name] = state[name] + delta
        return state

    def base_tensors(self) -> Mapping[str, torch.Tensor]:
        """The base weights as a lazy mapping: each tensor is read from disk when asked for."""
        return LazyTensors(self.base_dir / "model.safetensors")

    def expert_tensors(self, expert_id: str) -> Mapping[str, torch.Tensor]:
        """An expert's full weights as a lazy mapping (LoRA deltas added per tensor)."""
        entry = self.manifest.expert(expert_id)
        folder = self.root / entry.path
        if entry.format == "full":
            return LazyTensors(folder / "model.safetensors")
        return LazyTensors(self.base_dir / "model.safetensors", lora_deltas(folder))

    def expert_folder(self, expert_id: str, scratch: Path) -> Path:
        """A transformers folder with the expert's full weights (LoRA experts are written to `scratch`)."""
        entry = self.manifest.expert(expert_id)
        if entry.format == "full":
            return self.root / entry.path
        out = scratch / expert_id
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_bytes((self.base_dir / "config.json").read_bytes())
        save_file(self.expert_state_dict(expert_id), str(out / "model.safetensors"), metadata={"format": "pt"})
        return out

    def model(self, state: StateDict | None = None) -> LlamaForCausalLM:
        """A transformers model with the base weights, or with `state` when given."""
        model = LlamaForCausalLM(self.config)
        model.load_state_dict(state if state is not None else self.base_state_dict(), strict=False)
        model.tie_weights()
        return model.eval()

    def examples(self, task_id: str, split: str) -> list[tuple[str, str]]:
        path = self.root / self.manifest.task(task_id).splits[split]
        with open(path) as fh:
            return [(row["prompt"], row["answer"]) for row in map(json.loads, fh)]

    def lm_eval_task_dir(self, out: Path) -> Path:
        """Render the suite's lm-eval YAMLs with absolute data paths into `out`."""
        return render_task_dir(self.root, self.name, [(t.id, t.lm_eval_yaml) for t in self.manifest.tasks], out)


class LazyTensors(Mapping):
    """Tensors of one safetensors file read on access, plus optional dense deltas added on read.

    The file stays open (memory-mapped) for the mapping's lifetime: reopening it per tensor
    cost more than the merge arithmetic itself.
    """

    def __init__(self, path: Path, deltas: StateDict | None = None):
        self._file = safe_open(str(path), "pt")
        self._deltas = deltas or {}
        self._keys = dict.fromkeys(self._file.keys())

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._keys:
            raise KeyError(name)
        tensor = self._file.get_tensor(name)
        return tensor + self._deltas[name] if name in self._deltas else tensor

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def lora_deltas(adapter_dir: Path) -> StateDict:
    """Dense weight deltas of a peft LoRA adapter, keyed by the base model's tensor names."""
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    scale = config["lora_alpha"] / config["r"]
    tensors = load_file(str(adapter_dir / "adapter_model.safetensors"))
    deltas = {}
    for key, a in tensors.items():
        if ".lora_A." not in key:
            continue
        b = tensors[key.replace(".lora_A.", ".lora_B.")]
        target = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
        deltas[target] = (b.float() @ a.float()) * scale  # adapters may ship in bf16; weights are fp32
    return deltas


# The code that turns a suite's files into weights: every result computed from weights depends on it.
WEIGHT_LOADING = (Suite.base_state_dict, Suite.expert_state_dict, Suite.base_tensors, Suite.expert_tensors)
