"""Ground truth: every pair of a suite merged by every method, scored with lm-eval."""

from __future__ import annotations

from pathlib import Path

from ..evaluation import EvalSettings
from ..merging import METHODS, get_method
from ..store import JobStore, default_cache
from ..suite import Suite
from .dataset import (TABLES, fetch_ground_truth, ground_truth_dir, load_ground_truth, resolve_ground_truth,
                      signal_table, write_dataset)
from .grid import run_grid
from .jobs import Method
from .targets import model_table, pair_table, task_table, update_table

DEFAULT_METHODS = tuple(sorted(METHODS))


def compute_ground_truth(suite: Suite, methods: list[Method] | None = None, settings: EvalSettings | None = None,
                         cache: Path | None = None, out: Path | None = None,
                         show_progress: bool = True, jobs: int = 1) -> dict:
    """Run (or resume) the grid and return its tables; with `out`, also write the dataset there."""
    methods = methods if methods is not None else [get_method(m) for m in DEFAULT_METHODS]
    settings = settings or EvalSettings()
    store = JobStore(Path(cache or default_cache()) / "jobs")
    denominators, outcomes = run_grid(suite, methods, settings, store, show_progress, jobs)
    pairs = pair_table(suite, outcomes, denominators)
    tables = {"pairs": pairs, "tasks": task_table(suite, outcomes, denominators),
              "models": model_table(denominators), "updates": update_table(suite, pairs)}
    if out is not None:
        write_dataset(Path(out), suite, settings, tables)
    return tables


__all__ = ["DEFAULT_METHODS", "TABLES", "compute_ground_truth", "fetch_ground_truth", "ground_truth_dir",
           "load_ground_truth", "resolve_ground_truth", "signal_table"]
