"""The base's accuracy on every task of a suite, written into its manifest: merges read it (Will-it-Merge's
weighting uses the dev split), so a suite made without a build (`suite import`) measures it here, with the
harness's own engine."""

from __future__ import annotations

from pathlib import Path

from ..suite.manifest import Manifest, write_manifest
from ..suite.suite import Suite
from .cuda import open_engine
from .settings import EvalSettings


def measure_base_accuracy(root: Path, settings: EvalSettings | None = None) -> Manifest:
    """Score the suite's base on every task's test and dev split and write the accuracies into its manifest."""
    suite = Suite(root)
    tasks = [t.id for t in suite.manifest.tasks]
    engine = open_engine(suite, settings or EvalSettings())
    try:
        scores = {split: engine.evaluate(tasks, suite.base_state_dict(), split=split) for split in ("test", "dev")}
    finally:
        engine.close()
    measured = [t.model_copy(update={"base_accuracy": {split: scores[split][t.id].accuracy for split in scores}})
                for t in suite.manifest.tasks]
    manifest = suite.manifest.model_copy(update={"tasks": measured})
    write_manifest(root, manifest)
    return manifest
