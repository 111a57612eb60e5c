"""The published ground truth: parquet tables plus a card, bundled or on the Hub.

`load_ground_truth(suite)` reads a suite's ground truth: the bundled copy for a bundled suite
(like scikit-learn's `load_*`), else the one `willitmerge groundtruth` wrote into the cache.
The Hub-hosted dataset (the `fetch_*` side) is read by `willitmerge download`
(`benchmark.publish`), which checks the published layout before it hands back a folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..evaluation import EvalSettings
from ..store import default_cache
from ..suite import Suite, load_suite
from ..suite.registry import is_bundled

BUNDLED_ROOT = Path(__file__).parent / "data"
TABLES = ("pairs", "tasks", "models", "groups", "updates")


def write_dataset(out: Path, suite: Suite, settings: EvalSettings, tables: dict[str, pd.DataFrame]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    m = suite.manifest
    meta = {"suite": suite.name, "suite_version": suite.version, "suite_sha256": suite.sha256,
            "evaluation": settings.fingerprint() | {"dtype": m.prompting.dtype, "merge_dtype": "float32"},
            "backend": settings.backend,
            "licence": _licence_note(suite),
            "methods": sorted(tables["pairs"].method.unique().tolist()), "rows": {k: len(v) for k, v in tables.items()}}
    (out / "meta.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (out / "README.md").write_text(dataset_card(meta, signal_table(tables["pairs"], tables["tasks"], tables["models"])))
    return out


def _licence_note(suite: Suite) -> str:
    """The tables are MIT; what they were measured on keeps its own licence, named per source."""
    m = suite.manifest
    if m.base_source is None and all(t.source is None for t in m.tasks):
        return "MIT. All data is synthetic; the models are those of the suite."
    sources = sorted({f"{t.source} ({t.licence})" for t in m.tasks if t.source})
    base = f"the base model is {m.base_source.label} ({m.base_source.licence}); " if m.base_source else ""
    return f"The tables are MIT; {base}task data: {'; '.join(sources)}."


COLUMNS = {
    "pairs": {
        "pair_id": "`<expert_a>__<expert_b>`, as listed in the suite manifest",
        "method": "merge method name (built-in registry name, or `mergekit:<name>`)",
        "expert_a, expert_b, task_a, task_b": "the two experts and their tasks",
        "na": "normalized accuracy ½ Σ acc_t(merged) / acc_t(expert_t) (primary target)",
        "raw": "mean accuracy ½ Σ acc_t(merged)",
        "gain": "retained fine-tuning gain ½ Σ (acc_t(merged) − acc_t(base)) / (acc_t(expert_t) − acc_t(base))",
        "na_se, raw_se, gain_se": "paired bootstrap standard errors over test examples (1000 resamples)",
        "acc_a, acc_b": "merged model's test accuracy on task_a, task_b",
        "expert_acc_a, expert_acc_b, base_acc_a, base_acc_b": "the denominators used",
        "params": "JSON of the method parameters used (for tuned methods: the value chosen on dev)",
    },
    "tasks": {"pair_id, method, task, side, expert": "one row per (pair, method, task)",
              "accuracy, stderr, n": "merged model's exact-match test accuracy, its binomial SE, example count",
              "expert_accuracy, base_accuracy": "denominators on this task",
              "correct": "per-example correctness (int8 list, test-split order) for new bootstraps"},
    "models": {"model, task": "`base` or an expert id, on every task",
               "accuracy, stderr, n, correct": "as in `tasks`"},
    "groups": {"group_id, method, group_size, experts": "a partner group (T experts of distinct tasks) merged "
                                                          "together; 5 rounds, each a random partition of the experts",
               "expert, task, accuracy, n, correct": "the merged group on one member's own task",
               "expert_accuracy, params": "that member's own accuracy; the method parameters used"},
    "updates": {"expert, task, method": "Will-it-Merge's per-update mergeability S(Δi)",
                "partners_m, trials_n": "M partners per trial (T = M + 1 experts merged) and N trials",
                "s_acc": "S(Δi): mean accuracy on the expert's own task of its N partner-group merges",
                "s_na": "the same, each trial divided by the expert's own accuracy",
                "n_pairs, s_acc_pair, s_na_pair": "the one-partner version: over all of the expert's pairs"},
}


def dataset_card(meta: dict, signal: pd.DataFrame) -> str:
    """The dataset card, generated from the data so it can never disagree with it."""
    lines = [
        f"# willitmerge ground truth: suite `{meta['suite']}` v{meta['suite_version']}", "",
        "Post-merge test accuracy of every cross-task pair of experts under every merge method, with the "
        "denominators (each expert and the base model on every task), measured with lm-eval "
        f"{meta['evaluation']['libraries']['lm_eval']} on the `{meta['backend']}` backend "
        "(greedy generation, exact match, zero-shot).", "",
        f"- suite sha256 (of its manifest): `{meta['suite_sha256']}`",
        f"- methods: {', '.join(meta['methods'])}",
        f"- rows: {', '.join(f'{k} {v}' for k, v in meta['rows'].items())}",
        f"- evaluation settings: `{json.dumps(meta['evaluation'], sort_keys=True)}`", "",
        "## Load", "", "```python",
        "import benchmark", f"pairs = benchmark.load_ground_truth({meta['suite']!r})            # pandas",
        "import datasets",
        "pairs = datasets.load_dataset('parquet', data_files='pairs.parquet', split='train')", "```", "",
        "## Tables", "",
    ]
    for table, columns in COLUMNS.items():
        lines += [f"### `{table}.parquet`", "", "| column | meaning |", "|---|---|"]
        lines += [f"| {c} | {m} |" for c, m in columns.items()] + [""]
    lines += ["## Signal per method", "",
              "The spread of `na` across pairs against its noise: a useful suite needs SD ≥ 4 × the median bootstrap "
              "SE and a split-half reliability (even vs odd test examples, Spearman–Brown corrected) ≥ 0.9.", "",
              "| method | pairs | mean na | SD | IQR | median SE | SD / SE | split-half |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r.method} | {r.pairs} | {r.na_mean:.3f} | {r.na_sd:.3f} | {r.na_iqr:.3f} | {r.median_se:.4f} | "
              f"{r.sd_over_se:.1f} | {r.split_half:.3f} |" for r in signal.itertuples()]
    lines += ["", "## Licence", "", meta["licence"], ""]
    return "\n".join(lines)


def split_half_na(tasks: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """`na` of every (pair, method) recomputed on the even and on the odd test examples alone."""
    expert_correct = {(r.model, r.task): np.asarray(r.correct, dtype=float) for r in models.itertuples()}
    rows = []
    for (pair_id, method), g in tasks.groupby(["pair_id", "method"], sort=True):
        halves = []
        for start in (0, 1):
            ratios = []
            for r in g.itertuples():
                merged, expert = np.asarray(r.correct, dtype=float)[start::2], expert_correct[(r.expert, r.task)][start::2]
                ratios.append(merged.mean() / expert.mean() if expert.mean() else np.nan)
            halves.append(float(np.mean(ratios)))
        rows.append({"pair_id": pair_id, "method": method, "na_even": halves[0], "na_odd": halves[1]})
    return pd.DataFrame(rows)


def signal_table(pairs: pd.DataFrame, tasks: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Per method: does the spread of `na` across pairs stand far above its noise? Bootstrap SE over test
    examples, and split-half reliability: the correlation across pairs of `na` on even and on odd
    examples, Spearman–Brown corrected to the full test set (2r / (1 + r))."""
    halves = split_half_na(tasks, models)
    rows = []
    for method, g in pairs.groupby("method", sort=True):
        q1, q3 = np.percentile(g.na, [25, 75])
        sd, se = float(g.na.std(ddof=1)), float(g.na_se.median())
        h = halves[halves.method == method].dropna()
        r = float(np.corrcoef(h.na_even, h.na_odd)[0, 1]) if len(h) > 2 else float("nan")
        reliability = 2 * r / (1 + r)
        rows.append({"method": method, "pairs": len(g), "na_mean": float(g.na.mean()), "na_sd": sd,
                     "na_iqr": float(q3 - q1), "median_se": se, "sd_over_se": sd / se if se else float("inf"),
                     "split_half": reliability, "carries_signal": bool(sd >= 4 * se and reliability >= 0.9)})
    return pd.DataFrame(rows)


def ground_truth_dir(suite: Suite, cache: Path | None = None) -> Path:
    """Where a suite's ground truth lives: beside the package for a bundled suite, else in the cache
    under the suite's name and manifest hash (where `willitmerge groundtruth` writes it)."""
    if is_bundled(suite.root):
        return BUNDLED_ROOT / suite.name
    return Path(cache or default_cache()) / "groundtruth" / f"{suite.name}-{suite.sha256[:12]}"


def resolve_ground_truth(name_or_path: str | Path, cache: Path | None = None) -> Path:
    """A ground-truth folder (with meta.json) as given, or the current one of a suite by name or path;
    a ground truth computed on another version of the suite is refused."""
    path = Path(name_or_path)
    if (path / "meta.json").is_file():
        return path
    suite = load_suite(name_or_path)
    folder = ground_truth_dir(suite, cache)
    if not (folder / "meta.json").is_file():
        raise FileNotFoundError(f"no ground truth for suite {suite.name!r} in {folder}; compute it with "
                                f"`willitmerge groundtruth --suite {name_or_path}`")
    if json.loads((folder / "meta.json").read_text())["suite_sha256"] != suite.sha256:
        raise FileNotFoundError(f"{folder}/meta.json: field `suite_sha256` is not this suite's manifest hash "
                                f"({suite.sha256[:12]}): the ground truth is stale; recompute it with "
                                f"`willitmerge groundtruth --suite {name_or_path}`")
    return folder


def ground_truth_settings(suite: Suite, cache: Path | None = None) -> EvalSettings | None:
    """The evaluation settings a suite's ground truth was measured with (None before it exists): new
    merges of that suite are scored the same way, so their jobs line up with the ground truth's."""
    meta = ground_truth_dir(suite, cache) / "meta.json"
    if not meta.is_file():
        return None
    recorded = json.loads(meta.read_text())["evaluation"]
    return EvalSettings(**{f: recorded[f] for f in EvalSettings.__dataclass_fields__ if f in recorded})


def load_ground_truth(name_or_path: str | Path, table: str = "pairs", cache: Path | None = None) -> pd.DataFrame:
    """One table of a suite's ground truth (or of a ground-truth folder) as a pandas DataFrame."""
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
    return pd.read_parquet(resolve_ground_truth(name_or_path, cache) / f"{table}.parquet")
