"""`willitmerge blind ...`: open, score, reveal and verify blind rounds (see `benchmark.blind`)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..blind import (BLIND_DIR, ROUND_SHAPES, Secret, SecretError, new_secret, open_round, pool_table,
                     reveal_round, score_round, verify_round)
from ..isolation import Limits
from .common import CACHE_HELP, app, console, use_cache

blind_app = typer.Typer(help="Blind rounds: rank submissions on experts and tasks they could not have seen.",
                        no_args_is_help=True)
app.add_typer(blind_app, name="blind")

SECRET_HELP = "the round's secret (64 hex digits), kept outside the repository (`willitmerge blind secret`)"
ROOT_HELP = "the checkout holding submissions/ and leaderboard/"


def _next_round(root: Path, suite: str) -> str:
    taken = {p.name for p in (root / BLIND_DIR).glob(f"{suite}-r*")}
    return next(f"{suite}-r{n}" for n in range(1, len(taken) + 2) if f"{suite}-r{n}" not in taken)


def _fail(err: Exception, code: int = 2) -> typer.Exit:
    console.print(f"[red]error:[/red] {err}")
    return typer.Exit(code)


@blind_app.command("secret")
def secret(out: Path = typer.Option(..., "--out", help="file to write; keep it outside the repository")) -> None:
    """Write a new random secret (refuses to overwrite one)."""
    if out.exists():
        raise _fail(FileExistsError(f"{out} exists; a secret is never overwritten (it may belong to an open round)"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(new_secret() + "\n")
    out.chmod(0o600)
    console.print(f"wrote {out}")


@blind_app.command("pool")
def pool(suite: str = typer.Argument("smol", help="a base suite with a task pool: smol or tiny")) -> None:
    """The suite's task pool: every family, whether it is published, and the base model's accuracy on it."""
    try:
        console.print(pool_table(suite))
    except ValueError as err:
        raise _fail(err) from err


@blind_app.command("open")
def open_(suite: str = typer.Argument(..., help="the base suite: smol or tiny"),
          secret_file: Path = typer.Option(..., "--secret-file", help=SECRET_HELP),
          round_name: str = typer.Option(None, "--round", help="the round's name (default: SUITE-rN, the next N)"),
          shape: str = typer.Option(None, "--shape", help=f"round size, one of {', '.join(ROUND_SHAPES)} (default: SUITE)"),
          root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
          cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
          ) -> None:
    """Draw a round from the secret, build its experts, compute its ground truth (resumable), commit to it."""
    name = round_name or _next_round(root, suite)
    try:
        commitment = open_round(shape or suite, name, Secret.read(secret_file), root, use_cache(cache))
    except (SecretError, ValueError, FileNotFoundError) as err:
        raise _fail(err) from err
    console.print(f"round {name}: {commitment.experts} experts, {commitment.tasks} tasks, {commitment.pairs} pairs; "
                  f"commit {root / BLIND_DIR / name / 'commitment.json'} before scoring")


@blind_app.command("score")
def score(round_name: str = typer.Argument(..., help="the round, e.g. smol-r1"),
          secret_file: Path = typer.Option(..., "--secret-file", help=SECRET_HELP),
          only: list[str] = typer.Option(None, "--only", help="score only these submission folders (repeatable)"),
          root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
          cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
          time_limit: float = typer.Option(900.0, "--time-limit", help="seconds a submission may take per request"),
          memory_mb: int = typer.Option(8192, "--memory-mb", help="memory (MB) a submission's processes may hold")) -> None:
    """Score every submission first committed before the round opened; publish aggregates only."""
    try:
        scores = score_round(round_name, secret_file, root, use_cache(cache), Limits(time_limit, memory_mb), only or None)
    except (SecretError, ValueError, FileNotFoundError) as err:
        raise _fail(err) from err
    for board in scores.boards:
        console.print(f"[bold]{board.track} on {round_name}[/bold]")
        for row in board.rows:
            figure = "—" if row.primary is None else f"{row.primary:.3f} [{row.primary_ci[0]:.3f}, {row.primary_ci[1]:.3f}]"
            console.print(f"  {row.rank or '-':>2}  {row.name:<28} {figure}  {row.reason or ''}")
    if scores.waiting:
        console.print(f"waiting for the next round: {', '.join(scores.waiting)}")


@blind_app.command("reveal")
def reveal(round_name: str = typer.Argument(...), secret_file: Path = typer.Option(..., "--secret-file", help=SECRET_HELP),
           root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
           cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Publish the secret, the round's suite, ground truth and per-entry predictions."""
    try:
        folder = reveal_round(round_name, secret_file, root, use_cache(cache))
    except (SecretError, ValueError, FileNotFoundError) as err:
        raise _fail(err) from err
    console.print(f"revealed into {folder}; check it with `willitmerge blind verify {round_name}`")


@blind_app.command("verify")
def verify(round_name: str = typer.Argument(...), root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP)) -> None:
    """Check a revealed round against its commitment and recompute every published figure; exit 1 naming what differs."""
    try:
        problems = verify_round(round_name, root)
    except (SecretError, ValueError, FileNotFoundError) as err:
        raise _fail(err, 1) from err
    for problem in problems:
        console.print(f"[red]differs:[/red] {problem}")
    if problems:
        raise typer.Exit(1)
    console.print(f"round {round_name}: commitment, files, task data and every published figure check out")
