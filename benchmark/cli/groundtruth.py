"""`willitmerge groundtruth`: compute a suite's ground truth."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from ..evaluation import BACKENDS, DEFAULT_BACKEND, DEVICES, EvalSettings, placed, select_device
from ..groundtruth import DEFAULT_METHODS, JOB_PACK, compute_ground_truth, ground_truth_dir, signal_table
from ..groundtruth.ray_executor import GridFailed
from ..merging import get_method
from .common import (ADDRESS_HELP, CACHE_HELP, EXECUTOR_HELP, SUITE_HELP, _load, _ray_options, app, console,
                     use_cache)


@app.command("groundtruth")
def groundtruth(
    suite: str = typer.Option("tiny", "--suite", help=SUITE_HELP),
    methods: list[str] = typer.Option(None, "--methods", help="merge methods (repeatable); default: all registered"),
    backend: str = typer.Option(None, "--backend", help="vllm or hf; default: the faster one here (see README)"),
    out: Path = typer.Option(None, "--out", help="write the dataset here (default: the bundled location for a "
                                                  "bundled suite, else CACHE/groundtruth/NAME-SHA)"),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    limit: int = typer.Option(None, "--limit", help="score only the first N test examples per task (quick look)"),
    jobs: int = typer.Option(None, "--jobs", min=1, help="local: worker processes, each with its own engine "
                                                          "(default 1); ray: actors (default: one per GPU, else one "
                                                          "per CPU of the cluster)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: str = typer.Option(None, "--address", help=ADDRESS_HELP),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto: cuda when torch sees a GPU (and, for "
                                                          "vllm, the CUDA build `vllm` is installed)"),
    tensor_parallel_size: int = typer.Option(None, "--tensor-parallel-size", min=1,
                                             help="GPUs per vLLM engine; default: the fewest that hold the base "
                                                  "(README: GPU)"),
) -> None:
    """Merge every pair with every method, score with lm-eval, write the ground-truth tables (resumable)."""
    cache = use_cache(cache)
    the_suite = _load(suite)
    ray = _ray_options(executor, address, jobs)
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        console.print(f"[red]error:[/red] --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    try:
        chosen = [get_method(m) for m in (methods or DEFAULT_METHODS)]
    except KeyError as err:
        console.print(f"[red]error:[/red] --methods: {err.args[0]}")
        raise typer.Exit(2) from err
    if device not in ("auto", *DEVICES):
        console.print(f"[red]error:[/red] --device {device!r}: choose auto or one of {', '.join(DEVICES)}")
        raise typer.Exit(2)
    try:
        settings = EvalSettings(backend=backend, limit=limit,
                                device=select_device(backend) if device == "auto" else device)
        settings = placed(settings, the_suite) if tensor_parallel_size is None else \
            dataclasses.replace(settings, tensor_parallel_size=tensor_parallel_size)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    target = out or ground_truth_dir(the_suite, cache)
    try:
        tables = compute_ground_truth(the_suite, chosen, settings, cache, target, jobs=jobs or 1,
                                      pack=target / JOB_PACK, ray=ray)
    except GridFailed as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    signal = signal_table(tables["pairs"], tables["tasks"], tables["models"])
    console.print(signal.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    console.print(f"wrote {target}")
