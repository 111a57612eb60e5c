"""A vLLM worker extension that swaps a live engine's weights for a merged model's.

Loaded by name in vLLM's worker process (`LLM(worker_extension_cls=...)`) and called with
`collective_rpc`. Weights travel as safetensors bytes, because tensors passed through the
RPC arrive as nested lists.
"""

from __future__ import annotations

from safetensors.torch import load


class WeightSwapExtension:
    def swap_weights(self, payload: bytes) -> int:
        tensors = load(payload)
        self.reload_weights(weights_iterator=iter(tensors.items()))
        model = self.model_runner.get_model()
        # With tied embeddings the CPU backend keeps a separately pre-packed copy of the
        # output layer; re-pack it from the freshly loaded embedding.
        lm_head = getattr(model, "lm_head", None)
        if lm_head is not None and hasattr(lm_head, "quant_method"):
            lm_head.quant_method.process_weights_after_loading(lm_head)
        return len(tensors)
