"""The evaluation settings and their key: what a score depends on besides the model and the tasks.

Above both engines, since a key covers the code of the engine the settings choose (`Engine` on CPU,
`CudaEngine` on GPU); the engines themselves never need the settings' class, only its values.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib.metadata import version

import torch

from ..provenance import code_fingerprint, library_versions
from ..suite import Suite
from . import vllm_compat
from .cuda import CUDA_EVALUATION_CODE
from .engine import DEFAULT_BACKEND, DEVICES, Backend, Device, Engine
from .worker_extension import WeightSwapExtension

# Settings added for GPUs, with their CPU values: left out of the fingerprint at those values,
# so every result computed on CPU before they existed keeps its key.
GPU_SETTINGS = {"device": "cpu", "tensor_parallel_size": 1}


@dataclass(frozen=True)
class EvalSettings:
    """Everything about an evaluation that can change a score; recorded with every result."""

    backend: Backend = DEFAULT_BACKEND
    batch_size: int = 512
    limit: int | None = None
    dev_limit: int | None = 100
    seed: int = 1234
    # torch.compile buys nothing measurable for a 1M-parameter model on CPU and costs ~15 s per start.
    vllm_eager: bool = True
    # A GPU's kernels round differently from a CPU's, and so does a model split over GPUs: both are
    # part of a result's key. `benchmark.evaluation.cuda.placed` chooses them for a machine.
    device: Device = "cpu"
    tensor_parallel_size: int = 1

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"evaluation setting `device` is {self.device!r}; choose one of {DEVICES}")
        if self.tensor_parallel_size != 1 and (self.device, self.backend) != ("cuda", "vllm"):
            raise ValueError(f"evaluation setting `tensor_parallel_size` is {self.tensor_parallel_size}, which only "
                             f"the vllm backend on cuda supports; set it to 1 here")

    def fingerprint(self) -> dict:
        """The settings, the evaluation code (engine, task YAMLs, weight swap) and the libraries that score."""
        libraries = {"lm_eval": version("lm-eval"), "torch": torch.__version__,
                     "transformers": version("transformers")} | library_versions("safetensors")
        if self.backend == "vllm":
            libraries["vllm"] = vllm_compat.vllm_version()
        if self.device == "cpu":
            code = code_fingerprint(Engine, Suite.lm_eval_task_dir, WeightSwapExtension)
        else:
            code = code_fingerprint(*CUDA_EVALUATION_CODE)
        settings = {k: v for k, v in asdict(self).items() if k not in GPU_SETTINGS or v != GPU_SETTINGS[k]}
        return settings | {"libraries": libraries, "code": code}
