"""Merge straight into a safetensors file, one tensor at a time, for models too large to hold merged.

`merge()` returns the whole merged state dict: fine for 135M parameters, 29 GB for a 7B model in
fp32. Every output tensor has its base tensor's name, dtype and shape, so the safetensors header
(which lists each tensor's byte offsets) is known from the base's header before any arithmetic:
write it, then append each tensor as `merge()` produces it. Inputs are read per tensor from
memory-mapped files and a LoRA expert computes only the current tensor's B·A, so memory holds one
tensor's base, expert weights and output at a time (`benchmarks/merge_memory.py` measures it).
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import torch
from safetensors import safe_open

from .merge import merge, suite_context
from .registry import FolderMerger, MergeContext, MergeMethod

# The torch dtype of each safetensors dtype name.
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


class TensorFile(Mapping):
    """One model's weights in a safetensors file, read on access; shapes and dtypes from its header.

    With `lora_dir` (a peft adapter folder) the file is the base and each read adds that tensor's
    delta B·A·(alpha/r), computed as `Suite.expert_tensors` computes it, so results are bit-identical.
    """

    def __init__(self, path: Path, lora_dir: Path | None = None):
        self.path = Path(path)
        self._file = safe_open(str(self.path), "pt")
        self._keys = dict.fromkeys(self._file.keys())
        self._lora: dict[str, tuple[str, str]] = {}
        if lora_dir is not None:
            config = json.loads((Path(lora_dir) / "adapter_config.json").read_text())
            self._scale = config["lora_alpha"] / config["r"]
            self._adapter = safe_open(str(Path(lora_dir) / "adapter_model.safetensors"), "pt")
            for key in self._adapter.keys():
                if ".lora_A." in key:
                    target = key.removeprefix("base_model.model.").replace(".lora_A.weight", ".weight")
                    self._lora[target] = (key, key.replace(".lora_A.", ".lora_B."))
            self.path = Path(lora_dir)
            for target, (a, b) in self._lora.items():
                delta_shape = (self._adapter.get_slice(b).get_shape()[0], self._adapter.get_slice(a).get_shape()[1])
                if target not in self._keys or delta_shape != self.shape(target):
                    raise ValueError(f"{lora_dir}: adapter tensor {target} has shape {delta_shape}, the base "
                                     f"{path} has {self.shape(target) if target in self._keys else 'no such tensor'}; "
                                     f"the adapter was trained on another base model")

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._file.get_slice(name).get_shape())

    def dtype(self, name: str) -> str:
        """The safetensors dtype name (F32, BF16, ...), as stored."""
        return self._file.get_slice(name).get_dtype()

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self._keys:
            raise KeyError(name)
        tensor = self._file.get_tensor(name)
        if name not in self._lora:
            return tensor
        a, b = (self._adapter.get_tensor(k) for k in self._lora[name])
        return tensor + (b.float() @ a.float()) * self._scale

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


def check_shapes(base: TensorFile, experts: list[TensorFile]) -> None:
    """Refuse before writing anything when an expert lacks a base tensor or stores it in another shape."""
    for expert in experts:
        for name in base:
            if name not in expert:
                raise ValueError(f"{expert.path}: no tensor {name}, which the base {base.path} has; "
                                 f"experts must have every tensor of the base")
            if expert.shape(name) != base.shape(name):
                raise ValueError(f"{expert.path}: tensor {name} has shape {expert.shape(name)}, the base "
                                 f"{base.path} has {base.shape(name)}; experts must share the base's architecture "
                                 f"(a resized vocabulary needs a rule in the suite's manifest)")


def write_tensors(out: Path, layout: dict[str, tuple[str, tuple[int, ...]]], tensors: Iterable[torch.Tensor]) -> Path:
    """Write the safetensors file `out` from tensors that arrive one at a time, in `layout`'s order
    (name -> safetensors dtype name and shape). The file appears only when complete (written beside
    it, then renamed)."""
    header, offset = {}, 0
    for name, (dtype, shape) in layout.items():
        size = math.prod(shape) * DTYPES[dtype].itemsize
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    header["__metadata__"] = {"format": "pt"}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # safetensors aligns the data to 8 bytes
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    try:
        with open(partial, "wb") as fh:
            fh.write(struct.pack("<Q", len(encoded)) + encoded)
            for (name, (dtype, shape)), tensor in zip(layout.items(), tensors, strict=True):
                if tensor.dtype != DTYPES[dtype] or tuple(tensor.shape) != shape:
                    raise ValueError(f"{out}: tensor {name} arrived as {tensor.dtype} {tuple(tensor.shape)}, "
                                     f"the header says {dtype} {shape}")
                fh.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return out


def stream_merge(method: MergeMethod, base: TensorFile, experts: list[TensorFile], context: MergeContext,
                 out: Path) -> Path:
    """Write θ0 + method(τ1..τT) to the safetensors file `out`, tensor by tensor, each in the base's dtype.
    Each tensor goes through `merge()` alone, so the file holds exactly what `merge()` returns."""
    check_shapes(base, experts)
    layout = {name: (base.dtype(name), base.shape(name)) for name in base}
    merged = (merge(method, {name: base[name]}, [{name: e[name]} for e in experts], context)[name] for name in base)
    return write_tensors(out, layout, merged)


def suite_tensor_files(suite, expert_ids: list[str]) -> tuple[TensorFile, list[TensorFile]]:
    """The base and the experts of a suite as lazy files (a LoRA expert reads the base plus its adapter)."""
    base_file = suite.base_dir / "model.safetensors"
    experts = []
    for expert_id in expert_ids:
        entry = suite.manifest.expert(expert_id)
        folder = suite.root / entry.path
        experts.append(TensorFile(folder / "model.safetensors") if entry.format == "full"
                       else TensorFile(base_file, lora_dir=folder))
    return TensorFile(base_file), experts


def stream_merge_experts(suite, method: MergeMethod, expert_ids: list[str], out: Path) -> Path:
    """Merge suite experts into the transformers folder `out` (config copied from the base), streaming."""
    if isinstance(method, FolderMerger):
        raise ValueError(f"merge method {method.spec()['method']!r} runs through mergekit, which writes its own "
                         f"output folder tensor by tensor: run its template with `mergekit-yaml`")
    base, experts = suite_tensor_files(suite, expert_ids)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "generation_config.json"):
        if (suite.base_dir / name).is_file():
            (out / name).write_bytes((suite.base_dir / name).read_bytes())
    stream_merge(method, base, experts, suite_context(suite, expert_ids), out / "model.safetensors")
    return out
