"""Which ground-truth rows moved between a git revision and the working tree, and by how much:
`python tools/ground_truth_moves.py REV SUITE [SUITE ...]` (e.g. `main smol`).

A recomputation (new scoring, new code) must say what it changed. Rows are matched on their identity
columns (pair and method; model and task; group, method and expert); a row moved when its accuracy or
`na` differs, and the example-level `correct` strings say on how many examples. Methods present on only
one side are listed, not compared.
"""

from __future__ import annotations

import io
import subprocess
import sys

import pandas as pd

from benchmark.groundtruth.dataset import BUNDLED_ROOT

REPO = BUNDLED_ROOT.parents[2]
# table: (identity columns, the figure that moves, the per-example answers)
TABLES = {"models": (["model", "task"], "accuracy", "correct"),
          "tasks": (["pair_id", "method", "task", "side"], "accuracy", "correct"),
          "pairs": (["pair_id", "method"], "na", None),
          "groups": (["group_id", "method", "expert"], "accuracy", "correct")}


def _at_revision(rev: str, suite: str, table: str) -> pd.DataFrame:
    path = (BUNDLED_ROOT / suite / f"{table}.parquet").relative_to(REPO)
    blob = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], capture_output=True, check=True).stdout
    return pd.read_parquet(io.BytesIO(blob))


def _differing_examples(old: str, new: str) -> int:
    return sum(a != b for a, b in zip(old, new)) + abs(len(old) - len(new))


def moves(rev: str, suite: str, table: str) -> dict:
    keys, figure, answers = TABLES[table]
    old, new = _at_revision(rev, suite, table), pd.read_parquet(BUNDLED_ROOT / suite / f"{table}.parquet")
    report: dict = {}
    if "method" in keys:
        report["only_old"] = sorted(set(old["method"]) - set(new["method"]))
        report["only_new"] = sorted(set(new["method"]) - set(old["method"]))
    both = old.merge(new, on=keys, suffixes=("_old", "_new"))
    delta = (both[f"{figure}_new"] - both[f"{figure}_old"]).abs()
    report.update(rows=len(both), moved=int((delta > 0).sum()), max_delta=float(delta.max() if len(both) else 0.0),
                  mean_delta=float(delta.mean() if len(both) else 0.0))
    if answers:
        flips = [_differing_examples(a, b) for a, b in zip(both[f"{answers}_old"], both[f"{answers}_new"])]
        report.update(examples=int(sum(len(a) for a in both[f"{answers}_old"])), examples_differing=int(sum(flips)))
    if "method" in keys and len(both):
        per_method = both.assign(delta=delta).groupby("method")["delta"]
        report["by_method"] = {m: {"moved": int((d > 0).sum()), "max_delta": float(d.max())} for m, d in per_method}
    worst = both.assign(delta=delta).sort_values("delta", ascending=False).head(5)
    report["largest"] = [{**{k: row[k] for k in keys}, "old": row[f"{figure}_old"], "new": row[f"{figure}_new"]}
                         for _, row in worst.iterrows() if row["delta"] > 0]
    return report


def main(rev: str, suites: list[str]) -> None:
    for suite in suites:
        for table, (_, figure, answers) in TABLES.items():
            r = moves(rev, suite, table)
            line = f"{suite} {table}: {r['moved']} of {r['rows']} rows moved ({figure}: max {r['max_delta']:.4f}, mean {r['mean_delta']:.5f})"
            if answers:
                line += f"; {r['examples_differing']} of {r['examples']} examples answered differently"
            if r.get("only_new") or r.get("only_old"):
                line += f"; methods only in {rev}: {r['only_old'] or 'none'}, only now: {r['only_new'] or 'none'}"
            print(line)
            for m, d in r.get("by_method", {}).items():
                print(f"    {m}: {d['moved']} moved, max {d['max_delta']:.4f}")
            for w in r["largest"]:
                print("    largest:", w)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
