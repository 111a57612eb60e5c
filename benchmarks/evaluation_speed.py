"""Merged models evaluated per minute: one reused engine vs a fresh lm-eval run per model.

Usage: python benchmarks/evaluation_speed.py [--models N] [--backends vllm hf] [--limit N]
Both arms evaluate the same merged models (weight averaging of the first N pairs of the
tiny suite) on their two tasks through lm-eval; the fresh arm writes each merge to a folder
and starts a new lm-eval model on it, as merging benchmarks usually do.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from benchmark.evaluation import Engine, EvalSettings
from benchmark.merging import get_method, merge_experts, save_merged
from benchmark.suite import load_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--backends", nargs="+", default=["vllm", "hf"])
    parser.add_argument("--limit", type=int, default=None, help="test examples per task (default: all)")
    args = parser.parse_args()
    suite = load_suite("tiny")
    pairs = suite.manifest.pairs[: args.models]
    merges = []
    for p in pairs:
        tasks = [suite.manifest.expert(e).task for e in (p.expert_a, p.expert_b)]
        merges.append((tasks, merge_experts(suite, get_method("weight_avg"), [p.expert_a, p.expert_b])))
    report = {"models": len(merges), "limit": args.limit}
    for backend in args.backends:
        settings = EvalSettings(backend=backend, limit=args.limit)
        started = time.perf_counter()
        with Engine(suite, settings) as engine:
            reused = [engine.evaluate(tasks, state) for tasks, state in merges]
        reuse_s = time.perf_counter() - started
        started = time.perf_counter()
        fresh = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (tasks, state) in enumerate(merges):
                folder = save_merged(state, suite.root / suite.manifest.base, Path(tmp) / str(i))
                with Engine(suite, settings, model_dir=folder) as engine:
                    fresh.append(engine.evaluate(tasks))
        fresh_s = time.perf_counter() - started
        same = all(a[t].correct == b[t].correct for a, b in zip(reused, fresh) for t in a)
        report[backend] = {"reuse_models_per_min": 60 * len(merges) / reuse_s,
                           "fresh_models_per_min": 60 * len(merges) / fresh_s,
                           "speedup": fresh_s / reuse_s, "identical_per_example": same,
                           "reuse_seconds": reuse_s, "fresh_seconds": fresh_s}
        print(json.dumps({backend: report[backend]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
