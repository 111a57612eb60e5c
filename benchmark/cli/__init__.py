"""The `willitmerge` command line: argument parsing and printing over the package's Python API.
One module per command group; importing them registers their commands on `app` in help order."""

from __future__ import annotations

import os
import signal
import sys

from . import suite, groundtruth, submit, board, blind, dataset  # noqa: F401, I001 - registers the commands, in help order
from .common import app

__all__ = ["app", "main"]


def _exit_on_sigterm(signum, frame) -> None:
    """`kill` unwinds like Ctrl-C: engines shut down and finished ground-truth jobs reach the pack
    (by default Python dies at once and leaves vLLM's engine processes running)."""
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    # vLLM on CPU keeps a core for its serving front end by default; the CLI only scores in batch, so
    # every core computes (on 2 cores the default would leave one of them idle)
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    app()
