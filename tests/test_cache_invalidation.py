"""Cached results follow the code that made them: an edit recomputes exactly what it touches.

A temporary copy of the package is edited (a built-in method's arithmetic, then a metric) and the
leaderboard is rebuilt from the unedited run's cache, in a subprocess that imports the copy. What
was computed anew is read off the cache: every evaluation record names its method, a merge-cost
record has `seconds`, a predictor entry has `track`, and metrics have a folder of their own.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.groundtruth.jobs import partner_groups
from benchmark.publish.results import STANDING_FIELDS
from benchmark.tracks.methods import COST_PAIRS, cost_pairs

REPO = Path(__file__).parents[1]
RUN = """
import sys
from pathlib import Path
from benchmark.evaluation import EvalSettings
from benchmark.groundtruth import compute_ground_truth, ground_truth_dir
from benchmark.merging import get_method
from benchmark.publish import build_leaderboard
from benchmark.isolation import Limits
from benchmark.suite import load_suite
if __name__ == "__main__":
    root, cache, micro = Path(sys.argv[1]), Path(sys.argv[2]), load_suite(sys.argv[3])
    settings = EvalSettings(backend="hf")
    compute_ground_truth(micro, [get_method("weight_avg"), get_method("task_arithmetic")], settings, cache,
                         ground_truth_dir(micro, cache), show_progress=False)
    build_leaderboard(root, root / "leaderboard", cache, settings, Limits(120, 4096),
                      suites=[str(micro.root), "demystifying-vitb16"], show_progress=False)
"""


def _checkout(base: Path, name: str) -> Path:
    """A checkout: a copy of the package, two method and two predictor submissions for the micro suite."""
    root = base / name
    shutil.copytree(REPO / "benchmark", root / "benchmark", ignore=shutil.ignore_patterns("__pycache__"))
    for track, sub in (("methods", "weight-avg"), ("methods", "task-arithmetic"), ("predictors", "tv-cosine"),
                       ("predictors", "random")):
        folder = root / "submissions" / track / sub
        shutil.copytree(REPO / "submissions" / track / sub, folder)
        spec = folder / "submission.yaml"
        spec.write_text(spec.read_text().replace("suites: [tiny", "suites: [micro"))
    (root / "run.py").write_text(RUN)
    return root


def _files(cache: Path) -> dict[str, Path]:
    """The job store's and the metric cache's records, by file name (the key)."""
    return {p.name: p for folder in ("jobs", "metrics") for p in (cache / folder).glob("*/*.json")}


def _run(root: Path, cache: Path, micro) -> dict[str, list]:
    """Run the checkout's pipeline; what it computed anew, by kind."""
    before = set(_files(cache))
    env = os.environ | {"PYTHONPATH": str(root), "WILLITMERGE_CACHE": str(cache)}
    subprocess.run([sys.executable, str(root / "run.py"), str(root), str(cache), str(micro.root)], env=env,
                   check=True, cwd=root)
    computed = {"evaluations": [], "costs": [], "predictor entries": [], "metrics": [], "expert metrics": []}
    for name, path in sorted(_files(cache).items()):
        if name in before:
            continue
        record = json.loads(path.read_text())
        if path.parent.parent.name == "metrics" and "expert" in record:
            computed["expert metrics"].append(record["expert"])
        elif path.parent.parent.name == "metrics":
            computed["metrics"].append(tuple(record["pair"]))
        elif "track" in record:
            computed["predictor entries"].append(record["suite"])
        elif "seconds" in record and "kind" not in record:
            computed["costs"].append(name)
        else:
            computed["evaluations"].append((record["kind"], record["method"]))
    return computed


def _edit(root: Path, relative: str, old: str, new: str) -> None:
    path = root / "benchmark" / relative
    text = path.read_text()
    assert old in text, f"{relative} no longer holds {old!r}; update the test"
    path.write_text(text.replace(old, new))


def _boards(root: Path) -> dict:
    """Each entry's own result: its standing among the others (rank, comparisons) moves with theirs."""
    results = json.loads((root / "leaderboard" / "results.json").read_text())
    return {(b["track"], b["suite"], r["name"]): {k: v for k, v in r.items() if k not in STANDING_FIELDS}
            for b in results["boards"] for r in b["rows"]}


@pytest.fixture(scope="module")
def baseline(micro_suite, tmp_path_factory):
    base = tmp_path_factory.mktemp("invalidation")
    root, cache = _checkout(base, "baseline"), base / "cache"
    first = _run(root, cache, micro_suite)
    return base, root, cache, first


def _edited_run(baseline, micro_suite, name, relative, old, new):
    base, original, cache, _ = baseline
    root = _checkout(base, name)
    _edit(root, relative, old, new)
    own_cache = base / f"cache-{name}"
    shutil.copytree(cache, own_cache)
    return _run(root, own_cache, micro_suite), _boards(original), _boards(root)


def test_unchanged_code_recomputes_nothing(baseline, micro_suite):
    base, root, cache, first = baseline
    assert first["evaluations"] and first["metrics"]  # the baseline did compute
    again = _run(root, cache, micro_suite)
    assert again == {"evaluations": [], "costs": [], "predictor entries": [], "metrics": [], "expert metrics": []}


def test_editing_a_method_recomputes_its_rows_and_only_those(baseline, micro_suite):
    computed, before, after = _edited_run(
        baseline, micro_suite, "edited-method", "merging/methods.py",
        "return self.alpha * torch.stack(deltas).sum(0)", "return 0.5 * self.alpha * torch.stack(deltas).sum(0)")
    # partner groups drawn twice in different rounds are one job
    pairs, groups = len(micro_suite.manifest.pairs), len({g.experts for g in partner_groups(micro_suite)})
    print("recomputed after editing task_arithmetic:", json.dumps({k: len(v) for k, v in computed.items()}))
    # the ground truth's pairs and partner groups (S(Δi)); the leaderboard's method track merges pairs only
    assert computed["evaluations"] == [("merge", "task_arithmetic")] * (pairs + groups) and groups > 0
    assert len(computed["costs"]) == len(cost_pairs(micro_suite)) == min(pairs, COST_PAIRS)  # timed on a sample
    # the edited method's ground truth moved, so the predictor entries on micro (scored against it) rerun;
    # the published suite's do not, and no metric is recomputed
    assert computed["predictor entries"] == ["micro", "micro"] and computed["metrics"] == computed["expert metrics"] == []
    changed = {key for key in before if before[key] != after[key]}
    assert ("methods", "micro", "task-arithmetic") in changed
    assert not {k for k in changed if k[0] == "methods" and k[2] != "task-arithmetic"}
    assert not {k for k in changed if k[1] == "demystifying-vitb16"}


def test_editing_a_metric_recomputes_the_metrics_and_the_predictors_that_read_them(baseline, micro_suite):
    computed, before, after = _edited_run(
        baseline, micro_suite, "edited-metric", "predictors/metrics/weights.py",
        '{"task_vector_cosine_similarity": cos,', '{"task_vector_cosine_similarity": -cos,')
    print("recomputed after editing a metric:", json.dumps({k: len(v) for k, v in computed.items()}))
    assert computed["evaluations"] == [] and computed["costs"] == []
    assert len(computed["metrics"]) == len(micro_suite.manifest.pairs)
    assert sorted(computed["expert metrics"]) == sorted(e.id for e in micro_suite.manifest.experts)
    assert computed["predictor entries"] == ["micro", "micro"]  # both read the suite's metrics; vitb16's are published
    tv = ("predictors", "micro", "tv-cosine")
    assert after[tv]["primary"] == pytest.approx(-before[tv]["primary"], abs=1e-6)
    # random was recomputed too (it is handed the metrics, so they key it) but its result is the same:
    # only where it is cached moved
    moved = {k for k in before if before[k] != after[k]}
    assert {k for k in moved if {**before[k], "provenance": None} != {**after[k], "provenance": None}} == {tv}
