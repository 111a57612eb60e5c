"""The `willitmerge` command line: argument parsing and printing over the package's Python API.
One module per command group; importing them registers their commands on `app` in help order."""

from __future__ import annotations

import os
import signal
import sys

from . import suite, groundtruth, submit, board, blind, dataset  # noqa: F401, I001 - registers the commands, in help order
from .common import app

__all__ = ["app", "main"]


def _drop_half_built_finalizers(unraisable) -> None:
    """After a signal, an object whose `__init__` the signal cut short (a progress bar lm-eval was
    opening, say) fails in its `__del__` on the attribute it never set; that says nothing about the run
    and its traceback reads like a crash, so only that case is dropped."""
    cut_short = (issubclass(unraisable.exc_type, AttributeError)
                 and getattr(unraisable.object, "__name__", "") == "__del__")
    if not cut_short:
        sys.__unraisablehook__(unraisable)


def _unwind_on_signal(signum, frame) -> None:
    """`kill` and Ctrl-C unwind the same way: engines shut down and finished ground-truth jobs reach the
    pack (by default SIGTERM kills Python at once and leaves vLLM's engine processes running)."""
    sys.unraisablehook = _drop_half_built_finalizers
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    sys.exit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, _unwind_on_signal)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # an ignored SIGINT stays ignored
        signal.signal(signal.SIGINT, _unwind_on_signal)
    # vLLM on CPU keeps a core for its serving front end by default; the CLI only scores in batch, so
    # every core computes (on 2 cores the default would leave one of them idle)
    os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    app()
