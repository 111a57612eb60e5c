"""A vLLM worker extension that swaps a live engine's weights for a merged model's.

Loaded by name in vLLM's worker process (`LLM(worker_extension_cls=...)`) and called with
`collective_rpc`. Weights travel as a safetensors file in shared memory, named in the call:
tensors passed through the RPC arrive as nested lists, and bytes passed through it cost
seconds per swap for a 135M-parameter model.
"""

from __future__ import annotations

import logging

from safetensors import safe_open
from safetensors.torch import load_file


class ExpectedSwapWarnings(logging.Filter):
    """Drops the two warnings vLLM's reload logs on every swap here, unless vLLM logs at INFO
    (`--verbose`). It warns for each layer that has weights but finds none in the file: the rotary
    embedding (its cos/sin cache is a buffer no checkpoint holds) and, with tied embeddings, the
    output layer (it is the embedding, re-packed below). Two such lines per merge, thousands per
    grid, read as failures; the same warning for any other layer still shows."""

    EXPECTED = frozenset({"RotaryEmbedding", "ParallelLMHead"})

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "%s: Failed to load weights" or logging.getLogger("vllm").isEnabledFor(logging.INFO):
            return True
        return not (isinstance(record.args, tuple) and record.args and record.args[0] in self.EXPECTED)


# vLLM imports this module in its worker process, before the first swap
logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").addFilter(ExpectedSwapWarnings())


class WeightSwapExtension:
    def swap_weights(self, path: str) -> int:
        tensors = load_file(path)
        self.reload_weights(weights_iterator=iter(tensors.items()))
        model = self.model_runner.get_model()
        # With tied embeddings the CPU backend keeps a separately pre-packed copy of the
        # output layer; re-pack it from the freshly loaded embedding.
        lm_head = getattr(model, "lm_head", None)
        if lm_head is not None and hasattr(lm_head, "quant_method"):
            lm_head.quant_method.process_weights_after_loading(lm_head)
        return len(tensors)


class CudaWeightSwapExtension:
    """The swap on GPU workers. `collective_rpc` calls every worker; with tensor parallelism each
    one reads the whole file and vLLM's weight loaders keep that rank's shard. Tensors are read
    one at a time from the memory-mapped file, so host memory never holds a whole 7B model per
    worker. Nothing to re-pack: on GPU a tied output layer is the embedding's own parameter."""

    def swap_weights(self, path: str) -> int:
        with safe_open(path, "pt") as weights:
            names = list(weights.keys())
            self.reload_weights(weights_iterator=((name, weights.get_tensor(name)) for name in names))
        return len(names)
