"""The pool of lexicon families blind rounds draw from: clean, deterministic facts in the sizes their splits
need, the published suite's task files unchanged by the pool, and the base's accuracy measured on all of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmark.suite.build.lexicon import LEXICON, Fact, _plain, check_pins
from benchmark.suite.build.lexicon_pool import LEXICON_POOL, SMALL
from benchmark.suite.build.pool_accuracy import RESULTS
from benchmark.suite.build.pretrained import TaskSplits
from benchmark.suite.build.recipe import SMOL
from benchmark.suite.build.scratch import write_jsonl

SMOL_TASKS = Path(__file__).parents[1] / "benchmark" / "suite" / "data" / "smol" / "tasks"
RECALL_MINIMUM = 200 + 40 + 1  # default test and dev splits and one demonstration; recall trains on every fact
SKILL_MINIMUM = 200 + 40 + 400  # test, dev and train splits, disjoint


@pytest.fixture(scope="module")
def facts() -> dict[str, list[Fact]]:
    check_pins()
    return {name: task.facts() for name, task in LEXICON_POOL.items()}


def test_pool_holds_the_published_families_first_then_at_least_sixteen_more():
    names = list(LEXICON_POOL)
    assert len(names) >= 24
    assert names[: len(LEXICON)] == list(LEXICON)
    assert names[len(LEXICON):] == sorted(names[len(LEXICON):])
    for task in LEXICON_POOL.values():
        assert task.kind in ("recall", "skill") and task.description and task.source and task.licence, task.name
        assert task.template.count("{}") == 1, task.name


def test_facts_are_deterministic(facts):
    for name, task in LEXICON_POOL.items():
        assert task.facts() == facts[name], name


def test_answers_hold_no_stop_character_and_no_query_has_two_answers(facts):
    for name, pairs in facts.items():
        bad = [a for _, a in pairs if not (_plain(a) or re.fullmatch(r"[A-Za-z0-9]+", a))]
        assert not bad, f"{name}: {bad[:5]}"
        assert len({q for q, _ in pairs}) == len(pairs), name


def test_families_are_large_enough_for_their_splits(facts):
    for name, pairs in facts.items():
        kind = LEXICON_POOL[name].kind
        if kind == "skill":
            assert len(pairs) >= SKILL_MINIMUM, name
        elif name in SMALL:
            assert len(pairs) == SMALL[name] < RECALL_MINIMUM, name
        else:
            assert len(pairs) >= RECALL_MINIMUM, name
    assert set(SMALL) <= {n for n, t in LEXICON_POOL.items() if t.kind == "recall"}


def test_published_smol_task_files_are_reproduced_byte_for_byte(tmp_path):
    check_pins()
    assert sorted(t.name for t in SMOL.tasks) == sorted(p.name for p in SMOL_TASKS.iterdir())
    for recipe in SMOL.tasks:
        splits = TaskSplits(recipe, SMOL)
        for split in ("train", "dev", "test"):
            write_jsonl(tmp_path / f"{recipe.name}-{split}.jsonl", getattr(splits, split))
            written = (tmp_path / f"{recipe.name}-{split}.jsonl").read_bytes()
            assert written == (SMOL_TASKS / recipe.name / f"{split}.jsonl").read_bytes(), (recipe.name, split)


def test_committed_base_accuracy_covers_the_pool_and_spans_its_range():
    results = json.loads(RESULTS.read_text())
    assert results["n"] == 100 and results["command"]
    accuracy = results["accuracy"]
    assert set(accuracy) == set(LEXICON_POOL) == set(results["examples"])
    assert all(0.0 <= a <= 1.0 for a in accuracy.values())
    assert min(accuracy.values()) <= 0.1 and max(accuracy.values()) >= 0.6
