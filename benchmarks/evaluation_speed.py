"""Merged models evaluated per minute: one reused engine vs a fresh lm-eval run per model.

Usage: python benchmarks/evaluation_speed.py [--models N] [--fresh-models K] [--backends vllm hf]
The reuse arm evaluates N merged models (weight averaging of the first N pairs of the tiny
suite) on their two tasks through one engine, its start included; the fresh arm writes each
of the first K merges to a folder and starts a new lm-eval model on it, as merging
benchmarks usually do. Rates are models per minute; both arms must agree per example.
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
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--fresh-models", type=int, default=3)
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
            start_s = time.perf_counter() - started
            reused = [engine.evaluate(tasks, state) for tasks, state in merges]
        reuse_s = time.perf_counter() - started
        started = time.perf_counter()
        fresh = []
        with tempfile.TemporaryDirectory() as tmp:
            for i, (tasks, state) in enumerate(merges[: args.fresh_models]):
                folder = save_merged(state, suite.base_dir, Path(tmp) / str(i))
                with Engine(suite, settings, model_dir=folder) as engine:
                    fresh.append(engine.evaluate(tasks))
        fresh_s = time.perf_counter() - started
        same = all(a[t].correct == b[t].correct for a, b in zip(reused, fresh) for t in a)
        reuse_rate, fresh_rate = 60 * len(merges) / reuse_s, 60 * len(fresh) / fresh_s
        report[backend] = {"reuse_models_per_min": reuse_rate, "fresh_models_per_min": fresh_rate,
                           "speedup": reuse_rate / fresh_rate, "identical_per_example": same,
                           "engine_start_seconds": start_s, "reuse_seconds": reuse_s, "fresh_seconds": fresh_s,
                           "reuse_models": len(merges), "fresh_models": len(fresh)}
        print(json.dumps({backend: report[backend]}), flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
