"""`willitmerge leaderboard`."""

from __future__ import annotations

from pathlib import Path

import typer

from ..publish import build_leaderboard
from ..isolation import Limits
from .common import ADDRESS_HELP, CACHE_HELP, EXECUTOR_HELP, SUITE_HELP, _find, _ray_options, app, console, use_cache


@app.command("leaderboard")
def leaderboard(
    root: Path = typer.Option(Path("."), "--root", help="the checkout holding submissions/ and leaderboard/"),
    out: Path = typer.Option(None, "--out", help="where to write (default: ROOT/leaderboard)"),
    cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
    suites: list[str] = typer.Option(None, "--suite", help=f"{SUITE_HELP} (repeatable; default: every bundled "
                                                          "suite). The leaderboard written then holds these only"),
    time_limit: float = typer.Option(900.0, "--time-limit", help="seconds a submission may take per request"),
    memory_mb: int = typer.Option(8192, "--memory-mb",
                                  help="memory (MB) a submission's processes may hold together (mapped files not counted)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP + ". Only method submissions naming a "
                                 "registered method or a mergekit template run on Ray; entry-point submissions "
                                 "(sandboxed code), merge costs and predictors run here"),
    address: str = typer.Option(None, "--address", help=ADDRESS_HELP),
    actors: int = typer.Option(None, "--actors", min=1, help="with --executor ray: how many actors (default: one "
                                                              "per GPU, else one per CPU of the cluster)"),
) -> None:
    """Score every submission (reusing cached and committed results) and write the leaderboard."""
    cache = use_cache(cache)
    ray = _ray_options(executor, address, actors)

    if not (root / "submissions").is_dir():
        console.print(f"[red]error:[/red] {root.resolve()} has no submissions/ folder; run from the repository "
                      "root or pass --root")
        raise typer.Exit(2)
    for name in suites or []:
        _find(name)
    results = build_leaderboard(root, out, cache, limits=Limits(time_limit, memory_mb), suites=suites or None, ray=ray)
    for b in results.boards:
        ranked = [r for r in b.rows if r.rank is not None]
        console.print(f"{b.track} on {b.suite}: {len(ranked)} ranked, {len(b.rows) - len(ranked)} unranked; "
                      f"leader {ranked[0].name if ranked else '—'}")
    console.print(f"wrote {(out or root / 'leaderboard').resolve()}")
