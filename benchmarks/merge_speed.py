"""Built-in in-memory merges vs mergekit on the same configurations.

Usage: python benchmarks/merge_speed.py [--pairs N]
Times weight averaging, task arithmetic and TIES on the first N pairs of the tiny suite,
built-in (lazy tensors in memory) against mergekit's Python API (model folders on disk),
and checks that both give the same tensors.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmark.merging import get_method, load_mergekit_method, merge_experts
from benchmark.suite import load_suite

CONFIGS = Path(__file__).parents[1] / "benchmark" / "merging" / "mergekit_configs"
PAIRS = {"weight_avg": "linear", "task_arithmetic": "task_arithmetic", "ties": "ties"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5)
    args = parser.parse_args()
    suite = load_suite("tiny")
    pairs = suite.manifest.pairs[: args.pairs]
    report = {}
    for ours, theirs in PAIRS.items():
        builtin_s = mergekit_s = 0.0
        max_diff = 0.0
        for p in pairs:
            ids = [p.expert_a, p.expert_b]
            t = time.perf_counter()
            a = merge_experts(suite, get_method(ours), ids)
            builtin_s += time.perf_counter() - t
            t = time.perf_counter()
            b = merge_experts(suite, load_mergekit_method(CONFIGS / f"{theirs}.yaml"), ids)
            mergekit_s += time.perf_counter() - t
            max_diff = max(max_diff, max(float((a[k] - b[k]).abs().max()) for k in a))
        report[ours] = {"builtin_s_per_merge": builtin_s / len(pairs), "mergekit_s_per_merge": mergekit_s / len(pairs),
                        "speedup": mergekit_s / builtin_s, "max_abs_diff": max_diff}
    report["speedup_overall"] = sum(r["mergekit_s_per_merge"] for r in report.values()) / sum(
        r["builtin_s_per_merge"] for r in report.values())
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
