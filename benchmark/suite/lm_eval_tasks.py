"""lm-eval task YAMLs for a suite's tasks.

The bundled YAML names its data files relative to the suite folder, because lm-eval
resolves relative `data_files` against the current directory; `render_task_dir` writes
copies with absolute paths that `TaskManager(include_path=...)` can index.
"""

from __future__ import annotations

from pathlib import Path

import yaml

SPLITS = ("test", "dev")


def lm_eval_task_name(suite: str, task: str, split: str = "test") -> str:
    return f"{suite}_{task}" if split == "test" else f"{suite}_{task}_{split}"


def task_yaml(suite: str, task: str, data_files: dict[str, str], max_new_tokens: int, split: str = "test") -> str:
    """One generate-until task scored by exact match, zero-shot, greedy, on `split`."""
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
        "target_delimiter": "",
        "generation_kwargs": {"until": ["</s>"], "max_gen_toks": max_new_tokens, "do_sample": False,
                              "temperature": 0.0},
        "metric_list": [{"metric": "exact_match", "aggregation": "mean", "higher_is_better": True}],
        "metadata": {"version": 1.0},
    }
    return yaml.safe_dump(spec, sort_keys=False)


def render_task_dir(suite_root: Path, suite: str, tasks: list[tuple[str, str]], out: Path) -> Path:
    """Write test- and dev-split YAMLs with absolute data paths into `out`.

    `tasks` holds (task id, bundled yaml path relative to the suite root).
    """
    out.mkdir(parents=True, exist_ok=True)
    for task, rel_yaml in tasks:
        spec = yaml.safe_load((suite_root / rel_yaml).read_text())
        files = {s: str((suite_root / p).resolve()) for s, p in spec["dataset_kwargs"]["data_files"].items()}
        for split in SPLITS:
            text = task_yaml(suite, task, files, spec["generation_kwargs"]["max_gen_toks"], split)
            (out / f"{lm_eval_task_name(suite, task, split)}.yaml").write_text(text)
    return out
