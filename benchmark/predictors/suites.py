"""Suites as the predictor track sees them: pairs (with metrics and, where shipped, weights)
and the ground-truth targets per merge method, kept apart so predictors never see targets.

Any suite of the registry loads here. A suite with weights joins its ground truth and the
metric library; a result suite (e.g. `demystifying-vitb16`, the published ViT-B-16 results of
Demystifying Mergeability) brings its own precomputed metrics and published targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.progress import Progress

from ..groundtruth import load_ground_truth
from ..store import checkpointing, default_cache, write_pack
from ..suite import ResultSuite, Suite, SuiteKind, SuiteSpec, find_suite
from ..suite.registry import is_bundled
from .api import ExpertHandle, Pair, Update
from .metrics import MetricLibrary
from .metrics.model import calibration_set

TARGETS = ("na", "raw", "gain")
METRIC_PACKS = Path(__file__).parent / "metrics" / "packs"


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


def _from_results(suite: ResultSuite, with_targets: bool, inputs: dict | None) -> tuple[list[Pair], list[str], dict]:
    """Pairs with the published metrics (missing values reach predictors as NaN) and the published targets
    (a failed merge is NaN, and scoring leaves that pair out for that method)."""
    pairs = [Pair(r["pair_id"], r["expert_a"], r["expert_b"], r["task_a"], r["task_b"],
                  inputs["pairs"][r["pair_id"]] if inputs else {m: float(r[m]) for m in suite.spec.metrics})
             for r in suite.pairs().to_dict("records")]
    targets = {}
    if with_targets:
        results = suite.results()
        for method in suite.spec.methods:
            rows = results[results.method == method].set_index("pair_id").loc[[p.id for p in pairs]]
            for target in suite.spec.targets:
                targets[(method, target)] = rows[target].to_numpy(dtype=float)
    return pairs, (list(suite.spec.methods) if with_targets else []), targets


def _from_weights(spec: SuiteSpec, suite: Suite, cache: Path, show_progress: bool, with_targets: bool,
                  inputs: dict | None):
    """Pairs with the metric library's metrics (or those of `inputs`) and handles to the weights; targets
    from the suite's ground truth."""
    if inputs:
        pair_metrics, update_metrics = (lambda p: inputs["pairs"][p.id]), (lambda e: inputs["updates"][e.id])
    else:
        library = _library(spec, suite, cache)
        pair_metrics = lambda p: library.pair_metrics(p.expert_a, p.expert_b)  # noqa: E731
        update_metrics = lambda e: library.update_metrics(e.id)  # noqa: E731
    calibration = tuple(calibration_set(suite))
    pairs = []
    with Progress(disable=not show_progress) as bar:
        job = bar.add_task("pair metrics (cached after the first run)", total=len(suite.manifest.pairs))
        for p in suite.manifest.pairs:
            ea, eb = suite.manifest.expert(p.expert_a), suite.manifest.expert(p.expert_b)
            pairs.append(Pair(p.id, ea.id, eb.id, ea.task, eb.task, pair_metrics(p),
                              (ExpertHandle(ea.id, ea.task, suite), ExpertHandle(eb.id, eb.task, suite)),
                              suite, calibration))
            bar.advance(job)
    updates = [Update(e.id, e.task, update_metrics(e), ExpertHandle(e.id, e.task, suite))
               for e in suite.manifest.experts]
    targets, update_targets, methods = {}, {}, []
    if with_targets:
        truth = load_ground_truth(spec.root, "pairs", cache)
        methods = sorted(truth.method.unique())
        for method, group in truth.groupby("method", sort=True):
            group = group.set_index("pair_id").loc[[p.id for p in pairs]]
            for t in TARGETS:
                targets[(method, t)] = group[t].to_numpy(dtype=float)
        for method, group in load_ground_truth(spec.root, "updates", cache).groupby("method", sort=True):
            group = group.set_index("expert").loc[[u.id for u in updates]]
            for t in ("s_acc", "s_na"):
                update_targets[(method, t)] = group[t].to_numpy(dtype=float)
    return pairs, methods, targets, updates, update_targets


def load_prediction_suite(name_or_path: str | Path, cache: Path | None = None, show_progress: bool = True,
                          with_targets: bool = True, inputs: dict | None = None) -> PredictionSuite:
    """Any registered suite for the predictor track; `with_targets=False` is what sandboxed submissions get.

    `cache` holds the metric library's pair metrics (default: `benchmark.store.default_cache()`).
    `inputs` (from `predictor_inputs`) supplies every metric instead of the cache or the suite's tables:
    a sandboxed predictor reads the metrics the harness computed before any submission ran."""
    spec = find_suite(name_or_path)
    suite = spec.open(with_results=with_targets)
    if spec.kind is SuiteKind.RESULTS:
        pairs, methods, targets = _from_results(suite, with_targets, inputs)
        return PredictionSuite(spec.name, pairs, methods, targets, has_weights=False)
    pairs, methods, targets, updates, update_targets = _from_weights(spec, suite, Path(cache or default_cache()),
                                                                     show_progress, with_targets, inputs)
    return PredictionSuite(spec.name, pairs, methods, targets, has_weights=True, updates=updates,
                           update_targets=update_targets)


def predictor_inputs(suite: PredictionSuite) -> dict:
    """Every metric a predictor reads of `suite`, by pair and by expert, as JSON (`load_prediction_suite`'s
    `inputs`): the harness computes them before any submission runs and hands each worker a copy, so no
    predictor reads what another one wrote."""
    return {"pairs": {p.id: dict(p.metrics) for p in suite.pairs},
            "updates": {u.id: dict(u.metrics) for u in suite.updates}}


def metric_pack(spec: SuiteSpec) -> Path | None:
    """The committed pack of a bundled suite's pair and update metrics (smol's take about an hour to
    compute); other suites keep theirs in the cache only."""
    return METRIC_PACKS / f"{spec.name}.jsonl" if is_bundled(spec.root) else None


def missing_metrics(name_or_path: str | Path, cache: Path | None = None) -> tuple[int, int]:
    """(records missing, records needed): a suite's pair and update metrics not yet in its pack or the
    cache; computes nothing (a result suite ships its metrics: (0, 0))."""
    spec = find_suite(name_or_path)
    if not spec.has_weights:
        return 0, 0
    suite = spec.open(with_results=False)
    library = _library(spec, suite, Path(cache or default_cache()))
    m = suite.manifest
    identities = [{"pair": [p.expert_a, p.expert_b]} for p in m.pairs] + [{"expert": e.id} for e in m.experts]
    return sum(library.store.get(library._key(i)) is None for i in identities), len(identities)


def _library(spec: SuiteSpec, suite: Suite, cache: Path) -> MetricLibrary:
    pack = metric_pack(spec)
    return MetricLibrary(suite, cache, packs=(pack,) if pack else ())


def compute_metric_pack(name_or_path: str | Path, cache: Path | None = None, show_progress: bool = True) -> Path:
    """Compute every pair's and expert's metrics of a bundled suite and write its metric pack, every few
    minutes and when stopped as well, so a fresh clone resumes from the committed pack."""
    spec = find_suite(name_or_path)
    pack = metric_pack(spec)
    if not spec.has_weights or pack is None:
        raise ValueError(f"suite {spec.name!r}: only bundled suites with weights have a metric pack")
    suite = spec.open(with_results=False)
    library = _library(spec, suite, Path(cache or default_cache()))
    m = suite.manifest
    work = [(library.pair_metrics, (p.expert_a, p.expert_b)) for p in m.pairs] + \
        [(library.update_metrics, (e.id,)) for e in m.experts]
    with checkpointing(lambda: write_pack(pack, [library.store], keep=(pack,))) as tick, \
            Progress(disable=not show_progress) as bar:
        job = bar.add_task(f"{spec.name} metrics", total=len(work))
        for compute, args in work:
            compute(*args)
            bar.advance(job)
            tick()
    write_pack(pack, [library.store])
    return pack
