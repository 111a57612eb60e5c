"""New experts for new task families on the published tiny base, as a blind evaluation round builds them."""

import pytest

from benchmark.suite import load_suite
from benchmark.suite.build.on_base import build_on_base
from benchmark.suite.build.recipe import MICRO, TINY, ExpertRecipe, SuiteRecipe, TaskRecipe
from benchmark.suite.build.scratch import pretraining_corpus, suite_tasks, write_jsonl
from benchmark.suite.build.tasks import FAMILIES
from benchmark.suite.build.tokenizer import CHARACTERS
from benchmark.suite.generation import encode
from benchmark.suite.manifest import Prompting, sha256_of

ROUND_TASKS = ("lst", "min", "cpy")


def _round(experts: tuple[ExpertRecipe, ...], n_train: int = 300) -> SuiteRecipe:
    tasks = tuple(TaskRecipe(name, n_train, 20, 40, pretrain_weight=0.0) for name in sorted({e.task for e in experts}))
    return SuiteRecipe(name="round", version="0.1.0", description="new families on the published tiny base",
                       tasks=tasks, experts=experts)


SMALL_ROUND = _round((ExpertRecipe("lst", "ft", lr=3e-3, steps=60, seed=0),
                      ExpertRecipe("min", "lora", method="lora", lr=5e-3, steps=60, lora_rank=16, seed=1),
                      ExpertRecipe("cpy", "ft-hot", lr=3e-3, steps=60, replay=0.0, seed=2)))


@pytest.fixture(scope="module")
def small_round(tiny_suite, tmp_path_factory):
    root = tmp_path_factory.mktemp("round") / "round"
    build_on_base(SMALL_ROUND, tiny_suite.root, TINY, root, show_progress=False)
    return load_suite(root)


def test_published_task_files_are_reproduced(tiny_suite, tmp_path):
    """The pool grew around the published families: their splits come out byte for byte as bundled."""
    for task in suite_tasks(TINY):
        for split, rows in (("train", task.train), ("dev", task.dev), ("test", task.test)):
            rel = tiny_suite.manifest.task(task.recipe.name).splits[split]
            write_jsonl(tmp_path / rel, rows)
            assert (tmp_path / rel).read_bytes() == (tiny_suite.root / rel).read_bytes(), rel


def test_every_family_fits_the_tiny_tokenizer_and_splits():
    """Any family can be a tiny-scale task: thousands of distinct prompts, known characters, rows within seq_len."""
    assert len(FAMILIES) >= 16 and all(len(name) == 3 for name in FAMILIES)
    recipe = SuiteRecipe(name="pool", version="0", description="", experts=(),
                         tasks=tuple(TaskRecipe(name, 3000, 200, 500, pretrain_weight=0.0) for name in FAMILIES))
    tokenizer = load_suite("tiny").tokenizer()
    for task in suite_tasks(recipe):
        rows = task.train + task.dev + task.test
        assert len({p for p, _ in rows}) == 3700
        assert all(p.startswith(f"{task.recipe.name} ") for p, _ in rows)
        assert set("".join(p + a for p, a in rows)) <= set(CHARACTERS), task.recipe.name
        encode(tokenizer, rows, Prompting(), answer_only=True, seq_len=recipe.seq_len)  # raises over seq_len


def test_replay_draws_a_prefix_of_the_pretraining_corpus():
    """Why a round may draw only the replay rows: the corpus is one generator's sequence, so its prefix
    does not depend on how many rows follow."""
    tasks = suite_tasks(MICRO)
    assert pretraining_corpus(tasks, 5000, MICRO.seed)[:1200] == pretraining_corpus(tasks, 1200, MICRO.seed)


def test_round_opens_verifies_and_keeps_the_published_base(small_round, tiny_suite):
    m = small_round.manifest
    assert small_round.verify() == []
    for folder in ("base", "tokenizer"):
        bundled = sorted(p.relative_to(tiny_suite.root) for p in (tiny_suite.root / folder).iterdir())
        assert sorted(p.relative_to(small_round.root) for p in (small_round.root / folder).iterdir()) == bundled
        for rel in bundled:
            assert sha256_of(small_round.root / rel) == sha256_of(tiny_suite.root / rel), rel
    assert m.recipe["base"] == {"suite": tiny_suite.name, "version": tiny_suite.version,
                                "manifest_sha256": tiny_suite.sha256}
    assert [t.id for t in m.tasks] == sorted(ROUND_TASKS) and all(t.pretrain_weight == 0 for t in m.tasks)
    assert {e.format for e in m.experts} == {"full", "lora"}
    for e in m.experts:
        assert set(e.accuracy) == set(ROUND_TASKS) and 0 <= e.accuracy[e.task] <= 1
    assert len(m.pairs) == 3


def test_two_round_builds_are_identical(small_round, tmp_path):
    again = build_on_base(SMALL_ROUND, load_suite("tiny").root, TINY, tmp_path / "again", show_progress=False)
    assert {f.path: f.sha256 for f in again.files} == {f.path: f.sha256 for f in small_round.manifest.files}
    first = small_round.manifest.model_dump(mode="json", exclude={"build"})
    assert again.model_dump(mode="json", exclude={"build"}) == first


def test_refuses_a_base_recipe_that_did_not_build_the_base(tiny_suite, tmp_path):
    with pytest.raises(ValueError, match="replay would not draw from its pretraining mix"):
        build_on_base(SMALL_ROUND, tiny_suite.root, MICRO, tmp_path / "round", show_progress=False)
    assert not (tmp_path / "round").exists()
