"""What every command shares: the app, the console, and finding a suite or exiting 2 with the registry's words."""

from __future__ import annotations

import os
from pathlib import Path

import typer
from rich.console import Console

from ..groundtruth.ray_executor import EXECUTORS, RayOptions
from ..store import CACHE_VARIABLE, default_cache
from ..suite import ManifestError, ResultSuiteError, SuiteKind, SuiteNotFound, find_suite

app = typer.Typer(help="willitmerge: a benchmark and leaderboard for model mergeability.", no_args_is_help=True)
console = Console(soft_wrap=True)


@app.callback()
def _third_party_logs(verbose: bool = typer.Option(False, "--verbose", "-v",
                                                   help="also show vLLM's and transformers' INFO logs")) -> None:
    """A normal run shows our progress and third-party warnings and errors only: vLLM's INFO lines (one
    per weight swap) bury them. vLLM reads its level from the environment, in its engine processes too."""
    level = "INFO" if verbose else "WARNING"
    os.environ.setdefault("VLLM_LOGGING_LEVEL", level)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", level.lower())



SUITE_HELP = "a suite name (`willitmerge suite list`) or a suite folder"
CACHE_HELP = ("cache folder: jobs, metrics, dequantized bases, fetched suites (default: $WILLITMERGE_CACHE, else "
              "~/.cache/willitmerge)")


def use_cache(cache: Path | None) -> Path:
    """The run's cache folder, exported as $WILLITMERGE_CACHE: a suite's pinned base, sandboxed workers and
    engine processes find their cache through it, so `--cache X` reaches every path of the run."""
    folder = Path(cache).resolve() if cache else default_cache()
    os.environ[CACHE_VARIABLE] = str(folder)
    return folder


def _find(name: str):
    """The registry's spec of a suite, or exit 2 with the registry's message."""
    try:
        return find_suite(name)
    except (SuiteNotFound, ManifestError, ResultSuiteError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err


def _load(name: str):
    """A suite with weights, or exit 2 naming why not."""
    spec = _find(name)
    if spec.kind is SuiteKind.RESULTS:
        console.print(f"[red]error:[/red] suite {spec.name!r} holds published results, not weights; this command "
                      "needs a suite with weights")
        raise typer.Exit(2)
    return spec.open()

EXECUTOR_HELP = ("local (this machine's processes) or ray: actors on a Ray cluster, one live engine each, the "
                 "driver the only writer of the job cache (see README, Running on a cluster)")
ADDRESS_HELP = "with --executor ray: the cluster to join (e.g. auto, or ray://HOST:10001); default: start Ray here"

def _ray_options(executor: str, address: str | None, actors: int | None):
    """The Ray executor's options, None for the local one; exit 2 on an unknown executor or a stray --address."""
    if executor not in EXECUTORS:
        console.print(f"[red]error:[/red] --executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
        raise typer.Exit(2)
    if executor == "local":
        if address:
            console.print("[red]error:[/red] --address needs --executor ray")
            raise typer.Exit(2)
        return None
    return RayOptions(address=address, actors=actors)
