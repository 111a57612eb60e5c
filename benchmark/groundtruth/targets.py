"""Targets from raw accuracies: na (primary), raw, gain, per-update S(Δi), bootstrap SEs.

Per (pair, method): na = ½ Σ acc_t(merged)/acc_t(expert_t); raw = ½ Σ acc_t(merged);
gain = ½ Σ (acc_t(merged) − acc_t(base)) / (acc_t(expert_t) − acc_t(base)). Standard errors
come from a paired bootstrap over test examples: the same resampled examples score the
merged model, the expert and the base, so their shared difficulty cancels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation import TaskScore
from ..seeding import seeded_rng
from ..suite import Suite
from .grid import MergeOutcome
from .jobs import method_label, pair_tasks, params_json

BOOTSTRAP_SAMPLES = 1000


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.full_like(num, np.nan, dtype=float), where=den != 0)


def _targets(merged: list[np.ndarray], expert: list[np.ndarray], base: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Targets for arrays whose last axis runs over examples (point estimate or bootstrap rows)."""
    na = np.mean([_ratio(m.mean(-1), e.mean(-1)) for m, e in zip(merged, expert)], axis=0)
    raw = np.mean([m.mean(-1) for m in merged], axis=0)
    gain = np.mean([_ratio(m.mean(-1) - b.mean(-1), e.mean(-1) - b.mean(-1))
                    for m, e, b in zip(merged, expert, base)], axis=0)
    return {"na": na, "raw": raw, "gain": gain}


def pair_row(suite: Suite, outcome: MergeOutcome, denominators: dict[tuple[str, ...], dict[str, TaskScore]],
             samples: int = BOOTSTRAP_SAMPLES) -> dict:
    pair = next(p for p in suite.manifest.pairs if p.id == outcome.pair_id)
    experts = (pair.expert_a, pair.expert_b)
    tasks = pair_tasks(suite, pair)
    arrays = {"merged": [], "expert": [], "base": []}
    boot = {"merged": [], "expert": [], "base": []}
    rng = seeded_rng(outcome.pair_id, method_label(outcome.method))
    for expert, task in zip(experts, tasks):
        per_model = {"merged": outcome.scores[task], "expert": denominators[(expert,)][task],
                     "base": denominators[()][task]}
        n = per_model["merged"].n
        index = rng.integers(0, n, size=(samples, n))
        for role, score in per_model.items():
            correct = np.asarray(score.correct, dtype=np.float64)
            arrays[role].append(correct)
            boot[role].append(correct[index])
    point = _targets(arrays["merged"], arrays["expert"], arrays["base"])
    spread = _targets(boot["merged"], boot["expert"], boot["base"])
    row = {"pair_id": outcome.pair_id, "method": method_label(outcome.method), "expert_a": experts[0],
           "expert_b": experts[1], "task_a": tasks[0], "task_b": tasks[1]}
    for name in ("na", "raw", "gain"):
        row[name] = float(point[name])
        row[f"{name}_se"] = float(np.nanstd(spread[name], ddof=1))
    for side, expert, task in (("a", experts[0], tasks[0]), ("b", experts[1], tasks[1])):
        row[f"acc_{side}"] = outcome.scores[task].accuracy
        row[f"expert_acc_{side}"] = denominators[(expert,)][task].accuracy
        row[f"base_acc_{side}"] = denominators[()][task].accuracy
    row["params"] = params_json(outcome.chosen)
    return row


def pair_table(suite: Suite, outcomes: list[MergeOutcome], denominators) -> pd.DataFrame:
    return pd.DataFrame([pair_row(suite, o, denominators) for o in outcomes if not o.group])


def task_table(suite: Suite, outcomes: list[MergeOutcome], denominators) -> pd.DataFrame:
    """One row per (pair, method, task), with per-example correctness for new bootstraps."""
    rows = []
    for o in (o for o in outcomes if not o.group):
        pair = next(p for p in suite.manifest.pairs if p.id == o.pair_id)
        for side, expert, task in zip("ab", (pair.expert_a, pair.expert_b), pair_tasks(suite, pair)):
            s = o.scores[task]
            rows.append({"pair_id": o.pair_id, "method": method_label(o.method), "task": task, "side": side,
                         "expert": expert, "accuracy": s.accuracy, "stderr": s.stderr, "n": s.n,
                         "expert_accuracy": denominators[(expert,)][task].accuracy,
                         "base_accuracy": denominators[()][task].accuracy,
                         "correct": np.asarray(s.correct, dtype=np.int8)})
    return pd.DataFrame(rows)


def model_table(denominators) -> pd.DataFrame:
    """The denominators: the base and every expert on every task."""
    rows = []
    for key, scores in denominators.items():
        for task, s in scores.items():
            rows.append({"model": key[0] if key else "base", "task": task, "accuracy": s.accuracy,
                         "stderr": s.stderr, "n": s.n, "correct": np.asarray(s.correct, dtype=np.int8)})
    return pd.DataFrame(rows)


def group_table(suite: Suite, outcomes: list[MergeOutcome], denominators) -> pd.DataFrame:
    """One row per (partner group, method, member): the merged group's accuracy on the member's own task."""
    rows = []
    for o in (o for o in outcomes if o.group):
        for expert in o.experts:
            task = suite.manifest.expert(expert).task
            s = o.scores[task]
            rows.append({"group_id": o.pair_id, "method": method_label(o.method), "group_size": len(o.experts),
                         "experts": ",".join(o.experts), "expert": expert, "task": task, "accuracy": s.accuracy,
                         "n": s.n, "expert_accuracy": denominators[(expert,)][task].accuracy,
                         "params": params_json(o.chosen), "correct": np.asarray(s.correct, dtype=np.int8)})
    return pd.DataFrame(rows)


def update_table(suite: Suite, pairs: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    """Will-it-Merge's S(Δi): the mean over an expert's N partner groups (M = T − 1 partners each) of
    the merged model's accuracy on the expert's own task (`s_acc`), and of that over the expert's own
    accuracy (`s_na`). The one-partner version over all of the expert's pairs is kept beside it
    (`s_acc_pair`, `s_na_pair`)."""
    rows = []
    for method, group in pairs.groupby("method", sort=True):
        trials = groups[groups.method == method] if len(groups) else groups
        for e in suite.manifest.experts:
            own = pd.concat([group.loc[group.expert_a == e.id, ["acc_a", "expert_acc_a"]].set_axis(["acc", "exp"], axis=1),
                             group.loc[group.expert_b == e.id, ["acc_b", "expert_acc_b"]].set_axis(["acc", "exp"], axis=1)])
            mine = trials[trials.expert == e.id] if len(trials) else trials
            rows.append({"expert": e.id, "task": e.task, "method": method,
                         "partners_m": int(mine.group_size.iloc[0]) - 1 if len(mine) else 0, "trials_n": len(mine),
                         "s_acc": float(mine.accuracy.mean()) if len(mine) else float("nan"),
                         "s_na": float((mine.accuracy / mine.expert_accuracy).mean()) if len(mine) else float("nan"),
                         "n_pairs": len(own), "s_acc_pair": float(own.acc.mean()),
                         "s_na_pair": float((own.acc / own.exp).mean())})
    return pd.DataFrame(rows)
