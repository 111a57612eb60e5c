"""Build a suite of new experts on a published base: new tasks, the same base, replay of what it learnt.

An evaluation round needs experts for tasks no published suite holds, on a base that predictors and
merging methods may already have seen. So the base is copied, never retrained, and the experts'
replay rows are drawn from the base recipe's own pretraining mix, exactly as the base's build drew
them, which keeps what the base knows as the published experts kept it. The steps, the atomic
staging and the determinism are those of `scratch.build_suite`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..manifest import Manifest
from ..suite import Suite
from .recipe import SuiteRecipe
from .scratch import (REPLAY_BATCHES, BuildSteps, build_atomically, pretraining_corpus, progress_bar,
                      replay_rows, suite_tasks)


def build_on_base(recipe: SuiteRecipe, base_suite_root: Path, base_recipe: SuiteRecipe, out: Path,
                  show_progress: bool = True) -> Manifest:
    """Fine-tune `recipe.experts` on `recipe.tasks` from the base of the suite at `base_suite_root`,
    which `base_recipe` built; the folder at `out` holds a copy of that base and tokenizer.

    `recipe.pretrain` is unused (nothing is pretrained) and `recipe.model` must be the base's.
    """
    base_suite = Suite(base_suite_root)
    problems = base_suite.verify()
    if problems:
        raise ValueError(f"base suite {base_suite.root}: {'; '.join(problems)}")
    if base_suite.manifest.base_source is not None:
        raise ValueError(f"base suite {base_suite.root}: its base is not in the folder, so it cannot be copied")
    if base_suite.manifest.recipe != json.loads(json.dumps(base_recipe.to_dict())):
        raise ValueError(f"base suite {base_suite.root} was not built by recipe {base_recipe.name} "
                         f"{base_recipe.version}: replay would not draw from its pretraining mix")
    if recipe.model != base_recipe.model:
        raise ValueError(f"recipe {recipe.name}: its model {recipe.model} is not the base's {base_recipe.model}")
    record = recipe.to_dict() | {"pretrain": None, "base": {
        "suite": base_suite.name, "version": base_suite.version, "manifest_sha256": base_suite.sha256}}
    return build_atomically(out, lambda root, started: _build_into(
        recipe, base_suite, base_recipe, record, root, show_progress, started))


def _build_into(recipe: SuiteRecipe, base_suite: Suite, base_recipe: SuiteRecipe, record: dict, root: Path,
                show_progress: bool, started: float) -> Manifest:
    manifest = base_suite.manifest
    shutil.copytree(base_suite.root / manifest.tokenizer, root / "tokenizer")
    shutil.copytree(base_suite.root / manifest.base, root / "base")
    tokenizer = base_suite.tokenizer()
    base = base_suite.model()
    with progress_bar(f"building suite {recipe.name} on {base_suite.name} {base_suite.version}",
                      BuildSteps.work(recipe), show_progress) as (bar, job):
        steps = BuildSteps(recipe, root, suite_tasks(recipe), tokenizer, bar, job)
        steps.write_tasks()
        # The replay rows are a prefix of the base's corpus: drawing only that prefix draws the same rows.
        batch = base_recipe.pretrain.batch_size
        corpus = pretraining_corpus(suite_tasks(base_recipe), REPLAY_BATCHES * batch, base_recipe.seed)
        replay = replay_rows(tokenizer, corpus, batch, recipe.seq_len, steps.prompting)
        base_accuracy = steps.evaluate_base(base)
        experts = steps.train_experts(base, replay)
    return steps.write_manifest(record, base_accuracy, experts, started)
