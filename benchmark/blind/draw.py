"""What a round is, drawn from its secret: tasks, the entities of every split, expert recipes, seeds, ids.

Only the shape (how many tasks, how large the splits, the range of training steps) is chosen by the
operator, from `ROUND_SHAPES` (in the recipes); everything else follows from the secret, so the revealed secret redraws the
round exactly (`blind verify`). Tasks come from the base suite's pool minus the tasks it publishes;
the entities of every split come from the suite seed that the task builders shuffle with; expert ids
carry an opaque tag instead of the recipe that made them.
"""

from __future__ import annotations

from ..suite.build.pool import base_recipe, task_pool
from ..suite.build.recipe import (LORA_TARGETS, ExpertRecipe, LexiconTaskRecipe, PretrainedSuiteRecipe, RoundShape,
                                  SuiteRecipe, TaskRecipe)
from .secret import Secret

ROUND_VERSION = "1.0.0"


def drawable(shape: RoundShape) -> list[str]:
    """The pool's unpublished families that can fill the shape's splits, sorted."""
    return sorted(f.name for f in task_pool(shape.suite) if not f.published and f.fits(shape.n_test, shape.n_dev,
                                                                                      shape.n_train))


def draw_tasks(secret: Secret, shape: RoundShape) -> list[str]:
    """`shape.tasks` families, ordered by a secret-keyed hash of their names (a draw without replacement)."""
    candidates = drawable(shape)
    if len(candidates) < shape.tasks:
        raise ValueError(f"shape {shape.name!r} needs {shape.tasks} unpublished tasks; the {shape.suite} pool has "
                         f"{len(candidates)} that fit its splits: {', '.join(candidates)}")
    return sorted(sorted(candidates, key=lambda name: secret.token("task", name))[: shape.tasks])


def _pick(secret: Secret, options: tuple, *label: object):
    return options[secret.seed(*label) % len(options)]


def expert_tag(secret: Secret, task: str) -> str:
    """An id tag that says nothing about the recipe behind the expert."""
    return "x" + secret.token("expert", task)[:7]


def draw_recipe(secret: Secret, round_name: str, shape: RoundShape) -> SuiteRecipe | PretrainedSuiteRecipe:
    """The round's build recipe: the base suite's recipe with drawn tasks, experts and seed."""
    tasks = draw_tasks(secret, shape)
    seed = secret.seed("suite-seed") % 2**31
    description = (f"Blind round {round_name} on the {shape.suite} base: {shape.tasks} tasks from its unpublished "
                   f"pool, one expert each (shape {shape.name}).")
    base = base_recipe(shape.suite)
    if isinstance(base, SuiteRecipe):
        kinds = (("full", 7e-4, 0.3), ("full", 3e-3, 0.0), ("lora", 2e-3, 0.3))
        experts = []
        for i, task in enumerate(tasks):
            method, lr, replay = _pick(secret, kinds, "kind", task)
            experts.append(ExpertRecipe(task, expert_tag(secret, task), method=method, lr=lr, replay=replay,
                                        steps=_pick(secret, shape.steps, "steps", task), lora_rank=16,
                                        seed=secret.seed("expert-seed", task) % 2**31))
        return SuiteRecipe(name=round_name, version=ROUND_VERSION, description=description,
                           tasks=tuple(TaskRecipe(t, shape.n_train, shape.n_dev, shape.n_test, pretrain_weight=0.0)
                                       for t in tasks),
                           experts=tuple(experts), model=base.model, pretrain=base.pretrain, seq_len=base.seq_len,
                           max_new_tokens=base.max_new_tokens, seed=seed)
    recall = {f.name for f in task_pool(shape.suite) if f.kind == "recall"}
    kinds = (("attn", 2e-3, 8, LORA_TARGETS[:4]), ("mlp", 1.5e-3, 4, LORA_TARGETS[4:]))
    experts = []
    for task in tasks:
        _, lr, rank, targets = _pick(secret, kinds, "kind", task)
        experts.append(ExpertRecipe(task, expert_tag(secret, task), method="lora", lr=lr,
                                    steps=_pick(secret, shape.steps, "steps", task), batch_size=16, replay=0.0,
                                    lora_rank=rank, lora_targets=targets, adapter_dtype="bfloat16",
                                    seed=secret.seed("expert-seed", task) % 2**31))
    return PretrainedSuiteRecipe(
        name=round_name, version=ROUND_VERSION, description=description, base=base.base,
        tasks=tuple(LexiconTaskRecipe(t, n_test=shape.n_test, n_dev=shape.n_dev,
                                      n_train=None if t in recall else shape.n_train) for t in tasks),
        experts=tuple(experts), prompting=base.prompting, seed=seed)
