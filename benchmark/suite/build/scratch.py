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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import peft
import torch
import transformers
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from transformers import LlamaForCausalLM, PreTrainedTokenizerBase

from ..generation import encode, exact_match
from ..lm_eval_tasks import lm_eval_task_name, task_yaml
from ..manifest import BuildInfo, ExpertEntry, Manifest, PairEntry, Prompting, TaskEntry, file_entry, write_manifest
from .recipe import SuiteRecipe, TaskRecipe
from .tasks import FACT_ATTRIBUTES, FAMILIES, Example, FactBank
from .tokenizer import add_model_config, build_tokenizer, save_tokenizer
from .training import finetune, model_config, pretrain, truncate_lora

BUILD_THREADS = 2
REPLAY_BATCHES = 200


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


def build_atomically(out: Path, build: Callable[[Path, float], Manifest]) -> Manifest:
    """Run `build(staging, started)` in a temporary sibling folder, then move it to `out`, so a killed
    build leaves nothing half-written; torch runs deterministic at BUILD_THREADS so builds repeat."""
    started = time.perf_counter()
    torch.set_num_threads(BUILD_THREADS)
    torch.use_deterministic_algorithms(True)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        manifest = build(staging, started)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
        return manifest
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def suite_tasks(recipe: SuiteRecipe) -> list[TaskData]:
    """The recipe's tasks as every build of it draws them (one fact bank for all recall tasks)."""
    bank = FactBank.make(recipe.seed, recipe.fact_bank_size)
    return [TaskData(t, recipe.seed, bank) for t in recipe.tasks]


def replay_rows(tokenizer: PreTrainedTokenizerBase, corpus: list[Example], batch_size: int, seq_len: int,
                prompting: Prompting) -> tuple[torch.Tensor, torch.Tensor]:
    """Replay draws from the first REPLAY_BATCHES pretraining batches' rows, encoded with the fine-tuning
    loss mask: a sample of what the base was taught, which keeps experts from forgetting it."""
    return encode(tokenizer, corpus[: REPLAY_BATCHES * batch_size], prompting, answer_only=True, seq_len=seq_len)


@contextmanager
def progress_bar(title: str, total: int, show: bool) -> Iterator[tuple[Progress, TaskID]]:
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not show) as bar:
        yield bar, bar.add_task(title, total=total)


@dataclass
class BuildSteps:
    """The steps of a build on a character-level base, shared by a build from scratch and one on a
    published base: task files, base and expert accuracies, experts, manifest."""

    recipe: SuiteRecipe
    root: Path
    tasks: list[TaskData]
    tokenizer: PreTrainedTokenizerBase
    bar: Progress
    job: TaskID

    @property
    def prompting(self) -> Prompting:
        return Prompting(max_new_tokens=self.recipe.max_new_tokens)

    @staticmethod
    def work(recipe: SuiteRecipe) -> int:
        """Progress units after pretraining: expert steps, two base evaluations and one per expert per task."""
        return sum(e.steps for e in recipe.experts) + (2 + len(recipe.experts)) * len(recipe.tasks)

    def advance(self, n: int) -> None:
        self.bar.advance(self.job, n)

    def status(self, text: str) -> None:
        self.bar.update(self.job, description=text)

    def write_tasks(self) -> None:
        for t in self.tasks:
            splits = self._splits(t)
            for split, rows in (("train", t.train), ("dev", t.dev), ("test", t.test)):
                write_jsonl(self.root / splits[split], rows)
            (self.root / self._yaml(t)).write_text(task_yaml(self.recipe.name, t.recipe.name, splits, self.prompting))

    def evaluate_base(self, base: LlamaForCausalLM) -> dict[str, dict[str, float]]:
        self.status("evaluating base")
        accuracy = {}
        for t in self.tasks:
            accuracy[t.recipe.name] = {split: accuracy_of(exact_match(base, self.tokenizer, rows, self.prompting))
                                       for split, rows in (("test", t.test), ("dev", t.dev))}
            self.advance(2)
        return accuracy

    def train_experts(self, base: LlamaForCausalLM, replay: tuple[torch.Tensor, torch.Tensor]) -> list[ExpertEntry]:
        """Fine-tune, save and score every expert of the recipe, in order."""
        experts = []
        for er in self.recipe.experts:
            t = next(x for x in self.tasks if x.recipe.name == er.task)
            self.status(f"fine-tuning {er.id}")
            task_rows = encode(self.tokenizer, t.train, self.prompting, answer_only=True, seq_len=self.recipe.seq_len)
            model, loss = finetune(base, er, task_rows, replay, self.advance)
            rel = f"experts/{er.id}"
            if er.method == "lora":
                if er.stored_rank:
                    model = truncate_lora(model, base, er.stored_rank)
                model.peft_config["default"].base_model_name_or_path = "base"
                model.save_pretrained(self.root / rel, save_embedding_layers=False)
                (self.root / rel / "README.md").unlink(missing_ok=True)
                sort_adapter_modules(self.root / rel)
                model = model.merge_and_unload()
            else:
                model.save_pretrained(self.root / rel)
            self.status(f"evaluating {er.id}")
            acc = {}
            for other in self.tasks:
                acc[other.recipe.name] = accuracy_of(exact_match(model, self.tokenizer, other.test, self.prompting))
                self.advance(1)
            experts.append(ExpertEntry(id=er.id, task=er.task, format=er.method, path=rel,
                                       recipe=er.__dict__ | {"id": er.id}, final_loss=round(loss, 6), accuracy=acc))
        return experts

    def write_manifest(self, recipe_record: dict, base_accuracy: dict[str, dict[str, float]],
                       experts: list[ExpertEntry], started: float) -> Manifest:
        """The manifest over every file written so far; `recipe_record` is what it records as the recipe."""
        name = self.recipe.name
        task_entries = [
            TaskEntry(id=t.recipe.name, family=t.family, kind=t.kind, description=t.description,
                      prompt_prefix=t.test[0][0].split(" ")[0] + " ",
                      splits=self._splits(t),
                      sizes={"train": len(t.train), "dev": len(t.dev), "test": len(t.test)},
                      lm_eval_yaml=self._yaml(t), lm_eval_task=lm_eval_task_name(name, t.recipe.name),
                      pretrain_weight=t.recipe.pretrain_weight, known_fraction=t.recipe.known_fraction,
                      base_accuracy=base_accuracy[t.recipe.name])
            for t in self.tasks
        ]
        pairs = [PairEntry(id=f"{a.id}__{b.id}", expert_a=a.id, expert_b=b.id)
                 for a, b in itertools.combinations(experts, 2) if a.task != b.task]
        files = [file_entry(self.root, p) for p in sorted(self.root.rglob("*")) if p.is_file()]
        manifest = Manifest(
            name=name, version=self.recipe.version, description=self.recipe.description, recipe=recipe_record,
            tokenizer="tokenizer", base="base", files=files, tasks=task_entries, experts=experts, pairs=pairs,
            build=BuildInfo(wall_seconds=round(time.perf_counter() - started, 1), torch=torch.__version__,
                            transformers=transformers.__version__, peft=peft.__version__,
                            threads=torch.get_num_threads(), platform=platform.machine()),
        )
        write_manifest(self.root, manifest)
        return manifest

    @staticmethod
    def _splits(t: TaskData) -> dict[str, str]:
        return {split: f"tasks/{t.recipe.name}/{split}.jsonl" for split in ("train", "dev", "test")}

    @staticmethod
    def _yaml(t: TaskData) -> str:
        return f"tasks/{t.recipe.name}/{t.recipe.name}.yaml"


def build_suite(recipe: SuiteRecipe, out: Path, show_progress: bool = True) -> Manifest:
    """Pretrain a base on the recipe's mix and fine-tune its experts, atomically (see `build_atomically`)."""
    return build_atomically(out, lambda root, started: _build_into(recipe, root, show_progress, started))


def _build_into(recipe: SuiteRecipe, root: Path, show_progress: bool, started: float) -> Manifest:
    tokenizer = build_tokenizer()
    config = model_config(recipe.model, tokenizer)
    with progress_bar(f"building suite {recipe.name}", recipe.pretrain.steps + BuildSteps.work(recipe),
                      show_progress) as (bar, job):
        steps = BuildSteps(recipe, root, suite_tasks(recipe), tokenizer, bar, job)
        steps.write_tasks()
        save_tokenizer(tokenizer, root / "tokenizer")

        corpus = pretraining_corpus(steps.tasks, recipe.pretrain.steps * recipe.pretrain.batch_size, recipe.seed)
        ids, mask = encode(tokenizer, corpus, steps.prompting, answer_only=False, seq_len=recipe.seq_len)
        steps.status("pretraining base")
        base, _ = pretrain(config, recipe.pretrain, ids, mask, steps.advance)
        base.save_pretrained(root / "base")
        add_model_config(root / "tokenizer", root / "base")
        replay = replay_rows(tokenizer, corpus, recipe.pretrain.batch_size, recipe.seq_len, steps.prompting)

        base_accuracy = steps.evaluate_base(base)
        experts = steps.train_experts(base, replay)
    return steps.write_manifest(recipe.to_dict(), base_accuracy, experts, started)
