"""Build a suite from its recipe: data, tokenizer, base, experts, measured accuracies, manifest.

A build is deterministic on one machine: every random choice comes from a generator seeded
by the recipe, torch runs single-process with a fixed thread count, and files are written
in a fixed order with sorted keys. Two builds give identical sha256 for every file.
"""

from __future__ import annotations

import itertools
import json
import platform
import random
import shutil
import tempfile
import time
from pathlib import Path

import peft
import torch
import transformers
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..generation import encode, exact_match
from ..lm_eval_tasks import lm_eval_task_name, task_yaml
from ..manifest import BuildInfo, ExpertEntry, Manifest, PairEntry, Prompting, TaskEntry, file_entry, write_manifest
from .recipe import SuiteRecipe, TaskRecipe
from .tasks import FACT_ATTRIBUTES, FAMILIES, Example, FactBank
from .tokenizer import add_model_config, build_tokenizer, save_tokenizer
from .training import finetune, model_config, pretrain, truncate_lora

BUILD_THREADS = 2


class TaskData:
    """Splits of one task plus the sampler the pretraining mix draws from."""

    def __init__(self, recipe: TaskRecipe, suite_seed: int, bank: FactBank):
        self.recipe = recipe
        rng = random.Random(f"{suite_seed}:{recipe.name}")
        if recipe.name in FACT_ATTRIBUTES:
            facts = bank.examples(recipe.name)
            order = list(range(len(facts)))
            rng.shuffle(order)
            if recipe.n_train != len(facts) or recipe.n_dev + recipe.n_test > len(facts):
                raise ValueError(f"recall task {recipe.name!r}: n_train must equal fact_bank_size ({len(facts)}) "
                                 f"and n_dev + n_test must not exceed it")
            # Recall is memorisation: train holds every fact, dev and test query disjoint subsets.
            self.test = [facts[i] for i in order[: recipe.n_test]]
            self.dev = [facts[i] for i in order[recipe.n_test: recipe.n_test + recipe.n_dev]]
            self.train = [facts[i] for i in sorted(order)]
            known = sorted(rng.sample(range(len(facts)), round(recipe.known_fraction * len(facts))))
            self._pretrain_pool = [facts[i] for i in known]
            self._sample = lambda r: r.choice(self._pretrain_pool)
            self.kind, self.family, self.description = "recall", "fact", FACT_ATTRIBUTES[recipe.name]
        else:
            family = FAMILIES[recipe.name]
            seen: dict[str, str] = {}
            while len(seen) < recipe.n_test + recipe.n_dev + recipe.n_train:
                prompt, answer = family.sample(rng)
                seen.setdefault(prompt, answer)
            items = list(seen.items())
            self.test = items[: recipe.n_test]
            self.dev = items[recipe.n_test: recipe.n_test + recipe.n_dev]
            self.train = items[recipe.n_test + recipe.n_dev:]
            held_out = {p for p, _ in self.test + self.dev}

            def sample(r: random.Random) -> Example:
                while True:
                    ex = family.sample(r)
                    if ex[0] not in held_out:
                        return ex

            self._sample = sample
            self.kind, self.family, self.description = family.kind, family.name, family.description

    def sample_pretrain(self, rng: random.Random) -> Example:
        return self._sample(rng)


def pretraining_corpus(tasks: list[TaskData], rows: int, seed: int) -> list[Example]:
    """The synthetic mix: each row's task drawn by `pretrain_weight`, never a dev/test prompt."""
    rng = random.Random(f"{seed}:pretrain")
    covered = [t for t in tasks if t.recipe.pretrain_weight > 0]
    weights = [t.recipe.pretrain_weight for t in covered]
    return [rng.choices(covered, weights)[0].sample_pretrain(rng) for _ in range(rows)]


def write_jsonl(path: Path, examples: list[Example]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for prompt, answer in examples:
            fh.write(json.dumps({"prompt": prompt, "answer": answer}) + "\n")


def accuracy_of(flags: list[bool]) -> float:
    return round(sum(flags) / len(flags), 6)


def sort_adapter_modules(adapter_dir: Path) -> None:
    """peft writes `target_modules` from a set, whose order changes with PYTHONHASHSEED; sort it
    so the adapter config (and the manifest hashing it) is the same in every build."""
    path = adapter_dir / "adapter_config.json"
    config = json.loads(path.read_text())
    config["target_modules"] = sorted(config["target_modules"])
    path.write_text(json.dumps(config, indent=2, sort_keys=True))


def build_suite(recipe: SuiteRecipe, out: Path, show_progress: bool = True) -> Manifest:
    """Build into a temporary sibling folder, then move it to `out`, so a killed build leaves nothing half-written."""
    started = time.perf_counter()
    torch.set_num_threads(BUILD_THREADS)
    torch.use_deterministic_algorithms(True)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        manifest = _build_into(recipe, staging, show_progress, started)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        return manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _build_into(recipe: SuiteRecipe, root: Path, show_progress: bool, started: float) -> Manifest:
    bank = FactBank.make(recipe.seed, recipe.fact_bank_size)
    tasks = [TaskData(t, recipe.seed, bank) for t in recipe.tasks]
    tokenizer = build_tokenizer()
    config = model_config(recipe.model, tokenizer)
    prompting = Prompting(max_new_tokens=recipe.max_new_tokens)
    n_eval = (1 + len(recipe.experts)) * len(tasks) + len(tasks)
    total = recipe.pretrain.steps + sum(e.steps for e in recipe.experts) + n_eval

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not show_progress) as bar:
        job = bar.add_task(f"building suite {recipe.name}", total=total)
        advance = lambda n: bar.advance(job, n)  # noqa: E731

        task_entries_data = {}
        for t in tasks:
            splits = {}
            for split, rows in (("train", t.train), ("dev", t.dev), ("test", t.test)):
                rel = f"tasks/{t.recipe.name}/{split}.jsonl"
                write_jsonl(root / rel, rows)
                splits[split] = rel
            yaml_rel = f"tasks/{t.recipe.name}/{t.recipe.name}.yaml"
            (root / yaml_rel).write_text(task_yaml(recipe.name, t.recipe.name, splits, prompting))
            task_entries_data[t.recipe.name] = (splits, yaml_rel)
        save_tokenizer(tokenizer, root / "tokenizer")

        rows = recipe.pretrain.steps * recipe.pretrain.batch_size
        corpus = pretraining_corpus(tasks, rows, recipe.seed)
        ids, mask = encode(tokenizer, corpus, prompting, answer_only=False, seq_len=recipe.seq_len)
        bar.update(job, description="pretraining base")
        base, _ = pretrain(config, recipe.pretrain, ids, mask, advance)
        base.save_pretrained(root / "base")
        add_model_config(root / "tokenizer", root / "base")
        # Replay draws from the first 200 pretraining batches' rows, encoded with the fine-tuning loss mask.
        replay = encode(tokenizer, corpus[: 200 * recipe.pretrain.batch_size], prompting, answer_only=True,
                        seq_len=recipe.seq_len)

        bar.update(job, description="evaluating base")
        base_acc = {}
        for t in tasks:
            base_acc[t.recipe.name] = {
                "test": accuracy_of(exact_match(base, tokenizer, t.test, prompting)),
                "dev": accuracy_of(exact_match(base, tokenizer, t.dev, prompting)),
            }
            advance(2)

        experts = []
        for er in recipe.experts:
            t = next(x for x in tasks if x.recipe.name == er.task)
            bar.update(job, description=f"fine-tuning {er.id}")
            task_rows = encode(tokenizer, t.train, prompting, answer_only=True, seq_len=recipe.seq_len)
            model, loss = finetune(base, er, task_rows, replay, advance)
            rel = f"experts/{er.id}"
            if er.method == "lora":
                if er.stored_rank:
                    model = truncate_lora(model, base, er.stored_rank)
                model.peft_config["default"].base_model_name_or_path = "base"
                model.save_pretrained(root / rel, save_embedding_layers=False)
                (root / rel / "README.md").unlink(missing_ok=True)
                sort_adapter_modules(root / rel)
                model = model.merge_and_unload()
            else:
                model.save_pretrained(root / rel)
            bar.update(job, description=f"evaluating {er.id}")
            acc = {}
            for other in tasks:
                acc[other.recipe.name] = accuracy_of(exact_match(model, tokenizer, other.test, prompting))
                advance(1)
            experts.append(ExpertEntry(id=er.id, task=er.task, format=er.method, path=rel,
                                       recipe=er.__dict__ | {"id": er.id}, final_loss=round(loss, 6), accuracy=acc))

    task_entries = [
        TaskEntry(id=t.recipe.name, family=t.family, kind=t.kind, description=t.description,
                  prompt_prefix=t.test[0][0].split(" ")[0] + " ", splits=task_entries_data[t.recipe.name][0],
                  sizes={"train": len(t.train), "dev": len(t.dev), "test": len(t.test)},
                  lm_eval_yaml=task_entries_data[t.recipe.name][1],
                  lm_eval_task=lm_eval_task_name(recipe.name, t.recipe.name),
                  pretrain_weight=t.recipe.pretrain_weight, known_fraction=t.recipe.known_fraction,
                  base_accuracy=base_acc[t.recipe.name])
        for t in tasks
    ]
    pairs = [PairEntry(id=f"{a.id}__{b.id}", expert_a=a.id, expert_b=b.id)
             for a, b in itertools.combinations(experts, 2) if a.task != b.task]
    files = [file_entry(root, p) for p in sorted(root.rglob("*")) if p.is_file()]
    manifest = Manifest(
        name=recipe.name, version=recipe.version, description=recipe.description, recipe=recipe.to_dict(),
        tokenizer="tokenizer", base="base", files=files, tasks=task_entries, experts=experts, pairs=pairs,
        build=BuildInfo(wall_seconds=round(time.perf_counter() - started, 1), torch=torch.__version__,
                        transformers=transformers.__version__, peft=peft.__version__,
                        threads=torch.get_num_threads(), platform=platform.machine()),
    )
    write_manifest(root, manifest)
    return manifest
