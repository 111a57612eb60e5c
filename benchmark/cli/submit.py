"""`willitmerge submit new` and `submit check`."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from .common import SUITE_HELP, _find, _load, app, console

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
    from ..submissions import SubmissionError
    from ..submissions.template import write_template

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
                 cache: Path = typer.Option(None, "--cache", help="metric and job cache (default: ~/.cache/willitmerge)"),
                 as_json: bool = typer.Option(False, "--json", help="print the scores as JSON"),
                 in_process: bool = typer.Option(False, "--in-process", help="predictors: run the code in this "
                                                 "process instead of the sandbox (your own code only: tracebacks "
                                                 "and debuggers work)")) -> None:
    """Validate a submission exactly as the leaderboard does, then run it. Predictors: print
    leave-one-task-out scores, computed in the leaderboard's sandbox. Methods: merge one pair per
    candidate in the sandbox and check the weights."""
    from ..submissions import MethodSubmission, SubmissionError, check_submission

    specs = [_find(name) for name in suite or []]
    try:
        spec = check_submission(path, suites=[s.name for s in specs])
    except SubmissionError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    if isinstance(spec, MethodSubmission):
        return _check_method(path, suite, cache)
    report = {"name": spec.name, "suites": {}}
    for suite_spec in specs or [_find(name) for name in spec.suites]:
        if suite_spec.name not in spec.suites:
            console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` does not list {suite_spec.name!r}")
            raise typer.Exit(2)
        report["suites"][suite_spec.name] = _score_predictor(path, suite_spec, cache, in_process, as_json)
    if as_json:
        print(json.dumps(report, indent=1))
        return
    for name, result in report["suites"].items():
        table = Table("method", "target", "mean fold Spearman [95% CI]", "mean fold Pearson [95% CI]",
                      "pooled Spearman [95% CI]", title=f"{spec.name} on {name} (leave-one-task-out)")
        for method, targets in result["methods"].items():
            for target, r in targets.items():
                table.add_row(method, target, _with_ci(r, "mean_fold_spearman"), _with_ci(r, "mean_fold_pearson"),
                              _with_ci(r, "pooled_spearman"))
        for target, avg in result["averages"].items():
            table.add_row("[bold]average[/bold]", target, f"{avg['mean_fold_spearman']:.3f}",
                          f"{avg['mean_fold_pearson']:.3f}", f"{avg['pooled_spearman']:.3f}")
        console.print(table)
        console.print(f"primary (mean per-fold Spearman on na, averaged over methods): {result['primary']:.3f}")
        if "updates" in result:
            avg = result["updates"]["average"]
            console.print(f"per-update S(Δi), pooled leave-one-task-out Spearman averaged over methods: "
                          f"s_acc {avg['s_acc']:.3f}, s_na {avg['s_na']:.3f}")


def _score_predictor(path: Path, suite_spec, cache: Path | None, in_process: bool, quiet: bool) -> dict:
    """A predictor's scores on one suite: by the leaderboard's own `run_predictor` (sandboxed workers,
    the answers checked), or in this process; exit 1 naming why it failed."""
    from ..predictors.harness import UnsupportedSuite, score_predictor, score_update_predictor
    from ..predictors.suites import load_prediction_suite
    from ..predictors.zero_shot import PredictionsFile
    from ..sandbox import Limits
    from ..store import JobStore, default_cache
    from ..submissions import SubmissionError, check_predictions_file, load_predictor
    from ..submissions.methods import hidden_from_submissions
    from ..submissions.tracks import run_predictor

    cache = Path(cache or default_cache())
    try:
        data = load_prediction_suite(suite_spec.root, cache, show_progress=not quiet)
    except FileNotFoundError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    if not in_process:
        entry = run_predictor(path, suite_spec, lambda: data, JobStore(cache / "jobs"), Limits(),
                              hidden_from_submissions(cache, [suite_spec]), cache)
        if entry.status != "complete":
            console.print(f"[red]{entry.status}:[/red] {entry.name} on {suite_spec.name}: {entry.reason}")
            raise typer.Exit(1)
        return entry.scores
    try:
        _, predictor = load_predictor(path)
        if isinstance(predictor, PredictionsFile):
            check_predictions_file(predictor, data)
        scores = score_predictor(predictor, data)
        if callable(getattr(predictor, "predict_updates", None)) and data.updates:
            scores["updates"] = score_update_predictor(predictor, data)
    except (UnsupportedSuite, SubmissionError, KeyError, ValueError) as err:
        console.print(f"[red]error:[/red] {path.name} on {suite_spec.name}: {err}")
        raise typer.Exit(1) from err
    return scores


def _check_method(path: Path, suites: list[str] | None, cache: Path | None) -> None:
    from ..sandbox import Limits, SubmissionFailed
    from ..store import default_cache
    from ..submissions.methods import SandboxedMerger, SubmittedMethod, hidden_from_submissions

    method = SubmittedMethod.from_folder(path, [_find(name).name for name in suites or []])
    names = suites or [s for s in method.submission.suites if _find(s).has_weights][:1]
    if len(names) != 1:
        console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` names no suite with weights"
                      if not names else "[red]error:[/red] --suite: a method is checked on one suite; give one")
        raise typer.Exit(2)
    if _find(names[0]).name not in method.submission.suites:
        console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` does not list "
                      f"{_find(names[0]).name!r}")
        raise typer.Exit(2)
    the_suite = _load(names[0])
    pair = the_suite.manifest.pairs[0]
    merger = SandboxedMerger(the_suite, Limits(), hidden_from_submissions(cache or default_cache(),
                                                                         [_find(names[0])]))
    try:
        for candidate in method.candidates():
            _, cost = merger.merge(candidate, (pair.expert_a, pair.expert_b))
            console.print(f"{method.name} {dict(candidate.params) or ''}: merged {pair.id} in the sandbox in "
                          f"{cost.seconds:.2f} s (peak {cost.peak_rss_mb:.0f} MB); weights check out")
    except SubmissionFailed as err:
        console.print(f"[red]failed:[/red] {err}")
        raise typer.Exit(1) from err
    finally:
        merger.close()
    console.print(f"spec: {json.dumps(method.spec())}; run `willitmerge leaderboard` to score every pair")


def _with_ci(row: dict, key: str) -> str:
    low, high = row[f"{key}_ci"]
    return f"{row[key]:.3f} [{low:.3f}, {high:.3f}]"
