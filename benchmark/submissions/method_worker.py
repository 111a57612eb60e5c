"""The sandboxed merge worker: `python -m benchmark.submissions.method_worker FD`.

It imports the submission's code (never the harness), merges the experts it is asked for with
the parameters it is given, and writes the merged weights as safetensors into the scratch
folder; the harness checks and evaluates them. It sees the suite, not the ground truth.
Merges run on one thread: for small models, torch's thread pool costs more than it saves, and
one thread makes the measured seconds per merge depend less on what else the machine runs.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from ..merging import merge_experts
from ..sandbox import peak_rss_mb, serve
from ..suite import load_suite
from .schema import load_method


def main() -> None:
    torch.set_num_threads(1)
    suites = {}

    def handle(message: dict) -> dict:
        suite = suites.get(message["suite"]) or suites.setdefault(message["suite"], load_suite(message["suite"]))
        method = load_method(Path(message["folder"]), message["params"])
        started = time.perf_counter()
        merged = merge_experts(suite, method, message["experts"])
        seconds = time.perf_counter() - started
        save_file({k: v.contiguous() for k, v in merged.items()}, message["out"])
        return {"seconds": round(seconds, 4), "peak_rss_mb": peak_rss_mb()}

    serve(handle)


if __name__ == "__main__":
    main()
