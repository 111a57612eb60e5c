"""The sandboxed merge worker: `python -m benchmark.submissions.method_worker FD`.

It imports the submission's code (never the harness), merges the experts it is asked for with
the parameters it is given, and writes the merged weights as safetensors into the scratch
folder; the harness checks and evaluates them. It sees the suite, not the ground truth.
A request without experts only loads the suite, so that loading it (and starting Python) is not
counted in the first merge: the harness measures each request's wall clock and memory itself
(`benchmark.sandbox`), and this process reports nothing about its own cost.
Merges run on one thread: for small models, torch's thread pool costs more than it saves, and
one thread makes the measured seconds per merge depend less on what else the machine runs.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file

from ..merging import merge_experts
from ..sandbox import serve
from ..suite import load_suite
from .loading import load_method


def main() -> None:
    torch.set_num_threads(1)
    suites = {}

    def handle(message: dict) -> dict:
        suite = suites.get(message["suite"]) or suites.setdefault(message["suite"], load_suite(message["suite"]))
        if "experts" not in message:
            return {"loaded": suite.name}
        method = load_method(Path(message["folder"]), message["params"])
        merged = merge_experts(suite, method, message["experts"])
        save_file({k: v.contiguous() for k, v in merged.items()}, message["out"])
        return {"written": message["out"]}

    serve(handle)


if __name__ == "__main__":
    main()
