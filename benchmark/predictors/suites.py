"""Suites as the predictor track sees them: pairs (with metrics and, where shipped, weights)
and the ground-truth targets per merge method, kept apart so predictors never see targets.

`tiny` joins the bundled suite, its ground truth and the metric library; the external
`demystifying-vitb16` suite is the published ViT-B-16 results of Demystifying Mergeability
(MIT, bundled with its licence): 190 pairs, five methods, 28 precomputed metrics, no weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from .api import ExpertHandle, Pair, Update
from .metrics import DEMYSTIFYING_METRICS

EXTERNAL_ROOT = Path(__file__).parents[1] / "suite" / "external"
VITB16_METHODS = {"weight_avg": "weight_avg", "task_arithmetic": "arithmetic", "ties": "ties", "dare": "dare",
                  "tsv": "tsv"}
TARGETS = ("na", "raw", "gain")


@dataclass(frozen=True)
class PredictionSuite:
    name: str
    pairs: list[Pair]
    methods: list[str]
    targets: dict[tuple[str, str], np.ndarray]  # (method, target) -> one value per pair, in pair order
    has_weights: bool
    updates: list[Update] = ()
    update_targets: dict[tuple[str, str], np.ndarray] = None  # (method, "s_acc" | "s_na") -> one per update

    @property
    def pair_tasks(self) -> list[tuple[str, str]]:
        return [(p.task_a, p.task_b) for p in self.pairs]

    def target_names(self) -> list[str]:
        return sorted({t for _, t in self.targets}, key=TARGETS.index)


def load_vitb16(root: Path = EXTERNAL_ROOT / "demystifying-vitb16", with_targets: bool = True) -> PredictionSuite:
    metrics = json.loads((root / "vitb16_pairwise_metrics_N20.json").read_text())
    pair_ids = list(metrics["metrics"]["task_vector_cosine_similarity"]["pairs"])
    pairs = []
    for pid in pair_ids:
        a, b = pid.split("__")
        values = {m: metrics["metrics"][m]["pairs"][pid] for m in DEMYSTIFYING_METRICS}
        # Three values are null in the published file; they reach predictors as NaN.
        pairs.append(Pair(pid, a, b, a, b, {m: float("nan") if v is None else float(v) for m, v in values.items()}))
    targets = {}
    for method, stem in VITB16_METHODS.items() if with_targets else ():
        results = json.loads((root / f"vitb16_{stem}_pairwise_N20.json").read_text())
        # Two TSV merges failed in the published run (CUDA out of memory): their targets are NaN
        # and the harness leaves those pairs out for that method.
        for target, key in (("na", "normalized_acc/test/avg"), ("raw", "acc/test/avg")):
            targets[(method, target)] = np.array([results[p]["avg"][0][key] if "avg" in results[p] else np.nan
                                                  for p in pair_ids])
    return PredictionSuite("demystifying-vitb16", pairs, list(VITB16_METHODS), targets, has_weights=False)


def load_tiny(show_progress: bool = True, with_targets: bool = True) -> PredictionSuite:
    from ..groundtruth import load_ground_truth
    from ..suite import load_suite
    from .metrics import MetricLibrary
    from .metrics.model import calibration_set

    suite = load_suite("tiny")
    library = MetricLibrary(suite)
    calibration = tuple(calibration_set(suite))
    pairs = []
    with Progress(disable=not show_progress) as bar:
        job = bar.add_task("pair metrics (cached after the first run)", total=len(suite.manifest.pairs))
        for p in suite.manifest.pairs:
            ea, eb = suite.manifest.expert(p.expert_a), suite.manifest.expert(p.expert_b)
            pairs.append(Pair(p.id, ea.id, eb.id, ea.task, eb.task, library.pair_metrics(ea.id, eb.id),
                              (ExpertHandle(ea.id, ea.task, suite), ExpertHandle(eb.id, eb.task, suite)),
                              suite, calibration))
            bar.advance(job)
    updates = [Update(e.id, e.task, library.update_metrics(e.id), ExpertHandle(e.id, e.task, suite))
               for e in suite.manifest.experts]
    targets, update_targets, methods = {}, {}, []
    if with_targets:
        truth = load_ground_truth("tiny", "pairs")
        methods = sorted(truth.method.unique())
        for method, group in truth.groupby("method", sort=True):
            group = group.set_index("pair_id").loc[[p.id for p in pairs]]
            for t in TARGETS:
                targets[(method, t)] = group[t].to_numpy(dtype=float)
        for method, group in load_ground_truth("tiny", "updates").groupby("method", sort=True):
            group = group.set_index("expert").loc[[u.id for u in updates]]
            for t in ("s_acc", "s_na"):
                update_targets[(method, t)] = group[t].to_numpy(dtype=float)
    return PredictionSuite("tiny", pairs, methods, targets, has_weights=True,
                           updates=updates, update_targets=update_targets)


LOADERS = {"tiny": load_tiny,
           "demystifying-vitb16": lambda show_progress=True, with_targets=True: load_vitb16(with_targets=with_targets)}


def load_prediction_suite(name: str, show_progress: bool = True, with_targets: bool = True) -> PredictionSuite:
    """A suite for the predictor track; `with_targets=False` is what sandboxed submissions get."""
    if name not in LOADERS:
        raise KeyError(f"no predictor-track suite {name!r}; suites: {', '.join(LOADERS)}")
    return LOADERS[name](show_progress=show_progress, with_targets=with_targets)
