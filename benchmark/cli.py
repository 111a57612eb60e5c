"""The `willitmerge` command line: thin wrappers over the package's Python API."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .suite import RECIPES, bundled_suites, load_suite
from .suite.manifest import ManifestError

app = typer.Typer(help="willitmerge: a benchmark and leaderboard for model mergeability.", no_args_is_help=True)
suite_app = typer.Typer(help="List, inspect, verify and build suites of experts.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")
console = Console(soft_wrap=True)


def _load(name: str):
    try:
        return load_suite(name)
    except (FileNotFoundError, ManifestError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err


def suite_summary(suite) -> dict:
    """The manifest summary `suite info --json` prints."""
    m = suite.manifest
    return {
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "tasks": [{"id": t.id, "kind": t.kind, "base_test_accuracy": t.base_accuracy["test"], "sizes": t.sizes}
                  for t in m.tasks],
        "experts": [{"id": e.id, "task": e.task, "recipe": e.recipe, "own_task_accuracy": e.accuracy[e.task]}
                    for e in m.experts],
        "pairs": {"count": len(m.pairs)},
        "bytes": m.total_bytes,
        "build_wall_seconds": m.build.wall_seconds,
    }


@suite_app.command("list")
def suite_list() -> None:
    """Bundled suites, and recipes `suite build` can build."""
    for name in bundled_suites():
        s = load_suite(name)
        console.print(f"{name}\tv{s.version}\tbundled\t{len(s.manifest.experts)} experts, {len(s.manifest.pairs)} pairs")
    for name in sorted(set(RECIPES) - set(bundled_suites())):
        console.print(f"{name}\tv{RECIPES[name].version}\trecipe only (build with `willitmerge suite build {name} --out DIR`)")


@suite_app.command("info")
def suite_info(name: str = typer.Argument("tiny", help="bundled suite name or a suite folder"),
               as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Tasks, experts, accuracies, pair count and size of a suite."""
    suite = _load(name)
    summary = suite_summary(suite)
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(f"[bold]{suite.name}[/bold] v{suite.version}: {suite.manifest.description}")
    tasks = Table("task", "kind", "base test acc", "train/dev/test")
    for t in summary["tasks"]:
        s = t["sizes"]
        tasks.add_row(t["id"], t["kind"], f"{t['base_test_accuracy']:.3f}", f"{s['train']}/{s['dev']}/{s['test']}")
    console.print(tasks)
    experts = Table("expert", "task", "method", "lr", "steps", "replay", "own-task acc")
    for e in summary["experts"]:
        r = e["recipe"]
        experts.add_row(e["id"], e["task"], r["method"], str(r["lr"]), str(r["steps"]), str(r["replay"]),
                        f"{e['own_task_accuracy']:.3f}")
    console.print(experts)
    console.print(f"{summary['pairs']['count']} cross-task pairs, {summary['bytes'] / 1e6:.1f} MB, "
                  f"built in {summary['build_wall_seconds']:.0f} s")


@suite_app.command("verify")
def suite_verify(name: str = typer.Argument("tiny", help="bundled suite name or a suite folder")) -> None:
    """Re-hash every file of a suite against its manifest; exit 1 naming any that differ."""
    suite = _load(name)
    problems = suite.verify()
    if problems:
        for p in problems:
            console.print(f"[red]{suite.root}/{p}[/red]")
        console.print(f"[red]{len(problems)} problem(s)[/red]: restore the files (git checkout) or rebuild the suite")
        raise typer.Exit(1)
    console.print(f"{suite.name} v{suite.version}: all {len(suite.manifest.files)} files match the manifest")


@suite_app.command("build")
def suite_build(name: str = typer.Argument(..., help=f"recipe name: {', '.join(RECIPES)}"),
                out: Path = typer.Option(..., "--out", help="folder to write the suite into (replaced if present)"),
                quiet: bool = typer.Option(False, "--quiet", help="no progress bar")) -> None:
    """Build a suite from its recipe (deterministic on one machine)."""
    from .suite.build import build_suite

    if name not in RECIPES:
        console.print(f"[red]error:[/red] no recipe {name!r}; recipes: {', '.join(RECIPES)}")
        raise typer.Exit(2)
    manifest = build_suite(RECIPES[name], out, show_progress=not quiet)
    console.print(f"built {manifest.name} v{manifest.version} into {out} in {manifest.build.wall_seconds:.0f} s "
                  f"({manifest.total_bytes / 1e6:.1f} MB)")


@app.command("groundtruth")
def groundtruth(
    suite: str = typer.Option("tiny", "--suite", help="bundled suite name or a suite folder"),
    methods: list[str] = typer.Option(None, "--methods", help="merge methods (repeatable); default: all registered"),
    backend: str = typer.Option(None, "--backend", help="vllm or hf; default: the faster one here (see README)"),
    out: Path = typer.Option(None, "--out", help="write the dataset here (default: the bundled location)"),
    cache: Path = typer.Option(None, "--cache", help="job cache folder (default: ~/.cache/willitmerge)"),
    limit: int = typer.Option(None, "--limit", help="score only the first N test examples per task (quick look)"),
    jobs: int = typer.Option(1, "--jobs", min=1, help="worker processes, each with its own engine"),
) -> None:
    """Merge every pair with every method, score with lm-eval, write the ground-truth tables (resumable)."""
    from .evaluation import BACKENDS, DEFAULT_BACKEND, EvalSettings
    from .groundtruth import DEFAULT_METHODS, compute_ground_truth, signal_table
    from .groundtruth.dataset import BUNDLED_ROOT
    from .groundtruth.store import DEFAULT_CACHE
    from .merging import get_method

    the_suite = _load(suite)
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        console.print(f"[red]error:[/red] --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    try:
        chosen = [get_method(m) for m in (methods or DEFAULT_METHODS)]
    except KeyError as err:
        console.print(f"[red]error:[/red] --methods: {err.args[0]}")
        raise typer.Exit(2) from err
    target = out or BUNDLED_ROOT / the_suite.name
    tables = compute_ground_truth(the_suite, chosen, EvalSettings(backend=backend, limit=limit), cache or DEFAULT_CACHE,
                                  target, jobs=jobs)
    signal = signal_table(tables["pairs"])
    console.print(signal.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    console.print(f"wrote {target}")


@app.command("download")
def download(repo_id: str = typer.Argument(..., help="Hub dataset repo holding a willitmerge ground truth"),
             revision: str = typer.Option(None, "--revision", help="pin a revision (commit sha or tag)")) -> None:
    """Download a Hub-hosted ground truth (the bundled `tiny` one needs no download)."""
    from .groundtruth import fetch_ground_truth

    try:
        path = fetch_ground_truth(repo_id, revision)
    except ConnectionError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    console.print(f"downloaded to {path}")


submit_app = typer.Typer(help="Validate and score submissions.", no_args_is_help=True)
app.add_typer(submit_app, name="submit")


@submit_app.command("check")
def submit_check(path: Path = typer.Argument(..., help="a submissions/predictors/<name> or submissions/methods/<name> folder"),
                 suite: list[str] = typer.Option(None, "--suite", help="score on this suite only (repeatable)"),
                 as_json: bool = typer.Option(False, "--json", help="print the scores as JSON")) -> None:
    """Validate a submission. Predictors: print leave-one-task-out scores (run in this process, so
    only for your own code). Methods: merge one pair in the sandbox and check the weights."""
    from .predictors.harness import UnsupportedSuite, score_predictor, score_update_predictor
    from .predictors.suites import load_prediction_suite
    from .predictors.zero_shot import PredictionsFile
    from .submissions import MethodSubmission, SubmissionError, check_predictions_file, load_predictor, read_submission

    try:
        if isinstance(read_submission(path), MethodSubmission):
            return _check_method(path)
        spec, predictor = load_predictor(path)
    except SubmissionError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    report = {"name": spec.name, "suites": {}}
    for name in suite or spec.suites:
        if name not in spec.suites:
            console.print(f"[red]error:[/red] {path}/submission.yaml: field `suites` does not list {name!r}")
            raise typer.Exit(2)
        data = load_prediction_suite(name, show_progress=not as_json)
        try:
            if isinstance(predictor, PredictionsFile):
                check_predictions_file(predictor, data)
            report["suites"][name] = score_predictor(predictor, data)
            if callable(getattr(predictor, "predict_updates", None)) and data.updates:
                report["suites"][name]["updates"] = score_update_predictor(predictor, data)
        except (UnsupportedSuite, SubmissionError, KeyError, ValueError) as err:
            console.print(f"[red]error:[/red] {spec.name} on {name}: {err}")
            raise typer.Exit(1) from err
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


def _check_method(path: Path) -> None:
    from .groundtruth.store import DEFAULT_CACHE
    from .sandbox import Limits, SubmissionFailed
    from .submissions.methods import SandboxedMerger, SubmittedMethod, hidden_from_submissions

    method = SubmittedMethod.from_folder(path)
    the_suite = _load("tiny")
    pair = the_suite.manifest.pairs[0]
    merger = SandboxedMerger(the_suite, Limits(), hidden_from_submissions(the_suite, DEFAULT_CACHE))
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


@app.command("leaderboard")
def leaderboard(
    root: Path = typer.Option(Path("."), "--root", help="the checkout holding submissions/ and leaderboard/"),
    out: Path = typer.Option(None, "--out", help="where to write (default: ROOT/leaderboard)"),
    cache: Path = typer.Option(None, "--cache", help="job cache folder (default: ~/.cache/willitmerge)"),
    time_limit: float = typer.Option(900.0, "--time-limit", help="seconds a submission may take per request"),
    memory_mb: int = typer.Option(8192, "--memory-mb", help="address-space limit of a submission's process"),
) -> None:
    """Score every submission (reusing cached and committed results) and write the leaderboard."""
    from .groundtruth.store import DEFAULT_CACHE
    from .publish import build_leaderboard
    from .sandbox import Limits

    if not (root / "submissions").is_dir():
        console.print(f"[red]error:[/red] {root.resolve()} has no submissions/ folder; run from the repository "
                      "root or pass --root")
        raise typer.Exit(2)
    results = build_leaderboard(root, out, cache or DEFAULT_CACHE, limits=Limits(time_limit, memory_mb))
    for b in results.boards:
        ranked = [r for r in b.rows if r.rank is not None]
        console.print(f"{b.track} on {b.suite}: {len(ranked)} ranked, {len(b.rows) - len(ranked)} unranked; "
                      f"leader {ranked[0].name if ranked else '—'}")
    console.print(f"wrote {(out or root / 'leaderboard').resolve()}")


@app.command("publish")
def publish(repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo to upload to, e.g. org/willitmerge"),
            root: Path = typer.Option(Path("."), "--root", help="the checkout holding leaderboard/"),
            suite: str = typer.Option("tiny", "--suite", help="whose ground truth to upload")) -> None:
    """Upload the ground truth and the leaderboard to a Hub dataset repo (needs network and a token)."""
    from .publish.hub import publish_to_hub

    try:
        url = publish_to_hub(repo_id, root / "leaderboard", suite)
    except (ConnectionError, FileNotFoundError) as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    console.print(f"published to {url}")


def _with_ci(row: dict, key: str) -> str:
    low, high = row[f"{key}_ci"]
    return f"{row[key]:.3f} [{low:.3f}, {high:.3f}]"


def main() -> None:
    app()
