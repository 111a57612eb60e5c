"""lm-eval task YAMLs for a suite's tasks.

The bundled YAML names its data files relative to the suite folder, because lm-eval
resolves relative `data_files` against the current directory; `render_task_dir` writes
copies with absolute paths that `TaskManager(include_path=...)` can index.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .manifest import Prompting

SPLITS = ("test", "dev")


def lm_eval_task_name(suite: str, task: str, split: str = "test") -> str:
    return f"{suite}_{task}" if split == "test" else f"{suite}_{task}_{split}"


def task_yaml(suite: str, task: str, data_files: dict[str, str], prompting: Prompting, split: str = "test") -> str:
    """One generate-until task scored by exact match, greedy, on `split`; the prompt holds any demonstrations."""
    spec = {
        "task": lm_eval_task_name(suite, task, split),
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {s: data_files[s] for s in SPLITS}},
        "test_split": split,
        "output_type": "generate_until",
        # Plain field names, not Jinja templates: lm-eval compiles a template anew for every
        # document, which cost more than generating the answers.
        "doc_to_text": "prompt",
        "doc_to_target": "answer",
        "target_delimiter": prompting.delimiter,
        "generation_kwargs": {"until": list(prompting.stop), "max_gen_toks": prompting.max_new_tokens,
                              "do_sample": False, "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    if prompting.strip:
        spec["filter_list"] = [{"name": "strip", "filter": [{"function": "remove_whitespace"},
                                                            {"function": "take_first"}]}]
    return yaml.safe_dump(spec, sort_keys=False)


def render_task_dir(suite_root: Path, suite: str, tasks: list[tuple[str, str]], out: Path) -> Path:
    """Write test- and dev-split YAMLs with absolute data paths into `out`.

    `tasks` holds (task id, bundled yaml path relative to the suite root); everything else in
    the bundled YAML is kept as written.
    """
    out.mkdir(parents=True, exist_ok=True)
    for task, rel_yaml in tasks:
        spec = yaml.safe_load((suite_root / rel_yaml).read_text())
        files = {s: str((suite_root / p).resolve()) for s, p in spec["dataset_kwargs"]["data_files"].items()}
        for split in SPLITS:
            name = lm_eval_task_name(suite, task, split)
            rendered = spec | {"task": name, "test_split": split, "dataset_kwargs": {"data_files": files}}
            (out / f"{name}.yaml").write_text(yaml.safe_dump(rendered, sort_keys=False))
    return out
