"""Build a suite of LoRA experts on a pretrained base: lexicon tasks, experts, accuracies, manifest.

Unlike the tiny build (minutes, all or nothing), this one takes about an hour on 2 cores, so it
resumes: it writes into the suite folder as it goes, each finished expert with a `.build.json`
record of its recipe and measurements, and a rerun (on this machine or on a fresh clone of a
commit holding those folders) skips every expert whose record matches its recipe. The manifest
is written last and the records are then folded into it. On one machine every file is the same
whichever run produced it: training is seeded and single-process at a fixed thread count.
"""

from __future__ import annotations

import itertools
import json
import platform
import random
import time
from pathlib import Path

import peft
import torch
import transformers
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ...store import default_cache
from ..generation import encode, exact_match
from ..lm_eval_tasks import lm_eval_task_name, task_yaml
from ..manifest import BuildInfo, ExpertEntry, Manifest, PairEntry, TaskEntry, file_entry, write_manifest
from ..pretrained_base import ensure_base, gguf_path
from ..suite import lora_deltas
from .lexicon import Fact, check_pins
from .lexicon_pool import LEXICON_POOL
from .recipe import ExpertRecipe, LexiconTaskRecipe, PretrainedSuiteRecipe
from .scratch import BUILD_THREADS, accuracy_of, sort_adapter_modules, write_jsonl
from .tokenizer import add_model_config
from .training import finetune_lora

RECORD = ".build.json"
Example = tuple[str, str]


class TaskSplits:
    """One lexicon task's demonstrations and splits, as full prompts with their answers; any family of
    the pool, so a blind round splits its secret families as the published suite splits its own."""

    def __init__(self, recipe: LexiconTaskRecipe, suite: PretrainedSuiteRecipe):
        self.recipe, self.task = recipe, LEXICON_POOL[recipe.name]
        facts = self.task.facts()[: recipe.pool]
        random.Random(f"{suite.seed}:{recipe.name}").shuffle(facts)
        shots, p = suite.prompting.shots, suite.prompting
        demos, rest = facts[:shots], facts[shots:]
        if len(rest) < recipe.n_test + recipe.n_dev + (recipe.n_train or 0):
            raise ValueError(f"task {recipe.name!r} has {len(facts)} facts, fewer than its recipe's splits need")
        self.prefix = "".join(f"{self.task.template.format(q)}{p.delimiter}{a}{p.terminator}\n" for q, a in demos)
        self.test = self._examples(rest[: recipe.n_test])
        self.dev = self._examples(rest[recipe.n_test: recipe.n_test + recipe.n_dev])
        if self.task.kind == "recall":  # facts are learnt: train on every one; dev and test ask subsets
            self.train = self._examples(rest)
        else:
            start = recipe.n_test + recipe.n_dev
            self.train = self._examples(rest[start: start + recipe.n_train if recipe.n_train else None])

    def _examples(self, facts: list[Fact]) -> list[Example]:
        return [(self.prefix + self.task.template.format(q), a) for q, a in facts]


def _evaluator(base: transformers.LlamaForCausalLM, state: dict[str, torch.Tensor] | None = None):
    """A bf16 copy of the base (with `state` loaded) for scoring, as the ground truth evaluates."""
    model = transformers.LlamaForCausalLM(base.config)
    model.load_state_dict(state if state is not None else base.state_dict(), strict=False)
    model.tie_weights()
    return model.to(torch.bfloat16).eval()


def _train_expert(recipe: PretrainedSuiteRecipe, er: ExpertRecipe, base, tokenizer, tasks: dict[str, TaskSplits],
                  folder: Path, advance) -> dict:
    """Train, save (adapter weights cast to the recipe's dtype) and score one expert from its saved files."""
    started = time.perf_counter()
    rows = encode(tokenizer, tasks[er.task].train, recipe.prompting, answer_only=True)
    model, loss = finetune_lora(base, er, rows, advance)
    if er.adapter_dtype == "bfloat16":
        for name, param in model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(torch.bfloat16)
    model.peft_config["default"].base_model_name_or_path = recipe.base.label
    model.save_pretrained(str(folder), save_embedding_layers=False)
    (folder / "README.md").unlink(missing_ok=True)
    sort_adapter_modules(folder)
    state = base.state_dict()
    for name, delta in lora_deltas(folder).items():
        state[name] = state[name] + delta
    evaluator = _evaluator(base, state)
    accuracy = {}
    for task_id, splits in tasks.items():
        accuracy[task_id] = accuracy_of(exact_match(evaluator, tokenizer, splits.test, recipe.prompting))
        advance(1)
    return {"recipe": er.__dict__ | {"id": er.id}, "final_loss": round(loss, 6), "accuracy": accuracy,
            "seconds": round(time.perf_counter() - started, 1)}


def _normalized(recipe_dict: dict) -> dict:
    return json.loads(json.dumps(recipe_dict))


def build_pretrained_suite(recipe: PretrainedSuiteRecipe, out: Path, cache: Path | None = None,
                           show_progress: bool = True) -> Manifest:
    started = time.perf_counter()
    torch.set_num_threads(BUILD_THREADS)
    torch.use_deterministic_algorithms(True)
    check_pins()
    root = out.resolve()
    root.mkdir(parents=True, exist_ok=True)
    base_dir = ensure_base(recipe.base, cache or default_cache())
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_path(recipe.base).parent),
                                                           gguf_file=recipe.base.gguf_file)
    tokenizer.save_pretrained(str(root / "tokenizer"))
    add_model_config(root / "tokenizer", base_dir)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    base = transformers.LlamaForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32).eval()

    tasks = {t.name: TaskSplits(t, recipe) for t in recipe.tasks}
    task_files = {}
    for name, t in tasks.items():
        splits = {}
        for split, rows in (("train", t.train), ("dev", t.dev), ("test", t.test)):
            splits[split] = f"tasks/{name}/{split}.jsonl"
            write_jsonl(root / splits[split], rows)
        yaml_rel = f"tasks/{name}/{name}.yaml"
        (root / yaml_rel).write_text(task_yaml(recipe.name, name, splits, recipe.prompting))
        task_files[name] = (splits, yaml_rel)

    total = sum(e.steps for e in recipe.experts) + len(tasks) * (2 + len(recipe.experts))
    records, reused_seconds = {}, 0.0
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  disable=not show_progress) as bar:
        job = bar.add_task(f"building suite {recipe.name}: base accuracy", total=total)
        advance = lambda n: bar.advance(job, n)  # noqa: E731
        evaluator = _evaluator(base)
        base_accuracy = {}
        for name, t in tasks.items():
            base_accuracy[name] = {split: accuracy_of(exact_match(evaluator, tokenizer, rows, recipe.prompting))
                                   for split, rows in (("test", t.test), ("dev", t.dev))}
            advance(2)
        for er in recipe.experts:
            folder = root / "experts" / er.id
            record_path = folder / RECORD
            wanted = _normalized(er.__dict__ | {"id": er.id})
            if record_path.is_file() and json.loads(record_path.read_text())["recipe"] == wanted:
                records[er.id] = json.loads(record_path.read_text())
                reused_seconds += records[er.id]["seconds"]
                advance(er.steps + len(tasks))
                continue
            bar.update(job, description=f"fine-tuning {er.id}")
            folder.mkdir(parents=True, exist_ok=True)
            records[er.id] = _normalized(_train_expert(recipe, er, base, tokenizer, tasks, folder, advance))
            record_path.write_text(json.dumps(records[er.id], indent=1, sort_keys=True) + "\n")

    for er in recipe.experts:
        (root / "experts" / er.id / RECORD).unlink()
    experts = [ExpertEntry(id=er.id, task=er.task, format="lora", path=f"experts/{er.id}", recipe=records[er.id]["recipe"],
                           final_loss=records[er.id]["final_loss"], accuracy=records[er.id]["accuracy"])
               for er in recipe.experts]
    task_entries = [
        TaskEntry(id=name, family=name, kind=t.task.kind, description=t.task.description,
                  prompt_prefix=t.prefix, splits=task_files[name][0],
                  sizes={"train": len(t.train), "dev": len(t.dev), "test": len(t.test)},
                  lm_eval_yaml=task_files[name][1], lm_eval_task=lm_eval_task_name(recipe.name, name),
                  source=t.task.source, licence=t.task.licence, base_accuracy=base_accuracy[name])
        for name, t in tasks.items()
    ]
    pairs = [PairEntry(id=f"{a.id}__{b.id}", expert_a=a.id, expert_b=b.id)
             for a, b in itertools.combinations(experts, 2) if a.task != b.task]
    files = [file_entry(root, p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != "manifest.json"]
    manifest = Manifest(
        name=recipe.name, version=recipe.version, description=recipe.description, recipe=recipe.to_dict(),
        tokenizer="tokenizer", base="base", base_source=recipe.base, prompting=recipe.prompting, files=files,
        tasks=task_entries, experts=experts, pairs=pairs,
        build=BuildInfo(wall_seconds=round(time.perf_counter() - started + reused_seconds, 1),
                        torch=torch.__version__, transformers=transformers.__version__, peft=peft.__version__,
                        threads=torch.get_num_threads(), platform=platform.machine()),
    )
    write_manifest(root, manifest)
    return manifest
