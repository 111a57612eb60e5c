"""Ranks from paired comparisons (the rule is `RULE`, printed on the page).

Every merge method of a board is scored on the same pairs and every predictor on the same
leave-one-task-out folds, so entries are compared pair by pair rather than by overlapping marginal
intervals: each entry's primary score is recomputed on one shared set of bootstrap resamples, every
two comparable entries are tested on the difference, Holm's correction runs over all the tests of the
board, and an entry's rank is 1 + the number of entries significantly better than it.

`python -m benchmark.scoring.ranking [results.json]` prints every board's rank groups.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .correlation import fold_spearman_draws
from .paired import ALPHA, PAIRED_SAMPLES, Comparison, compare, holm, pair_index, samples_for

RULE = (f"Ranks come from paired comparisons. Every merge method is scored on the same pairs and every predictor "
        f"on the same leave-one-task-out folds, so two entries are compared on the same bootstrap resamples "
        f"({PAIRED_SAMPLES:,}, or 80 per comparison on a board of more than 50 comparisons, so that the smallest "
        "attainable p-value stays below half Holm's strictest threshold; over pairs for methods, over pairs within "
        "each fold for predictors), "
        "recomputing the board's primary score on each. A difference is significant when its two-sided paired bootstrap p-value, "
        "Holm-adjusted over all pairwise comparisons of the board, is below "
        f"{ALPHA:g}. An entry's rank is 1 + the number of entries significantly better than it, so entries that "
        "nothing separates share a rank. Δ to above is the entry's difference to the entry listed above it, with its "
        "paired 95% interval (not adjusted) and * when the Holm-adjusted test is significant. Entries that cannot be "
        "compared (failed, incomplete, or scored on other pairs) are listed unranked with the reason.")


def _method_data(samples: dict) -> tuple[tuple, np.ndarray] | str:
    na = samples.get("na") or {}
    ids = sorted(na)
    values = np.array([na[i] for i in ids], dtype=float)
    if not np.isfinite(values).all():
        return f"na is missing on {int((~np.isfinite(values)).sum())} pairs"
    return tuple(ids), values


def _predictor_data(samples: dict) -> tuple[tuple, dict] | str:
    held_out = samples.get("held_out") or {}
    cells = {(m, f): held_out[m][f] for m in sorted(held_out) for f in sorted(held_out[m])}
    if not cells:
        return "no held-out predictions"
    layout = tuple((m, f, tuple(c["ids"]), tuple(c["targets"])) for (m, f), c in cells.items())
    return layout, {k: np.asarray(c["predictions"], dtype=float) for k, c in cells.items()}


def _draws(track: str, suite: str, layout: tuple, data, samples: int) -> np.ndarray:
    """The entry's primary score on each of the board's shared resamples."""
    if track == "methods":
        return data[pair_index(len(layout), track, suite, samples=samples)].mean(1)
    per_method: dict[str, list] = {}
    for method, fold, ids, targets in layout:  # the same seed per fold: every method resamples the same pairs
        per_method.setdefault(method, []).append((data[(method, fold)], np.asarray(targets),
                                                  pair_index(len(ids), track, suite, fold, samples=samples)))
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack([fold_spearman_draws(*zip(*cells)) for cells in per_method.values()]), 0)


def _to_above(this: str, above: str, comparisons: dict) -> dict:
    c = comparisons[frozenset((this, above))]
    sign = 1 if c.better == this else -1
    low, high = sorted((sign * c.ci[0], sign * c.ci[1]))
    return {"name": above, "difference": sign * c.difference, "ci": [low, high], "p_holm": c.p_holm,
            "significant": c.significant}


def rank_board(track: str, suite: str, entries: list[dict]) -> tuple[list[dict], list[Comparison]]:
    """Entries (dicts with `name`, `status`, `reason`, `primary`, `samples`) in display order, each with
    `rank`, `beaten_by` (the entries significantly better) and `to_above`; and the board's comparisons."""
    parsed = {}
    for e in entries:
        if e["status"] == "complete":
            got = (_method_data if track == "methods" else _predictor_data)(e.get("samples") or {})
            parsed[e["name"]] = got if not isinstance(got, str) else None
    layouts = Counter(p[0] for p in parsed.values() if p is not None)
    layout = max(layouts.items(), key=lambda kv: (kv[1], len(kv[0]), kv[0]))[0] if layouts else None
    reasons = {}
    for e in entries:
        if e["status"] != "complete":
            continue
        if e.get("samples") is None:
            reasons[e["name"]] = "cannot be compared: no per-pair results recorded (recompute the entry)"
        elif parsed[e["name"]] is None:
            reasons[e["name"]] = "cannot be compared: " + (_method_data if track == "methods" else _predictor_data)(
                e["samples"])
        elif parsed[e["name"]][0] != layout:
            reasons[e["name"]] = "cannot be compared: scored on other pairs or folds than the rest of the board"
    ranked = sorted((e for e in entries if e["status"] == "complete" and e["name"] not in reasons),
                    key=lambda e: (-e["primary"], e["name"]))
    samples = samples_for(len(ranked) * (len(ranked) - 1) // 2)
    draws = {e["name"]: _draws(track, suite, layout, parsed[e["name"]][1], samples) for e in ranked}
    tests = [compare(a["name"], b["name"], a["primary"] - b["primary"], draws[a["name"]], draws[b["name"]])
             for i, a in enumerate(ranked) for b in ranked[i + 1:]]
    comparisons = [Comparison(c.better, c.worse, c.difference, c.ci, c.p, adjusted)
                   for c, adjusted in zip(tests, holm([c.p for c in tests]))]
    beaten_by = {e["name"]: sorted(c.better for c in comparisons if c.worse == e["name"] and c.significant)
                 for e in ranked}
    shown = sorted(ranked, key=lambda e: (len(beaten_by[e["name"]]), -e["primary"], e["name"]))
    by_pair = {frozenset((c.better, c.worse)): c for c in comparisons}
    rows = [e | {"rank": 1 + len(beaten_by[e["name"]]), "beaten_by": beaten_by[e["name"]],
                 "to_above": _to_above(e["name"], shown[k - 1]["name"], by_pair) if k else None}
            for k, e in enumerate(shown)]
    unranked = sorted((e for e in entries if e["status"] != "complete" or e["name"] in reasons),
                      key=lambda e: (e["status"], e["name"]))
    rows += [e | {"rank": None, "beaten_by": [], "to_above": None,
                  "reason": reasons.get(e["name"], e.get("reason"))} for e in unranked]
    return rows, comparisons


def rank_group_lines(board: dict) -> list[str]:
    """A board of `results.json` as its rank groups, best first: `1: a, b`, then the unranked."""
    groups: dict[int, list[str]] = {}
    for row in board["rows"]:
        if row["rank"] is not None:
            groups.setdefault(row["rank"], []).append(row["name"])
    lines = [f"{rank}: {', '.join(names)}" for rank, names in sorted(groups.items())]
    unranked = [row["name"] for row in board["rows"] if row["rank"] is None]
    return lines + ([f"unranked: {', '.join(unranked)}"] if unranked else [])


def format_rank_groups(results: dict) -> str:
    """Every ranked board of a `results.json` (parsed), as Markdown."""
    out = [f"Rank groups of results.json, schema {results.get('schema_version')}", ""]
    for board in results["boards"]:
        out += [f"## {board['track']} on {board['suite']}", ""] + [f"- {line}" for line in rank_group_lines(board)]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(format_rank_groups(json.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "leaderboard/results.json")
                                        .read_text())))
