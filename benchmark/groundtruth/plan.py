"""What a declared suite will cost before anything is downloaded: the job plan, the bytes, the GPU-hours.

The job plan is the grid's own count (`benchmark.groundtruth.jobs.count_jobs`) on the declared
experts and pairs. Bytes are derived from the architecture (parameters × dtype size), never
guessed file sizes. Compute comes from a cost model measured on a bundled suite's committed ground
truth (`smol` by the CLI's default; a least-squares fit of seconds = fixed + per-example × examples
over its jobs) and scaled to the declared model by stated assumptions, which the plan prints with
its numbers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ..merging import get_method
from ..suite.build.declared import DTYPE_BYTES, Architecture, DeclaredSpec, DeclaredSuiteError
from ..suite.registry import load_suite
from .dataset import BUNDLED_ROOT
from .jobs import count_jobs, partner_groups
from ..lazy_import import LazyName

LlamaConfig = LazyName("transformers", "LlamaConfig")  # the CLI imports this module; transformers loads on use

# Stated GPU assumptions (not measured: no GPU here). A100-80GB dense bf16 peak is 312 TFLOP/s;
# batched greedy generation on vLLM is assumed to sustain a quarter of it.
GPU_NAME = "A100-80GB"
GPU_PEAK_FLOPS = 312e12
GPU_UTILISATION = 0.25
# weights moved per job (read the merge inputs, load the merged model): assumed 2 GB/s from local NVMe
LOAD_BYTES_PER_SECOND = 2e9
DEV_EXAMPLES = 100  # EvalSettings.dev_limit: tuning jobs score at most this many dev examples per task


@dataclass(frozen=True)
class MeasuredCost:
    """seconds = fixed + per_example × examples, fitted over the measured suite's jobs on this machine."""

    suite: str
    parameters: int
    jobs: int
    fixed_seconds: float
    seconds_per_example: float
    tokens_per_example: float

    @property
    def flops_per_second(self) -> float:
        """This machine's effective rate: 2 FLOPs per parameter per token."""
        return 2 * self.parameters * self.tokens_per_example / self.seconds_per_example


def measure_cost(ground_truth: Path, suite) -> MeasuredCost:
    """The fit over the seconds each job of `suite`'s committed ground truth (in `ground_truth`) recorded."""
    records = [json.loads(line)["record"] for line in (ground_truth / "jobs.jsonl").read_text().splitlines()]
    examples = np.array([sum(s["n"] for s in r["scores"].values()) for r in records], dtype=float)
    seconds = np.array([r["seconds"] for r in records])
    slope, intercept = np.polyfit(examples, seconds, 1)
    return MeasuredCost(suite.name, measured_parameters(suite), len(records), float(intercept), float(slope),
                        measured_tokens_per_example(suite))


def measured_parameters(suite) -> int:
    """The suite's base parameter count (`Architecture.parameters`) from the config.json its tokenizer
    folder carries, so the cost model never needs the base's weights."""
    c = LlamaConfig.from_pretrained(str(suite.root / suite.manifest.tokenizer))
    return Architecture(vocab=c.vocab_size, hidden=c.hidden_size, intermediate=c.intermediate_size,
                        layers=c.num_hidden_layers, heads=c.num_attention_heads, kv_heads=c.num_key_value_heads,
                        tied_embeddings=c.tie_word_embeddings, source=f"{suite.name}'s config.json").parameters()


def measured_tokens_per_example(suite) -> float:
    """Mean prompt tokens of the suite's test examples plus its generation cap."""
    tokenizer = suite.tokenizer()
    lengths = [len(tokenizer(prompt)["input_ids"]) for t in suite.manifest.tasks
               for prompt, _ in suite.examples(t.id, "test")]
    return float(np.mean(lengths)) + suite.manifest.prompting.max_new_tokens


@dataclass(frozen=True)
class Plan:
    name: str
    experts: int
    tasks: int
    pairs: int
    groups: int
    methods: list[str]
    jobs: int
    examples: int
    base_bytes: int
    expert_bytes: int
    gpu_hours: float
    lines: list[str]


def _grid_view(spec: DeclaredSpec):
    """The declared suite in the shape the grid's planning functions read (ids, tasks, pairs)."""
    s = spec.suite
    pairs = [SimpleNamespace(id=f"{a}__{b}", expert_a=a, expert_b=b) for a, b in s.expert_pairs()]
    return SimpleNamespace(name=s.name, manifest=SimpleNamespace(tasks=s.tasks, experts=s.experts, pairs=pairs))


def examples_scored(spec: DeclaredSpec, methods, groups) -> int:
    """Examples every job of the grid scores: denominators on all tasks, merges on their experts' tasks
    (test), tuning candidates on dev (at most DEV_EXAMPLES per task)."""
    s = spec.suite
    size = {t.id: t.examples for t in s.tasks}
    task_of = {e.id: e.task for e in s.experts}
    total = (1 + len(s.experts)) * sum(size.values())
    units = [(a, b) for a, b in s.expert_pairs()] + [g.experts for g in groups]
    for experts in units:
        test = sum(size[task_of[e]] for e in experts)
        dev = sum(min(size[task_of[e]], DEV_EXAMPLES) for e in experts)
        for m in methods:
            n = len(m.candidates())
            total += test + (n * dev if n > 1 else 0)
    return total


def plan_suite(spec: DeclaredSpec, measured: MeasuredCost) -> Plan:

    s = spec.suite
    view = _grid_view(spec)
    try:
        methods = [get_method(m) for m in s.methods]
    except KeyError as err:
        raise DeclaredSuiteError(f"{spec.path}: field methods: {err.args[0]}") from err
    groups = list({g.experts: g for g in partner_groups(view)}.values())  # a repeated group is one job per method
    jobs = count_jobs(view, methods, groups)
    examples = examples_scored(spec, methods, groups)
    arch = s.base.architecture
    params = arch.parameters()
    base_bytes = params * DTYPE_BYTES[s.base.dtype]
    expert_bytes = sum(s.adapter_shape.parameters(arch) * DTYPE_BYTES[s.adapter_shape.dtype] if e.format == "lora"
                       else arch.parameters(e.vocab_rows) * DTYPE_BYTES[s.base.dtype] for e in s.experts)
    tokens = s.cost.prompt_tokens + s.cost.generated_tokens
    gpu_rate = GPU_PEAK_FLOPS * GPU_UTILISATION
    compute_seconds = examples * tokens * 2 * params / gpu_rate
    load_seconds = jobs * 2 * base_bytes / LOAD_BYTES_PER_SECOND
    gpu_hours = (compute_seconds + load_seconds) / 3600
    cpu_seconds_per_example = measured.seconds_per_example * (params / measured.parameters) * (
        tokens / measured.tokens_per_example)
    lines = [
        f"suite {s.name} v{s.version}: {len(s.experts)} experts on {len(s.tasks)} tasks, base {s.base.repo}",
        f"job plan: {len(view.manifest.pairs)} pairs + {len(groups)} partner groups × {len(methods)} methods "
        f"({', '.join(s.methods)}) + {1 + len(s.experts)} denominators = {jobs:,} jobs scoring {examples:,} examples",
        f"download: base {base_bytes / 1e9:.2f} GB + experts {expert_bytes / 1e9:.2f} GB = "
        f"{(base_bytes + expert_bytes) / 1e9:.2f} GB (estimate: parameters from the declared architecture "
        f"({params:,} for the base) × dtype bytes; exact sizes are locked on first fetch)",
        f"GPU-hours: {gpu_hours:,.1f} on one {GPU_NAME} GPU ({compute_seconds / 3600:,.1f} h scoring + "
        f"{load_seconds / 3600:,.1f} h moving weights)",
        "cost model:",
        f"  measured here: {measured.jobs} jobs of the committed {measured.suite} ground truth "
        f"({measured.parameters / 1e6:.1f}M parameters, vLLM on 2 CPU cores, bf16) fit "
        f"seconds = {measured.fixed_seconds:.2f} + {measured.seconds_per_example * 1e3:.2f} ms × examples; "
        f"at {measured.tokens_per_example:.1f} tokens per example (mean prompt + generation cap) this machine runs "
        f"{measured.flops_per_second / 1e9:.1f} GFLOP/s effective (vLLM's prefix cache reuses shared prompt "
        "prefixes, so this is a rate per scored token, not the hardware's)",
        f"  scaled on this CPU the declared model would take {cpu_seconds_per_example:.1f} s per example "
        f"(× {examples:,} examples = {examples * cpu_seconds_per_example / 3600 / 24:,.0f} CPU-days)",
        f"  assumption: FLOPs per token = 2 × parameters; {tokens} tokens per example "
        f"({s.cost.prompt_tokens} prompt + {s.cost.generated_tokens} generated: {s.cost.basis})",
        f"  assumption: one {GPU_NAME} sustains {GPU_UTILISATION:.0%} of its {GPU_PEAK_FLOPS / 1e12:.0f} TFLOP/s bf16 "
        f"peak = {gpu_rate / 1e12:.0f} TFLOP/s ({gpu_rate / measured.flops_per_second:,.0f}× this machine)",
        f"  assumption: every job moves twice the base's bytes at {LOAD_BYTES_PER_SECOND / 1e9:.0f} GB/s "
        "(merge inputs read, merged weights loaded into the engine)",
        f"  examples per task: {', '.join(sorted({t.examples_source for t in s.tasks}))}",
    ]
    return Plan(s.name, len(s.experts), len(s.tasks), len(view.manifest.pairs), len(groups), list(s.methods), jobs,
                examples, base_bytes, expert_bytes, gpu_hours, lines)


def measured_cost_here(suite_name: str) -> MeasuredCost:
    """The cost model from a bundled suite and its committed ground truth."""
    return measure_cost(BUNDLED_ROOT / suite_name, load_suite(suite_name))
