"""`willitmerge submit new` and `submit check`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..predictors.suites import load_prediction_suite
from ..publish.results import board
from ..scoring.records import dump
from ..submissions import MethodSubmission, SubmissionError, check_submission
from ..submissions.template import write_template
from ..tracks import Harness, MethodTrack, PredictorTrack
from ..tracks.columns import METHOD_COLUMNS, PER_METHOD_COLUMNS, PREDICTOR_COLUMNS, columns
from ..tracks.predictors import score_in_process
from .common import CACHE_HELP, SUITE_HELP, _find, app, console, use_cache

# the suites `submit new` declares by default: small and bundled
QUICK_SUITES = {"predictor": ["tiny", "demystifying-vitb16"], "method": ["tiny"]}

submit_app = typer.Typer(help="Validate and score submissions.", no_args_is_help=True)
app.add_typer(submit_app, name="submit")


@submit_app.command("new")
def submit_new(name: str = typer.Argument(..., help="the submission's name (lower case, digits, . _ -)"),
               track: str = typer.Option(..., "--track", help="predictor or method"),
               suites: list[str] = typer.Option(None, "--suite", help="a suite it declares (repeatable; default: the "
                                                                     "quick ones, where a check takes seconds to a "
                                                                     "minute: " + "; ".join(
                                                                         f"{t}s: {', '.join(s)}"
                                                                         for t, s in QUICK_SUITES.items()) + ")"),
               root: Path = typer.Option(Path("."), "--root", help="the checkout holding submissions/")) -> None:
    """Write a working submission folder to start from: a zero-shot predictor or a merge method class,
    its submission.yaml (declared for the quick suites) and a README stub; it passes `submit check`."""

    try:
        folder = write_template(root, name, track, suites or QUICK_SUITES.get(track, []))
    except SubmissionError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    console.print(f"wrote {folder}; edit it, then run `willitmerge submit check {folder}`")


@submit_app.command("check")
def submit_check(path: Path = typer.Argument(..., help="a submissions/predictors/<name> or submissions/methods/<name> folder"),
                 suite: list[str] = typer.Option(None, "--suite", help=f"{SUITE_HELP}; score on this suite only "
                                                                      "(repeatable; default: the suites it declares)"),
                 cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
                 as_json: bool = typer.Option(False, "--json", help="print the scores as JSON"),
                 in_process: bool = typer.Option(False, "--in-process", help="predictors: run the code in this "
                                                 "process instead of the sandbox (your own code only: tracebacks "
                                                 "and debuggers work)"),
                 full: bool = typer.Option(False, "--full", help="methods: score every pair, exactly as the "
                                           "leaderboard does (minutes on tiny, about an hour on smol), instead of "
                                           "merging one pair per candidate")) -> None:
    """Validate a submission exactly as the leaderboard does, then run it through the leaderboard's own
    track. Predictors: print leave-one-task-out scores, computed in the leaderboard's sandbox. Methods:
    merge one pair per candidate in the sandbox and check the weights (with --full: its leaderboard row)."""
    cache = use_cache(cache)
    specs = [_find(name) for name in suite or []]
    try:
        spec = check_submission(path, suites=[s.name for s in specs])
    except SubmissionError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    for suite_spec in specs:
        if suite_spec.name not in spec.suites:
            console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` does not list {suite_spec.name!r}")
            raise typer.Exit(2)
    harness = Harness.open(cache, suites=specs)
    if isinstance(spec, MethodSubmission):
        chosen = specs or [s for s in map(_find, spec.suites) if s.has_weights][:1]
        if len(chosen) != 1 or not chosen[0].has_weights:
            console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` names no suite with weights"
                          if not chosen else "[red]error:[/red] --suite: a method is checked on one suite with weights")
            raise typer.Exit(2)
        return (_method_row if full else _method_merges)(path, chosen[0], harness, as_json)
    entries = {}
    for suite_spec in specs or [_find(name) for name in spec.suites]:
        try:
            truth = load_prediction_suite(suite_spec.root, harness.cache, show_progress=not as_json)
        except FileNotFoundError as err:
            console.print(f"[red]error:[/red] {err}")
            raise typer.Exit(2) from err
        entries[suite_spec.name] = (score_in_process(path, truth, suite_spec.name) if in_process
                                    else PredictorTrack(harness, suite_spec, lambda: truth).run(path))
    for name, entry in entries.items():
        if entry.status != "complete":
            console.print(f"[red]{entry.status}:[/red] {entry.name} on {name}: {entry.reason}")
            raise typer.Exit(1)
    if as_json:
        print(json.dumps({"name": spec.name, "suites": {n: dump(e.scores) for n, e in entries.items()}}, indent=1))
        return
    for name, entry in entries.items():
        row = board("predictors", name, "", [entry]).rows[0]
        console.print(_table(f"{spec.name} on {name} (leave-one-task-out)", PREDICTOR_COLUMNS, [row]))
        console.print(_table("per merge method", PER_METHOD_COLUMNS, sorted(entry.scores.methods.items())))
        console.print(f"primary (mean per-fold Spearman on na, averaged over methods): {entry.scores.primary:.3f}")


def _table(title: str, spec, rows) -> Table:
    """A `submit check` table from a track's column spec (its `cli` view)."""
    shown = columns(spec, "cli")
    table = Table(*(c.title("cli") for c in shown), title=title)
    for row in rows:
        table.add_row(*(c.text(row) for c in shown))
    return table


def _method_merges(path: Path, suite_spec, harness: Harness, as_json: bool) -> None:
    """One pair merged by every candidate in the sandbox, the weights checked (the method track's `check`)."""
    with MethodTrack.on(harness, suite_spec) as track:
        checked, failure = track.check(path)
    pair = track.opened.manifest.pairs[0]
    for candidate, cost in checked:
        console.print(f"{candidate.name} {dict(candidate.params) or ''}: merged {pair.id} in the sandbox in "
                      f"{cost.seconds:.2f} s (peak {cost.peak_rss_mb:.0f} MB); weights check out")
    if failure is not None:
        console.print(f"[red]failed:[/red] {failure}")
        raise typer.Exit(1)
    console.print(f"spec: {json.dumps(checked[0][0].spec())}; run `willitmerge submit check --full` or "
                  "`willitmerge leaderboard` to score every pair")


def _method_row(path: Path, suite_spec, harness: Harness, as_json: bool) -> None:
    """The method's leaderboard row on one suite, by the leaderboard's own method track."""
    with MethodTrack.on(harness, suite_spec) as track:
        entry = track.run(path)
    if entry.status != "complete":
        console.print(f"[red]{entry.status}:[/red] {entry.name} on {suite_spec.name}: {entry.reason}")
        raise typer.Exit(1)
    if as_json:
        print(json.dumps({"name": entry.name, "suites": {suite_spec.name: dump(entry.scores)}}, indent=1))
        return
    row = board("methods", suite_spec.name, "", [entry]).rows[0]
    console.print(_table(f"{entry.name} on {suite_spec.name} (every pair; without the reference's rows)",
                         METHOD_COLUMNS, [row]))
