"""Each base suite's task pool: every family its builder can make, the published ones marked.

A blind round draws its tasks from the pool minus the published tasks, so what a submission could
have seen (the published suites and their ground truth) never contains a round's task. For tiny the
pool is its synthetic generators (`tasks.py`), for smol the lexicon families (`lexicon_pool.py`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from .lexicon_pool import LEXICON_POOL
from .recipe import RECIPES, ROUND_SHAPES, PretrainedSuiteRecipe, SuiteRecipe
from .tasks import FACT_ATTRIBUTES, FAMILIES

# the smol base's accuracy on every family, measured by `pool_accuracy.measure_pool_accuracy`
BASE_ACCURACY_FILE = Path(__file__).with_name("pool_base_accuracy.json")


@dataclass(frozen=True)
class PoolFamily:
    name: str
    kind: str
    description: str
    source: str
    published: bool

    def fits(self, n_test: int, n_dev: int, n_train: int) -> bool:
        """Whether the family has enough distinct facts for these splits (generators always have; a recall
        family trains on every fact, so it needs only the held-out splits and one demonstration)."""
        if self.name not in LEXICON_POOL:
            return True
        needed = n_test + n_dev + 1 + (0 if self.kind == "recall" else n_train)
        return _fact_count(self.name) >= needed


@functools.cache
def _fact_count(name: str) -> int:
    return len(LEXICON_POOL[name].facts())


def base_recipe(suite: str) -> SuiteRecipe | PretrainedSuiteRecipe:
    """The recipe of a base suite that blind rounds are drawn on (one with a round shape)."""
    bases = sorted({s.suite for s in ROUND_SHAPES.values()})
    if suite not in bases:
        raise ValueError(f"no task pool for suite {suite!r}; blind rounds are drawn on {', '.join(bases)}")
    return RECIPES[suite]


def task_pool(suite: str) -> list[PoolFamily]:
    """The pool of a base suite, published families first, each group sorted by name: the synthetic generators
    for a suite built from scratch, the lexicon families for one on a pretrained base."""
    recipe = base_recipe(suite)
    published = {t.name for t in recipe.tasks}
    if isinstance(recipe, PretrainedSuiteRecipe):
        families = [PoolFamily(t.name, t.kind, t.description, t.source, t.name in published)
                    for t in LEXICON_POOL.values()]
    else:
        families = [PoolFamily(f.name, f.kind, f.description, "generated (seeded)", f.name in published)
                    for f in FAMILIES.values()]
        families += [PoolFamily(name, "recall", text, "generated (seeded)", name in published)
                     for name, text in FACT_ATTRIBUTES.items()]
    return sorted(families, key=lambda f: (not f.published, f.name))


def pool_table(suite: str) -> str:
    """The pool as a text table: family, kind, published, the base's measured accuracy (where measured), source."""
    measured = {}
    if isinstance(base_recipe(suite), PretrainedSuiteRecipe) and BASE_ACCURACY_FILE.is_file():
        measured = json.loads(BASE_ACCURACY_FILE.read_text())["accuracy"]
    lines = [f"{'family':<18} {'kind':<10} {'published':<9} {'base acc':>8}  source"]
    for f in task_pool(suite):
        acc = f"{measured[f.name]:.3f}" if f.name in measured else "—"
        lines.append(f"{f.name:<18} {f.kind:<10} {'yes' if f.published else 'no':<9} {acc:>8}  {f.source}")
    return "\n".join(lines)
