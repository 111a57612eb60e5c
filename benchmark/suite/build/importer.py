"""`suite import`: a suite from your own local models (a base, expert folders or peft adapters, and
lm-eval task YAMLs with their data), checksummed like a built suite, so every command runs on it.

Files are copied byte for byte (an expert whose vocabulary differs from the base's is rewritten by
the suite's vocab rule, see `benchmark.suite.build.vocab`). The base's accuracy on each task's dev and
test split is measured at import by the caller's `measure_base` (the CLI passes the harness's engine,
`benchmark.evaluation.measure_base_accuracy`): merges read it from the manifest (Will-it-Merge's
weighting uses the dev accuracy). Experts' accuracies are the ground truth's to
measure and stay empty.
"""

from __future__ import annotations

import platform
import shutil
import time
from importlib.metadata import version
from itertools import combinations
from pathlib import Path
from typing import Callable

import torch
import yaml
from safetensors import safe_open

from ..manifest import (BuildInfo, ExpertEntry, Manifest, PairEntry, Prompting, TaskEntry, file_entry, verify,
                         write_manifest)
from .vocab import VocabRule, align_expert_file

FULL_FILES = ("config.json", "generation_config.json", "model.safetensors")
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "config.json")


class SuiteImportError(ValueError):
    """A local folder or task YAML the importer cannot use; the message names it and the fix."""


def expert_format(folder: Path) -> str:
    """'lora' for a peft adapter folder, 'full' for a transformers folder with one safetensors file."""
    if (folder / "adapter_config.json").is_file():
        if not (folder / "adapter_model.safetensors").is_file():
            raise SuiteImportError(f"{folder}: a peft adapter needs adapter_model.safetensors "
                                   "(weights only as safetensors)")
        return "lora"
    if (folder / "model.safetensors").is_file():
        return "full"
    raise SuiteImportError(f"{folder}: neither a peft adapter (adapter_config.json) nor a model with one "
                       "model.safetensors (sharded or pickled checkpoints: save them as one safetensors file)")


def _copy(names: tuple[str, ...], src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / name)


def _import_task(yaml_path: Path, data_root: Path, out: Path) -> TaskEntry:
    """Copy a task YAML and the data files it names into tasks/<id>/, paths rewritten relative to the suite."""
    task_id = yaml_path.stem
    spec = yaml.safe_load(yaml_path.read_text())
    files = (spec.get("dataset_kwargs") or {}).get("data_files") or {}
    if "test" not in files:
        raise SuiteImportError(f"{yaml_path}: field dataset_kwargs.data_files needs a `test` file (and `dev` for "
                               "tuning); the importer takes local JSON-lines data")
    folder = out / "tasks" / task_id
    folder.mkdir(parents=True, exist_ok=True)
    splits, sizes = {}, {}
    for split, rel in files.items():
        src = Path(rel) if Path(rel).is_absolute() else data_root / rel
        if not src.is_file():
            raise SuiteImportError(f"{yaml_path}: field dataset_kwargs.data_files.{split}: {src} does not exist "
                                   "(relative paths are taken against --data-root, by default the YAML's folder)")
        splits[split] = f"tasks/{task_id}/{split}.jsonl"
        shutil.copyfile(src, out / splits[split])
        sizes[split] = sum(1 for line in (out / splits[split]).read_text().splitlines() if line.strip())
    rel_yaml = f"tasks/{task_id}/{task_id}.yaml"
    spec["dataset_kwargs"] = {**spec["dataset_kwargs"], "data_files": splits}
    (out / rel_yaml).write_text(yaml.safe_dump(spec, sort_keys=False))
    return TaskEntry(id=task_id, family=task_id, kind="imported", description=f"imported from {yaml_path.name}",
                     prompt_prefix="", splits=splits, sizes=sizes, lm_eval_yaml=rel_yaml,
                     lm_eval_task=spec.get("task", task_id), source=f"imported from {yaml_path.name}",
                     base_accuracy={})


def _import_expert(folder: Path, task: str, base_file: Path, out: Path, vocab: VocabRule) -> ExpertEntry:
    expert_id, fmt = folder.name, expert_format(folder)
    dst = out / "experts" / expert_id
    recipe: dict = {"imported": True}
    if fmt == "lora":
        _copy(ADAPTER_FILES, folder, dst)
    else:
        _copy(("config.json", "generation_config.json"), folder, dst)
        if _same_shapes(folder / "model.safetensors", base_file):
            shutil.copyfile(folder / "model.safetensors", dst / "model.safetensors")
        else:
            recipe["vocab"] = {"rule": vocab, "truncated": align_expert_file(folder / "model.safetensors", base_file,
                                                                               dst / "model.safetensors", vocab)}
    return ExpertEntry(id=expert_id, task=task, format=fmt, path=f"experts/{expert_id}", recipe=recipe,
                       final_loss=None, accuracy={})


def _same_shapes(a: Path, b: Path) -> bool:
    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        return set(fa.keys()) == set(fb.keys()) and all(
            fa.get_slice(k).get_shape() == fb.get_slice(k).get_shape() for k in fa.keys())


def import_suite(out: Path, name: str, base: Path, experts: list[tuple[str, Path]], tasks: list[Path],
                 data_root: Path | None = None, tokenizer: Path | None = None, prompting: Prompting | None = None,
                 vocab: VocabRule = "refuse", version_: str = "0.1.0", description: str = "",
                 *, measure_base: Callable[[Path], Manifest]) -> Manifest:
    """Build a suite folder at `out` from local files; `experts` holds (task id, folder) in suite order.
    `measure_base(out)` writes the base's accuracies into the manifest (required: merges read them)."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SuiteImportError(f"{out}: not empty; import into a new folder")
    if expert_format(base) != "full":
        raise SuiteImportError(f"{base}: the base must be a full model folder with model.safetensors")
    task_ids = [p.stem for p in tasks]
    for task, folder in experts:
        if task not in task_ids:
            raise SuiteImportError(f"expert {folder}: task {task!r} is not among the task YAMLs "
                                   f"({', '.join(task_ids)})")
    _copy(FULL_FILES, base, out / "base")
    _copy(TOKENIZER_FILES, tokenizer or base, out / "tokenizer")
    task_entries = [_import_task(p, Path(data_root) if data_root else p.parent, out) for p in tasks]
    expert_entries = [_import_expert(Path(f), t, out / "base" / "model.safetensors", out, vocab) for t, f in experts]
    pairs = [PairEntry(id=f"{a.id}__{b.id}", expert_a=a.id, expert_b=b.id)
             for a, b in combinations(expert_entries, 2) if a.task != b.task]
    files = [file_entry(out, p) for p in sorted(out.rglob("*")) if p.is_file()]
    manifest = Manifest(
        name=name, version=version_, description=description or f"imported from local folders ({base.name} and "
        f"{len(experts)} experts)", recipe={"imported": {"vocab": vocab}}, tokenizer="tokenizer", base="base",
        prompting=prompting or Prompting(), files=files, tasks=task_entries, experts=expert_entries, pairs=pairs,
        build=BuildInfo(wall_seconds=round(time.perf_counter() - started, 1), torch=torch.__version__,
                        transformers=version("transformers"), peft=version("peft"), threads=torch.get_num_threads(),
                        platform=platform.machine()))
    write_manifest(out, manifest)
    manifest = measure_base(out)
    problems = verify(out, manifest)
    if problems:  # cannot happen unless the folder changed while importing
        raise SuiteImportError(f"{out}: the imported suite does not verify: {'; '.join(problems)}")
    return manifest

