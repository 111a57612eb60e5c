"""Ranks from paired comparisons: a consistent per-pair advantage separates entries whose marginal
intervals overlap, identical entries share a rank, Holm's correction is the textbook one, entries
that cannot be compared are listed with the reason, and nothing depends on entry order."""

import numpy as np
import pytest

from benchmark.scoring.ranking import rank_board, rank_group_lines
from benchmark.scoring.methods import mean_with_interval
from benchmark.scoring.paired import holm


def _method(name, values, ids=None, status="complete"):
    ids = ids or [f"p{i:03d}" for i in range(len(values))]
    return {"name": name, "status": status, "reason": None if status == "complete" else "nan: broken",
            "primary": float(np.mean(values)) if status == "complete" else None,
            "samples": {"na": dict(zip(ids, map(float, values)))} if status == "complete" else None}


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(7)
    base = rng.uniform(0.1, 0.9, 112)  # pairs differ a lot: wide marginal intervals
    better = base + 0.03 + rng.normal(0, 0.01, 112)  # a small advantage on almost every pair
    return base, better


def test_a_consistent_advantage_separates_overlapping_intervals(pairs):
    base, better = pairs
    low_a, high_a = mean_with_interval(better, "a")[1]
    low_b, high_b = mean_with_interval(base, "b")[1]
    assert low_a <= high_b and low_b <= high_a  # the old marginal rule would have shared rank 1
    rows, comparisons = rank_board("methods", "synthetic", [_method("b", base), _method("a", better)])
    assert [(r["name"], r["rank"], r["beaten_by"]) for r in rows] == [("a", 1, []), ("b", 2, ["a"])]
    (c,) = comparisons
    assert c.better == "a" and c.significant and c.ci[0] > 0
    assert rows[1]["to_above"]["name"] == "a" and rows[1]["to_above"]["difference"] == pytest.approx(-c.difference)
    assert rows[1]["to_above"]["ci"] == pytest.approx([-c.ci[1], -c.ci[0]])


def test_identical_and_noisy_entries_share_a_rank(pairs):
    base, _ = pairs
    noise = np.random.default_rng(3).normal(0, 0.2, len(base))
    rows, comparisons = rank_board("methods", "synthetic", [
        _method("a", base), _method("copy", base), _method("noisy", np.clip(base + noise, 0, 1))])
    assert {r["name"]: r["rank"] for r in rows} == {"a": 1, "copy": 1, "noisy": 1}
    same = next(c for c in comparisons if {c.better, c.worse} == {"a", "copy"})
    assert same.difference == 0 and same.p == 1 and not same.significant


def test_holm_adjusts_step_down():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_entries_that_cannot_be_compared_are_unranked_with_the_reason(pairs):
    base, better = pairs
    ids = [f"p{i:03d}" for i in range(len(base))]
    rows, _ = rank_board("methods", "synthetic", [
        _method("a", better), _method("b", base), _method("short", base[:-1], ids[:-1]),
        _method("broken", base, status="failed"),
        {**_method("old", base), "samples": None}])
    by_name = {r["name"]: r for r in rows}
    assert [r["name"] for r in rows][:2] == ["a", "b"]
    assert by_name["short"]["rank"] is None and "other pairs" in by_name["short"]["reason"]
    assert by_name["old"]["rank"] is None and "no per-pair results" in by_name["old"]["reason"]
    assert by_name["broken"]["rank"] is None and by_name["broken"]["reason"] == "nan: broken"
    assert rank_group_lines({"rows": rows}) == ["1: a", "2: b", "unranked: old, short, broken"]  # by status, then name


def _predictor(name, noise, folds, rng):
    held_out, per_fold = {}, []
    for method in ("m1", "m2"):
        for fold, (ids, targets) in folds.items():
            predictions = targets + rng.normal(0, noise, len(targets))
            held_out.setdefault(method, {})[fold] = {"ids": ids, "predictions": predictions.tolist(),
                                                     "targets": targets.tolist()}
            per_fold.append(np.corrcoef(np.argsort(np.argsort(predictions)), np.argsort(np.argsort(targets)))[0, 1])
    return {"name": name, "status": "complete", "reason": None, "primary": float(np.mean(per_fold)),
            "samples": {"held_out": held_out}}


def test_predictors_are_compared_on_pairs_resampled_within_folds():
    rng = np.random.default_rng(11)
    folds = {f"t{k}": ([f"t{k}-{i}" for i in range(14)], rng.uniform(0, 1, 14)) for k in range(8)}
    entries = [_predictor("sharp", 0.05, folds, rng), _predictor("blurred", 0.3, folds, rng),
               _predictor("random", 50.0, folds, rng)]
    rows, comparisons = rank_board("predictors", "synthetic", entries)
    assert [(r["name"], r["rank"]) for r in rows] == [("sharp", 1), ("blurred", 2), ("random", 3)]
    assert len(comparisons) == 3 and all(c.significant for c in comparisons)
    again, _ = rank_board("predictors", "synthetic", entries[::-1])  # order of computation changes nothing
    assert again == rows


def test_a_twenty_entry_board_still_separates_what_differs_and_ties_what_does_not():
    """190 comparisons: Holm multiplies the smallest p-value by 190, so the resamples must resolve p-values
    below 0.05 / 190; entries a clear step apart on every pair get 20 distinct ranks, 20 copies share rank 1."""
    rng = np.random.default_rng(11)
    base = rng.uniform(0.1, 0.5, 60)
    steps = [_method(f"m{k:02d}", base + 0.02 * k + rng.normal(0, 0.002, 60)) for k in range(20)]
    rows, comparisons = rank_board("methods", "synthetic", steps)
    assert len(comparisons) == 190 and all(c.significant for c in comparisons)
    assert [(r["name"], r["rank"]) for r in rows] == [(f"m{k:02d}", 20 - k) for k in range(19, -1, -1)]
    copies, _ = rank_board("methods", "synthetic", [_method(f"c{k:02d}", base) for k in range(20)])
    assert {r["rank"] for r in copies} == {1}
