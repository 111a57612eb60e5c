"""Grid jobs per minute: the local executor (1 and N processes) against Ray with N actors, same jobs, empty caches.

Usage: python benchmarks/ray_throughput.py [--suite tiny] [--method weight_avg] [--limit N] [--workers 2]
Each arm computes the denominators and every pair of the suite under one method (no partner groups)
into a fresh job store, start-up included (Ray's start and its actors' too); the records must agree.
Overhead per job is the wall clock the workers had (wall × workers) less the seconds the jobs
themselves report (merge + evaluation), divided by the jobs: start-up, scheduling and idle time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from benchmark.evaluation import EvalSettings
from benchmark.groundtruth.grid import run_grid
from benchmark.groundtruth.ray_executor import RayOptions
from benchmark.merging import get_method
from benchmark.store import JobStore
from benchmark.suite import load_suite


def arm(suite, method, settings, workers: int, ray: RayOptions | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="ray-throughput-") as scratch:
        store = JobStore(Path(scratch))
        started = time.perf_counter()
        run_grid(suite, [method], settings, store, show_progress=False, jobs=workers, ray=ray)
        wall = time.perf_counter() - started
        records = [json.loads(p.read_text()) for p in Path(scratch).glob("*/*.json")]
    busy = sum(r["seconds"] for r in records)
    scores = sorted(json.dumps([r["kind"], r["experts"], r["scores"]], sort_keys=True) for r in records)
    return {"jobs": len(records), "wall_s": round(wall, 1), "jobs_per_min": round(60 * len(records) / wall, 1),
            "overhead_s_per_job": round((wall * workers - busy) / len(records), 3), "_scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="tiny")
    parser.add_argument("--method", default="weight_avg")
    parser.add_argument("--backend", default="hf")
    parser.add_argument("--limit", type=int, default=None,
                        help="test examples per task (default: all; 20 makes jobs so short that start-up dominates)")
    parser.add_argument("--workers", type=int, default=2, help="processes of the local arm, actors of the Ray arm")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    suite, method = load_suite(args.suite), get_method(args.method)
    settings = EvalSettings(backend=args.backend, limit=args.limit)
    arms = {"local, 1 process": arm(suite, method, settings, 1, None),
            f"local, {args.workers} processes": arm(suite, method, settings, args.workers, None),
            f"ray, {args.workers} actors": arm(suite, method, settings, args.workers,
                                               RayOptions(actors=args.workers))}
    reference = arms["local, 1 process"].pop("_scores")
    for name, result in arms.items():
        assert result.pop("_scores", reference) == reference, f"{name}: the records differ from the local run's"
    base, local_n = arms["local, 1 process"], arms[f"local, {args.workers} processes"]
    ray_n = arms[f"ray, {args.workers} actors"]
    report = {"suite": suite.name, "method": method.spec()["method"], "backend": args.backend, "limit": args.limit,
              "cpus": os.cpu_count(), "arms": arms,
              "ratios": {"ray / local 1 process": round(ray_n["jobs_per_min"] / base["jobs_per_min"], 2),
                         f"ray / local {args.workers} processes": round(ray_n["jobs_per_min"] / local_n["jobs_per_min"], 2)}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
