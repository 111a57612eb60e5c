"""A vLLM worker extension that swaps a live engine's weights for a merged model's.

Loaded by name in vLLM's worker process (`LLM(worker_extension_cls=...)`) and called with
`collective_rpc`. Weights travel as a safetensors file in shared memory, named in the call:
tensors passed through the RPC arrive as nested lists, and bytes passed through it cost
seconds per swap for a 135M-parameter model.
"""

from __future__ import annotations

from safetensors import safe_open
from safetensors.torch import load_file


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
