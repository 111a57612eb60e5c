"""lm-eval on a live engine whose weights are swapped per merged model.

Starting an engine costs far more than evaluating a 1M-parameter model, so a suite run
builds one engine (vLLM or transformers, both through lm-eval's own model classes) and
replaces its weights in place for each model: vLLM through a worker extension called with
`collective_rpc`, transformers by loading the state dict into the live module.
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from safetensors.torch import save_file

from ..suite import Suite
from ..suite.lm_eval_tasks import lm_eval_task_name
from ..suite.suite import StateDict
from . import vllm_compat

if TYPE_CHECKING:  # only annotations name the settings: their key covers this module's code
    from .settings import EvalSettings

Backend = Literal["vllm", "hf"]
BACKENDS: tuple[Backend, ...] = ("vllm", "hf")
# The faster backend on a 2-core CPU machine for the tiny suite, measured by
# benchmarks/evaluation_speed.py (README: "Performance"); vLLM wins on GPUs and larger models.
DEFAULT_BACKEND: Backend = "hf"
# Prompts of the bundled suites are under 100 tokens; a long context only reserves KV cache.
MAX_MODEL_LEN = 512
Device = Literal["cpu", "cuda"]
DEVICES: tuple[Device, ...] = ("cpu", "cuda")


@dataclass(frozen=True)
class TaskScore:
    """One model on one task: accuracy, its standard error, and per-example correctness in doc order."""

    task: str
    accuracy: float
    stderr: float
    n: int
    correct: tuple[int, ...] = field(repr=False)


class Engine:
    """One lm-eval model for a whole suite run; `evaluate(state)` scores any weights on it."""

    def __init__(self, suite: Suite, settings: EvalSettings, model_dir: Path | None = None):
        self.suite = suite
        self.settings = settings
        self._tmp = tempfile.TemporaryDirectory(prefix="willitmerge-tasks-")
        from lm_eval.tasks import TaskManager

        task_dir = suite.lm_eval_task_dir(Path(self._tmp.name))
        self.task_manager = TaskManager(include_path=str(task_dir), include_defaults=False)
        self._tasks: dict[str, object] = {}
        # weights for a vLLM swap go through a file in memory-backed /dev/shm where there is one
        shm = Path("/dev/shm")
        self._swap_file = str((shm if shm.is_dir() else Path(self._tmp.name)) / f"willitmerge-swap-{os.getpid()}-"
                              f"{id(self)}.safetensors")
        self.lm = self._create(model_dir or suite.base_dir)

    def _create(self, model_dir: Path):
        tokenizer = str(self.suite.root / self.suite.manifest.tokenizer)
        dtype = self.suite.manifest.prompting.dtype  # part of the suite, so the suite's sha256 keys it
        if self.settings.backend == "hf":
            from lm_eval.models.huggingface import HFLM

            return HFLM(pretrained=str(model_dir), tokenizer=tokenizer, device="cpu", dtype=dtype,
                        batch_size=self.settings.batch_size)
        if self.settings.backend == "vllm":
            vllm_compat.install()
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
            from lm_eval.models.vllm_causallms import VLLM

            return VLLM(pretrained=str(model_dir), tokenizer=tokenizer, dtype=dtype,
                        max_model_len=min(self.suite.config.max_position_embeddings, MAX_MODEL_LEN),
                        batch_size=self.settings.batch_size, seed=self.settings.seed,
                        enforce_eager=self.settings.vllm_eager,
                        worker_extension_cls="benchmark.evaluation.worker_extension.WeightSwapExtension")
        raise ValueError(f"unknown backend {self.settings.backend!r}; choose one of {BACKENDS}")

    def load(self, state: StateDict) -> None:
        """Replace the live model's weights; the next `evaluate` scores them."""
        if self.settings.backend == "hf":
            missing, unexpected = self.lm.model.load_state_dict(state, strict=False)
            if unexpected or set(missing) - {"lm_head.weight"}:
                raise ValueError(f"state dict does not fit the suite's model: missing {missing}, unexpected {unexpected}")
            self.lm.model.tie_weights()
        else:
            # Cast here, as vLLM would on loading (round to nearest), to halve the bytes written in bf16.
            dtype = getattr(torch, self.suite.manifest.prompting.dtype)
            save_file({k: v.to(dtype).contiguous() for k, v in state.items()}, self._swap_file)
            try:
                self.lm.model.collective_rpc("swap_weights", args=(self._swap_file,))
            finally:
                os.unlink(self._swap_file)
            self.lm.model.reset_prefix_cache()

    def evaluate(self, tasks: list[str], state: StateDict | None = None,
                 split: Literal["test", "dev"] = "test") -> dict[str, TaskScore]:
        """Score the live model (after loading `state`, if given) on suite task ids.

        The dev split (for tuning) is cut to its first `dev_limit` examples. This calls
        lm-eval's `evaluate`, the loop inside `simple_evaluate`, on Task objects prepared
        once as `simple_evaluate` prepares them: `simple_evaluate` also rebuilds every task
        and collects environment info (a `pip list` subprocess) on each call, which cost
        more than generating the answers of a 1M-parameter model.
        """
        from lm_eval.evaluator import evaluate
        from lm_eval.utils import set_torch_seed

        if state is not None:
            self.load(state)
        names = {t: lm_eval_task_name(self.suite.name, t, split) for t in tasks}
        limit = self.settings.limit if split == "test" else self.settings.dev_limit
        random.seed(self.settings.seed)
        np.random.seed(self.settings.seed)
        set_torch_seed(self.settings.seed)
        # lm-eval draws tqdm bars on stderr for every call; they would drown the caller's own progress bar.
        with contextlib.redirect_stderr(io.StringIO()):
            out = evaluate(lm=self.lm, task_dict={n: self._task(n) for n in names.values()}, limit=limit,
                           log_samples=True, bootstrap_iters=0, verbosity="ERROR")
        scores = {}
        for task, name in names.items():
            samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
            correct = tuple(int(s["exact_match"]) for s in samples)
            n = len(correct)
            acc = sum(correct) / n
            scores[task] = TaskScore(task, acc, math.sqrt(acc * (1 - acc) / max(1, n - 1)), n, correct)
        return scores

    def _task(self, name: str):
        """An lm-eval Task, built once per engine and configured as `simple_evaluate` does (zero-shot, seeded)."""
        if name not in self._tasks:
            from lm_eval.tasks import get_task_dict

            task = get_task_dict([name], self.task_manager)[name]
            if task.get_config("num_fewshot") is None:
                task.set_config(key="num_fewshot", value=0)
            task.set_fewshot_seed(seed=self.settings.seed)
            self._tasks[name] = task
        return self._tasks[name]

    def close(self) -> None:
        """Shut vLLM down explicitly: letting it die at exit can abort the process."""
        if self.settings.backend == "vllm":
            engine = getattr(self.lm.model, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if shutdown:
                shutdown()
        self._tmp.cleanup()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


logging.getLogger("lm_eval").setLevel(logging.ERROR)
