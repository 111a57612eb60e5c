"""Peak memory of the streaming merge against the in-memory `merge()` on a random 1.1B-parameter Llama.

Usage: python benchmarks/merge_memory.py [--layers N] [--dir DIR] [--keep]
Writes a random Llama-2-shaped model (hidden 2048, FFN 5632, 32 heads / 4 KV heads, vocab 32000,
untied output layer: TinyLlama-1.1B's shapes; depth chosen from the free RAM and disk, at most
its 22 layers, 1.1B parameters, about 2 minutes of CPU here) and two experts (base + noise) to
safetensors in bf16, then merges them with weight averaging twice, each in a fresh process:
streamed into a file (`stream_merge`), and in memory (`merge()`, the whole state dict, then
written by the same writer, so only the merge differs). A thread samples /proc/self/status
every 2 ms: RssAnon (the process's own memory), RssFile (memory-mapped input pages, which the
kernel can drop at any time) and VmHWM (the kernel's peak of both). Both outputs are compared
tensor by tensor. The bound checked: streaming's peak anonymous memory above the process's
baseline is at most (2T + 3) fp32 copies of the largest tensor, T experts; see `BOUND`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch
from safetensors import safe_open

from benchmark.merging import get_method, merge
from benchmark.merging.registry import MergeContext
from benchmark.merging.streaming import TensorFile, stream_merge, write_tensors
from benchmark.suite.suite import LazyTensors

HIDDEN, FFN, HEADS, KV_HEADS, VOCAB = 2048, 5632, 32, 4, 32000
EXPERTS = 2
MAX_LAYERS = 22  # TinyLlama-1.1B
# For weight averaging, one tensor's merge holds in fp32: the base, T deltas, one expert being
# converted, the stacked deltas (T), their mean, and base + mean (and its bf16 cast, half a copy).
BOUND = 2 * EXPERTS + 3


def shapes(layers: int) -> dict[str, tuple[int, ...]]:
    kv = HIDDEN // HEADS * KV_HEADS
    out = {"model.embed_tokens.weight": (VOCAB, HIDDEN)}
    for i in range(layers):
        p = f"model.layers.{i}."
        out |= {p + "self_attn.q_proj.weight": (HIDDEN, HIDDEN), p + "self_attn.k_proj.weight": (kv, HIDDEN),
                p + "self_attn.v_proj.weight": (kv, HIDDEN), p + "self_attn.o_proj.weight": (HIDDEN, HIDDEN),
                p + "mlp.gate_proj.weight": (FFN, HIDDEN), p + "mlp.up_proj.weight": (FFN, HIDDEN),
                p + "mlp.down_proj.weight": (HIDDEN, FFN), p + "input_layernorm.weight": (HIDDEN,),
                p + "post_attention_layernorm.weight": (HIDDEN,)}
    return out | {"model.norm.weight": (HIDDEN,), "lm_head.weight": (VOCAB, HIDDEN)}


def n_params(layers: int) -> int:
    return sum(torch.Size(s).numel() for s in shapes(layers).values())


def choose_layers(scratch: Path) -> int:
    """The most layers (≤ MAX_LAYERS) whose in-memory merge (bf16 output + the per-tensor bound) fits
    in half the available RAM and whose five files (3 inputs, 2 outputs) fit in half the free disk."""
    available = int(next(line.split()[1] for line in open("/proc/meminfo") if line.startswith("MemAvailable"))) * 1024
    disk = shutil.disk_usage(scratch).free
    largest = VOCAB * HIDDEN * 4
    layers = 1
    while (layers < MAX_LAYERS and 2 * n_params(layers + 1) + BOUND * largest <= available / 2
           and 5 * 2 * n_params(layers + 1) <= disk / 2):
        layers += 1
    return layers


def write_model(path: Path, layers: int, seed: int, base: Path | None = None) -> None:
    """A random bf16 model, tensor by tensor; with `base`, that model plus noise (an expert)."""
    layout = {name: ("BF16", shape) for name, shape in shapes(layers).items()}
    source = TensorFile(base) if base else None

    def tensors():
        for i, (name, shape) in enumerate(shapes(layers).items()):
            gen = torch.Generator().manual_seed(seed * 100_003 + i)
            noise = torch.randn(shape, generator=gen)
            yield (noise * 0.02 if source is None else source[name].float() + noise * 0.002).to(torch.bfloat16)

    write_tensors(path, layout, tensors())


class Sampler(threading.Thread):
    """Peaks of RssAnon and RssFile, read from /proc/self/status every 2 ms."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = {"RssAnon": 0, "RssFile": 0}
        self.running = True

    @staticmethod
    def status() -> dict[str, int]:
        with open("/proc/self/status") as fh:
            return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in fh)
                    if k in ("RssAnon", "RssFile", "VmHWM")}

    def run(self):
        while self.running:
            now = self.status()
            for key in self.peak:
                self.peak[key] = max(self.peak[key], now[key])
            time.sleep(0.002)


def measure(mode: str, scratch: Path) -> dict:
    """One merge in this process, with its memory peaks (run in a fresh process per mode)."""
    base, experts = scratch / "base.safetensors", [scratch / f"expert{i}.safetensors" for i in range(EXPERTS)]
    method, context = get_method("weight_avg"), MergeContext(tuple(f"e{i}" for i in range(EXPERTS)), (0.5,) * EXPERTS)
    out = scratch / f"merged-{mode}.safetensors"
    baseline = Sampler.status()
    sampler = Sampler()
    sampler.start()
    started = time.perf_counter()
    if mode == "stream":
        stream_merge(method, TensorFile(base), [TensorFile(e) for e in experts], context, out)
    else:
        state = merge(method, LazyTensors(base), [LazyTensors(e) for e in experts], context)
        write_tensors(out, {n: ("BF16", tuple(t.shape)) for n, t in state.items()}, state.values())
    seconds = time.perf_counter() - started
    sampler.running = False
    sampler.join()
    return {"seconds": round(seconds, 1), "baseline_anon": baseline["RssAnon"], "peak_anon": sampler.peak["RssAnon"],
            "peak_file": sampler.peak["RssFile"], "peak_rss": Sampler.status()["VmHWM"]}


def same_tensors(a: Path, b: Path) -> bool:
    with safe_open(str(a), "pt") as fa, safe_open(str(b), "pt") as fb:
        return list(fa.keys()) == list(fb.keys()) and all(torch.equal(fa.get_tensor(k), fb.get_tensor(k))
                                                          for k in fa.keys())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, help="model depth (default: the most that fits, see choose_layers)")
    parser.add_argument("--dir", type=Path, help="scratch folder on disk, not tmpfs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the model files")
    parser.add_argument("--measure", choices=["stream", "memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.dir)))
        return
    scratch = args.dir or Path(tempfile.mkdtemp(prefix="willitmerge-merge-memory-", dir="/var/tmp"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        layers = args.layers or choose_layers(scratch)
        started = time.perf_counter()
        write_model(scratch / "base.safetensors", layers, seed=0)
        for i in range(EXPERTS):
            write_model(scratch / f"expert{i}.safetensors", layers, seed=i + 1, base=scratch / "base.safetensors")
        written = time.perf_counter() - started
        runs = {}
        for mode in ("stream", "memory"):
            command = [sys.executable, __file__, "--measure", mode, "--dir", str(scratch)]
            child = subprocess.run(command, check=True, capture_output=True, text=True,
                                   env=os.environ | {"OMP_NUM_THREADS": "2"})
            runs[mode] = json.loads(child.stdout.strip().splitlines()[-1])
        largest = VOCAB * HIDDEN * 4
        gib = 2 ** 30
        stream_extra = runs["stream"]["peak_anon"] - runs["stream"]["baseline_anon"]
        report = {
            "model": f"random Llama, {layers} layers, hidden {HIDDEN}, FFN {FFN}, vocab {VOCAB}, untied",
            "parameters": n_params(layers), "file_gib_bf16": round(2 * n_params(layers) / gib, 2),
            "experts": EXPERTS, "method": "weight_avg", "seconds_writing_models": round(written, 1),
            "largest_tensor_fp32_gib": round(largest / gib, 3),
            **{f"{mode}_{k}": (round(v / gib, 3) if k != "seconds" else v) for mode, run in runs.items()
               for k, v in run.items()},
            "peak_anon_ratio_memory_over_stream": round(runs["memory"]["peak_anon"] / runs["stream"]["peak_anon"], 2),
            "stream_anon_above_baseline_in_largest_fp32_tensors": round(stream_extra / largest, 2),
            "bound_in_largest_fp32_tensors": BOUND,
            "within_bound": stream_extra <= BOUND * largest,
            "outputs_equal": same_tensors(scratch / "merged-stream.safetensors", scratch / "merged-memory.safetensors"),
        }
        print(json.dumps(report, indent=1))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
