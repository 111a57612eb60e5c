"""Ground truth: every pair of a suite merged by every method, scored with lm-eval."""

from __future__ import annotations

from pathlib import Path

from ..evaluation import EvalSettings
from ..merging import METHODS, get_method
from ..store import JobStore, default_cache, pack_keys
from ..suite import Suite
from .dataset import (TABLES, ground_truth_dir, ground_truth_settings, load_ground_truth,
                      resolve_ground_truth, signal_table, write_dataset)
from .grid import grid_keys, run_grid
from .jobs import Method, partner_groups
from .ray_executor import RayOptions
from .targets import group_table, model_table, pair_table, task_table, update_table

DEFAULT_METHODS = tuple(sorted(METHODS))
# The grid's finished jobs, kept beside the tables so that a rerun (or a fresh clone) resumes.
JOB_PACK = "jobs.jsonl"


def compute_ground_truth(suite: Suite, methods: list[Method] | None = None, settings: EvalSettings | None = None,
                         cache: Path | None = None, out: Path | None = None,
                         show_progress: bool = True, jobs: int = 1, pack: Path | None = None,
                         ray: RayOptions | None = None) -> dict:
    """Run (or resume) the grid and return its tables; with `out`, also write the dataset there.

    With `pack`, finished jobs are read from that file too and written back to it every few
    minutes and at the end: committed, it lets a fresh clone resume a long grid where it stopped.
    With `ray`, the jobs run on a Ray cluster (`ray_executor`) instead of `jobs` local processes."""
    methods = methods if methods is not None else [get_method(m) for m in DEFAULT_METHODS]
    settings = settings or EvalSettings()
    store = JobStore(Path(cache or default_cache()) / "jobs", packs=(pack,) if pack else ())
    groups = partner_groups(suite)
    keys = grid_keys(suite, methods, settings, groups) if pack else []
    checkpoint = (lambda: pack_keys(pack, store, keys)) if pack else (lambda: None)
    try:
        denominators, outcomes = run_grid(suite, methods, settings, store, show_progress, jobs, groups, checkpoint, ray)
    finally:
        checkpoint()  # an interrupted run still leaves everything it finished in the pack
    pairs, groups = pair_table(suite, outcomes, denominators), group_table(suite, outcomes, denominators)
    tables = {"pairs": pairs, "tasks": task_table(suite, outcomes, denominators),
              "models": model_table(denominators), "groups": groups, "updates": update_table(suite, pairs, groups)}
    if out is not None:
        write_dataset(Path(out), suite, settings, tables)
    return tables


__all__ = ["DEFAULT_METHODS", "JOB_PACK", "TABLES", "compute_ground_truth", "ground_truth_dir",
           "ground_truth_settings", "load_ground_truth", "resolve_ground_truth", "signal_table"]
