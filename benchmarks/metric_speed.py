"""Seconds to compute every pairwise metric for one pair, and how that grows with model size.

Usage: python benchmarks/metric_speed.py [--sizes 1 10 100]
First a real tiny-suite pair (cold: both experts' features computed, nothing cached), then
random Llama models of about 1M, 10M and 100M parameters standing in for base and experts
(experts = base + small random deltas), on the tiny suite's tokenizer and task data.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from transformers import LlamaConfig

from benchmark.predictors.metrics import MetricLibrary
from benchmark.suite import Suite, load_suite

SHAPES = {1: (128, 4, 512), 10: (320, 8, 1280), 100: (768, 14, 3072)}  # hidden, layers, ffn -> ~M params


class RandomWeightSuite(Suite):
    """The tiny suite's tokenizer and data with random weights of another size (for timing only)."""

    def __init__(self, size_m: int):
        super().__init__(load_suite("tiny").root)
        hidden, layers, ffn = SHAPES[size_m]
        cfg = LlamaConfig(**{**self.config.to_dict(), "hidden_size": hidden, "num_hidden_layers": layers,
                             "intermediate_size": ffn, "num_attention_heads": hidden // 32,
                             "num_key_value_heads": hidden // 32})
        self.__dict__["config"] = cfg
        torch.manual_seed(size_m)
        from transformers import LlamaForCausalLM

        self._base = {k: v.clone() for k, v in LlamaForCausalLM(cfg).state_dict().items() if k != "lm_head.weight"}
        self._deltas = {e.id: {k: 0.01 * torch.randn_like(v) for k, v in self._base.items()}
                        for e in self.manifest.experts[:2]}

    def base_state_dict(self):
        return dict(self._base)

    def expert_state_dict(self, expert_id):
        return {k: v + self._deltas[expert_id][k] for k, v in self._base.items()}

    def parameters(self) -> int:
        return sum(v.numel() for v in self._base.values())


def time_pair(suite, a: str, b: str) -> float:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        MetricLibrary(suite, cache=Path(cache)).pair_metrics(a, b)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100], choices=sorted(SHAPES))
    args = parser.parse_args()
    tiny = load_suite("tiny")
    pair = tiny.manifest.pairs[0]
    report = {"tiny_pair": pair.id, "tiny_pair_seconds": time_pair(tiny, pair.expert_a, pair.expert_b),
              "threads": torch.get_num_threads(), "random_llama": []}
    print(json.dumps(report), flush=True)
    for size in args.sizes:
        suite = RandomWeightSuite(size)
        a, b = list(suite._deltas)
        row = {"params": suite.parameters(), "seconds": time_pair(suite, a, b)}
        report["random_llama"].append(row)
        print(json.dumps(row), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
