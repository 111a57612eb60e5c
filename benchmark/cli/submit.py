"""`willitmerge submit new` and `submit check` (one folder, or every folder a pull request changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.table import Table

from ..predictors.suites import load_prediction_suite
from ..publish.check_report import CheckedRow, check_report
from ..publish.results import PRIMARY, SCHEMA_VERSION, Results, board
from ..scoring.records import dump
from ..submissions import (ChangedFolder, GitError, MethodSubmission, PredictorSubmission, SubmissionError,
                           changed_submissions, check_submission)
from ..submissions.methods import SubmittedMethod
from ..submissions.template import write_template
from ..tracks import Entry, Harness, MethodTrack, PredictorTrack
from ..tracks.columns import METHOD_COLUMNS, PER_METHOD_COLUMNS, PREDICTOR_COLUMNS, columns
from ..tracks.methods import MergeCost
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


class Unchecked(Exception):
    """`submit check` cannot run the submission: the message names the file, the field and the fix."""


@dataclass(frozen=True)
class Checked:
    """One submission on one suite after `submit check`, as both printouts read it (one folder's, and a pull
    request's table). `entry`: the track's entry (predictors; methods with --full); `merges` on `pair`: a
    method's quick look; `failure`: why the quick look failed."""

    suite: str
    entry: Entry | None = None
    merges: tuple[tuple[SubmittedMethod, MergeCost], ...] = ()
    pair: str = ""
    failure: str | None = None


def _check(path: Path, specs: list, cache: Path, full: bool, in_process: bool,
           progress: bool) -> tuple[PredictorSubmission | MethodSubmission, list[Checked]]:
    """Validate `path` exactly as the leaderboard does, then run it through the leaderboard's own track on
    each suite it is checked on; Unchecked when it cannot run at all."""
    try:
        spec = check_submission(path, suites=[s.name for s in specs])
    except SubmissionError as err:
        raise Unchecked(str(err)) from err
    for suite_spec in specs:
        if suite_spec.name not in spec.suites:
            raise Unchecked(f"{path}/submission.yaml: field `suites` does not list {suite_spec.name!r}")
    harness = Harness.open(cache, suites=specs)
    if isinstance(spec, MethodSubmission):
        chosen = specs or [s for s in map(_find, spec.suites) if s.has_weights][:1]
        if len(chosen) != 1 or not chosen[0].has_weights:
            raise Unchecked(f"{path}/submission.yaml: field `suites` names no suite with weights" if not chosen
                            else "--suite: a method is checked on one suite with weights")
        return spec, [(_method_row if full else _method_merges)(path, chosen[0], harness)]
    checks = []
    for suite_spec in specs or [_find(name) for name in spec.suites]:
        try:
            truth = load_prediction_suite(suite_spec.root, harness.cache, show_progress=progress)
        except FileNotFoundError as err:
            raise Unchecked(str(err)) from err
        checks.append(Checked(suite_spec.name, entry=score_in_process(path, truth, suite_spec.name) if in_process
                              else PredictorTrack(harness, suite_spec, lambda: truth).run(path)))
    return spec, checks


@submit_app.command("check")
def submit_check(path: Path = typer.Argument(None, help="a submissions/predictors/<name> or submissions/methods/<name> "
                                                        "folder (or --changed-since)"),
                 suite: list[str] = typer.Option(None, "--suite", help=f"{SUITE_HELP}; score on this suite only "
                                                                      "(repeatable; default: the suites it declares)"),
                 cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
                 as_json: bool = typer.Option(False, "--json", help="print the scores as JSON"),
                 in_process: bool = typer.Option(False, "--in-process", help="predictors: run the code in this "
                                                 "process instead of the sandbox (your own code only: tracebacks "
                                                 "and debuggers work)"),
                 full: bool = typer.Option(False, "--full", help="methods: score every pair, exactly as the "
                                           "leaderboard does (minutes on tiny, about an hour on smol), instead of "
                                           "merging one pair per candidate"),
                 changed_since: str = typer.Option(None, "--changed-since", metavar="REF",
                                                   help="instead of PATH: check every submission folder changed "
                                                   "since the git revision REF (the branch's commits since it left "
                                                   "REF, and uncommitted files) and print one Markdown table beside "
                                                   "the board's entries; what a pull request's check runs"),
                 root: Path = typer.Option(Path("."), "--root", help="with --changed-since: the checkout holding "
                                                                     "submissions/ and leaderboard/")) -> None:
    """Validate a submission exactly as the leaderboard does, then run it through the leaderboard's own
    track. Predictors: print leave-one-task-out scores, computed in the leaderboard's sandbox. Methods:
    merge one pair per candidate in the sandbox and check the weights (with --full: its leaderboard row).
    With --changed-since REF: the same for every changed submission folder, as one Markdown table."""
    if (path is None) == (changed_since is None):
        console.print("[red]error:[/red] give a submission folder PATH or --changed-since REF (one of them)")
        raise typer.Exit(2)
    cache = use_cache(cache)
    specs = [_find(name) for name in suite or []]
    if changed_since is not None:
        if as_json or in_process:
            console.print("[red]error:[/red] --changed-since prints a Markdown table and runs every submission in "
                          "the sandbox: drop --json and --in-process")
            raise typer.Exit(2)
        return _check_changed(root, changed_since, specs, cache, full)
    try:
        spec, checks = _check(path, specs, cache, full, in_process, progress=not as_json)
    except Unchecked as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    if isinstance(spec, MethodSubmission):
        return _print_method_row(checks[0], as_json) if full else _print_method_merges(checks[0])
    for checked in checks:
        _exit_unless_complete(checked)
    if as_json:
        print(json.dumps({"name": spec.name, "suites": {c.suite: dump(c.entry.scores) for c in checks}}, indent=1))
        return
    for checked in checks:
        entry = checked.entry
        row = board("predictors", checked.suite, "", [entry]).rows[0]
        console.print(_table(f"{spec.name} on {checked.suite} (leave-one-task-out)", PREDICTOR_COLUMNS, [row]))
        console.print(_table("per merge method", PER_METHOD_COLUMNS, sorted(entry.scores.methods.items())))
        console.print(f"primary (mean per-fold Spearman on na, averaged over methods): {entry.scores.primary:.3f}")


def _exit_unless_complete(checked: Checked) -> Entry:
    """The track's entry when it is complete; else exit 1 with its status and reason."""
    entry = checked.entry
    if entry.status != "complete":
        console.print(f"[red]{entry.status}:[/red] {entry.name} on {checked.suite}: {entry.reason}")
        raise typer.Exit(1)
    return entry


def _table(title: str, spec, rows) -> Table:
    """A `submit check` table from a track's column spec (its `cli` view)."""
    shown = columns(spec, "cli")
    table = Table(*(c.title("cli") for c in shown), title=title)
    for row in rows:
        table.add_row(*(c.text(row) for c in shown))
    return table


def _method_merges(path: Path, suite_spec, harness: Harness) -> Checked:
    """One pair merged by every candidate in the sandbox, the weights checked (the method track's `check`)."""
    with MethodTrack.on(harness, suite_spec) as track:
        checked, failure = track.check(path)
    return Checked(suite_spec.name, merges=tuple(checked), pair=track.opened.manifest.pairs[0].id, failure=failure)


def _print_method_merges(checked: Checked) -> None:
    for candidate, cost in checked.merges:
        console.print(f"{candidate.name} {dict(candidate.params) or ''}: merged {checked.pair} in the sandbox in "
                      f"{cost.seconds:.2f} s (peak {cost.peak_rss_mb:.0f} MB); weights check out")
    if checked.failure is not None:
        console.print(f"[red]failed:[/red] {checked.failure}")
        raise typer.Exit(1)
    console.print(f"spec: {json.dumps(checked.merges[0][0].spec())}; run `willitmerge submit check --full` or "
                  "`willitmerge leaderboard` to score every pair")


def _method_row(path: Path, suite_spec, harness: Harness) -> Checked:
    """The method's leaderboard row on one suite, by the leaderboard's own method track."""
    with MethodTrack.on(harness, suite_spec) as track:
        return Checked(suite_spec.name, entry=track.run(path))


def _print_method_row(checked: Checked, as_json: bool) -> None:
    entry = _exit_unless_complete(checked)
    if as_json:
        print(json.dumps({"name": entry.name, "suites": {checked.suite: dump(entry.scores)}}, indent=1))
        return
    row = board("methods", checked.suite, "", [entry]).rows[0]
    console.print(_table(f"{entry.name} on {checked.suite} (every pair; without the reference's rows)",
                         METHOD_COLUMNS, [row]))



def _committed_board(root: Path) -> Results | None:
    """The board as `leaderboard/results.json` holds it (None when there is none yet); exit 2 when this version
    cannot read it, naming the fix."""
    path = root / "leaderboard" / "results.json"
    if not path.is_file():
        return None
    try:
        return Results.model_validate_json(path.read_text())
    except ValueError as err:
        console.print(f"[red]error:[/red] {path}: not a results.json of schema {SCHEMA_VERSION} "
                      f"({str(err).splitlines()[0]}); regenerate it with `willitmerge leaderboard`")
        raise typer.Exit(2) from err


def _row(folder: str, spec: PredictorSubmission | MethodSubmission, checked: Checked) -> CheckedRow:
    """A pull request table's row from one suite's check, in the words the one-folder printout uses."""
    track = "methods" if isinstance(spec, MethodSubmission) else "predictors"
    common = {"folder": folder, "name": spec.name, "track": track, "suite": checked.suite}
    entry = checked.entry
    if entry is None:  # a method's quick look
        if checked.failure is not None:
            return CheckedRow(**common, outcome="failed", detail=checked.failure)
        slowest = max(checked.merges, key=lambda m: m[1].seconds)[1]
        return CheckedRow(**common, outcome="passed", detail=(
            f"merged `{checked.pair}` in the sandbox with {len(checked.merges)} candidate(s) (slowest "
            f"{slowest.seconds:.2f} s, peak {slowest.peak_rss_mb:.0f} MB); weights check out; not scored here "
            "(`--full` or the leaderboard scores every pair)"))
    if entry.status != "complete":
        return CheckedRow(**common, outcome="failed", detail=f"{entry.status}: {entry.reason}")
    row = board(track, checked.suite, "", [entry]).rows[0]
    return CheckedRow(**common, outcome="passed", detail=PRIMARY[track], primary=row.primary,
                      primary_ci=row.primary_ci)


def _checked_rows(root: Path, changed: ChangedFolder, specs: list, cache: Path, full: bool) -> list[CheckedRow]:
    """One changed folder's rows: `submit check` on each suite, or the one row saying why it was not run."""
    folder, name = changed.path.as_posix(), changed.path.name
    if changed.removed:
        return [CheckedRow(folder, name, None, "", "removed", "this change deletes the folder: nothing to check")]
    if changed.problem is not None:
        return [CheckedRow(folder, name, None, "", "invalid", changed.problem)]
    where = root / changed.path
    try:
        spec, checks = _check(where, specs, cache, full, in_process=False, progress=False)
    except Unchecked as err:  # named from the checkout's root, as the pull request's diff names it
        return [CheckedRow(folder, name, None, "", "invalid", str(err).replace(str(where), folder))]
    return [_row(folder, spec, checked) for checked in checks]


def _check_changed(root: Path, ref: str, specs: list, cache: Path, full: bool) -> None:
    """Every submission folder changed since `ref`, checked as `submit check FOLDER` checks it, printed as one
    Markdown table beside the committed board (on stdout, as a pull request's bot posts it); exit 1 when any
    folder does not pass, 2 when git cannot say what changed."""
    try:
        changed = changed_submissions(root, ref)
    except GitError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    if not changed:
        print(f"**willitmerge submit check**: no submission folder changed since `{ref}`: nothing to check.")
        return
    results = _committed_board(root)
    rows = [row for folder in changed for row in _checked_rows(root, folder, specs, cache, full)]
    print(check_report(ref, rows, results), end="")
    if any(r.outcome in ("failed", "invalid") for r in rows):
        raise typer.Exit(1)
