"""The `willitmerge` command line: thin wrappers over the package's Python API."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .suite import RECIPES, ManifestError, ResultSuiteError, SuiteNotFound, bundled_suites, find_suite
from .suite.declared import DeclaredSuiteError, declared_suites, find_declared

app = typer.Typer(help="willitmerge: a benchmark and leaderboard for model mergeability.", no_args_is_help=True)
suite_app = typer.Typer(help="List, inspect, verify and build suites of experts.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")
console = Console(soft_wrap=True)


@app.callback()
def _third_party_logs(verbose: bool = typer.Option(False, "--verbose", "-v",
                                                   help="also show vLLM's and transformers' INFO logs")) -> None:
    """A normal run shows our progress and third-party warnings and errors only: vLLM's INFO lines (one
    per weight swap) bury them. vLLM reads its level from the environment, in its engine processes too."""
    level = "INFO" if verbose else "WARNING"
    os.environ.setdefault("VLLM_LOGGING_LEVEL", level)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", level.lower())


# the suites `submit new` declares by default: small and bundled
QUICK_SUITES = {"predictor": ["tiny", "demystifying-vitb16"], "method": ["tiny"]}
SUITE_HELP = "a suite name (`willitmerge suite list`) or a suite folder"


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
    if not spec.has_weights:
        console.print(f"[red]error:[/red] suite {spec.name!r} holds published results, not weights; this command "
                      "needs a suite with weights")
        raise typer.Exit(2)
    return spec.open()


def suite_summary(suite) -> dict:
    """The manifest summary `suite info --json` prints."""
    m = suite.manifest
    return {
        "name": m.name,
        "version": m.version,
        "description": m.description,
        "base": m.base_source.model_dump() if m.base_source else {"path": m.base},
        "prompting": m.prompting.model_dump(),
        "tasks": [{"id": t.id, "kind": t.kind, "base_test_accuracy": t.base_accuracy.get("test"), "sizes": t.sizes,
                   "source": t.source, "licence": t.licence} for t in m.tasks],
        "experts": [{"id": e.id, "task": e.task, "recipe": e.recipe, "own_task_accuracy": e.accuracy.get(e.task)}
                    for e in m.experts],
        "pairs": {"count": len(m.pairs)},
        "bytes": m.total_bytes,
        "build_wall_seconds": m.build.wall_seconds,
    }


@suite_app.command("list")
def suite_list() -> None:
    """Bundled suites (with weights, or published results), and recipes `suite build` can build."""
    bundled = bundled_suites()
    for spec in bundled:
        suite = spec.open(with_results=False)
        size = (f"{len(suite.manifest.experts)} experts, {len(suite.manifest.pairs)} pairs" if spec.has_weights
                else f"{len(suite.pairs())} pairs, {len(suite.spec.methods)} methods, published results")
        console.print(f"{spec.name}\tv{spec.version}\tbundled {spec.kind}\t{size}")
    for name in sorted(set(RECIPES) - {s.name for s in bundled}):
        console.print(f"{name}\tv{RECIPES[name].version}\trecipe only (build with `willitmerge suite build {name} --out DIR`)")
    for declared in declared_suites():
        d = declared.suite
        console.print(f"{d.name}\tv{d.version}\tdeclared: {len(d.experts)} experts on the Hub "
                      f"(`willitmerge suite fetch {d.name} --dry-run`)")


def _declared(name: str):
    """A declared suite by name or folder, or exit 2 naming those that exist."""
    try:
        spec = find_declared(name)
    except DeclaredSuiteError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    if spec is None:
        console.print(f"[red]error:[/red] no declared suite {name!r}: declared suites are "
                      f"{', '.join(d.suite.name for d in declared_suites())}, or pass a folder holding a declared.yaml")
        raise typer.Exit(2)
    return spec


@suite_app.command("fetch")
def suite_fetch(name: str = typer.Argument(..., help="a declared suite (`willitmerge suite list`) or its folder"),
                dry_run: bool = typer.Option(False, "--dry-run", help="print the job plan, the bytes to download and "
                                             "the GPU-hours expected; download nothing"),
                cache: Path = typer.Option(None, "--cache", help="cache folder (default: ~/.cache/willitmerge)")
                ) -> None:
    """Download a declared suite's base and experts from the Hugging Face Hub, verify them and lock
    their revisions and sha256 (the first fetch resolves what the suite leaves open)."""
    from .store import default_cache
    from .suite.fetch import LOCK_FILE, fetch_declared, suite_cache
    from .groundtruth.plan import measured_cost_here, plan_suite

    spec = _declared(name)
    if dry_run:
        try:
            lines = plan_suite(spec, measured_cost_here()).lines
        except DeclaredSuiteError as err:
            console.print(f"error: {err}", markup=False)
            raise typer.Exit(2) from err
        for line in lines:
            console.print(line, markup=False, highlight=False)
        return
    cache = cache or default_cache()
    try:
        lock = fetch_declared(spec, cache)
    except (ConnectionError, DeclaredSuiteError) as err:
        console.print(f"error: {err}", markup=False)
        raise typer.Exit(1) from err
    console.print(f"{lock.suite}: {len(lock.repos)} repos verified; lock {suite_cache(cache, lock.suite) / LOCK_FILE}")


@suite_app.command("import")
def suite_import(out: Path = typer.Option(..., "--out", help="a new folder for the suite"),
                 name: str = typer.Option(..., "--name", help="the suite's name"),
                 base: Path = typer.Option(..., "--base", help="the base model folder (config.json, "
                                           "model.safetensors)"),
                 experts: list[str] = typer.Option(..., "--expert", help="TASK=FOLDER: a full model folder or a peft "
                                                   "adapter trained on TASK (repeatable, in suite order)"),
                 tasks: list[Path] = typer.Option(..., "--task", help="an lm-eval task YAML with local JSON-lines "
                                                  "data_files (repeatable); its file name is the task id"),
                 data_root: Path = typer.Option(None, "--data-root", help="folder relative data_files are taken "
                                                "against (default: each YAML's folder)"),
                 tokenizer: Path = typer.Option(None, "--tokenizer", help="tokenizer folder (default: the base's)"),
                 vocab: str = typer.Option("refuse", "--vocab", help="experts with more embedding rows than the base: "
                                           "refuse, or truncate-to-base"),
                 prompting: Path = typer.Option(None, "--prompting", help="a JSON file of prompting fields (see "
                                                "benchmark/suite/manifest.py Prompting; default: its defaults)"),
                 backend: str = typer.Option(None, "--backend", help="vllm or hf, to measure the base's accuracy on "
                                             "each task; default: the faster one here")) -> None:
    """Make a suite of your own local models; every command (verify, groundtruth, submit) then takes its folder."""
    from .evaluation import BACKENDS, DEFAULT_BACKEND, EvalSettings, measure_base_accuracy
    from .suite.importer import SuiteImportError, import_suite
    from .suite.manifest import Prompting
    from .suite.vocab import VocabMismatch

    if (backend or DEFAULT_BACKEND) not in BACKENDS:
        console.print(f"[red]error:[/red] --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    if vocab not in ("refuse", "truncate-to-base"):
        console.print(f"[red]error:[/red] --vocab {vocab!r}: choose refuse or truncate-to-base")
        raise typer.Exit(2)
    pairs = [e.partition("=") for e in experts]
    if any(not sep or not task for task, sep, _ in pairs):
        console.print("[red]error:[/red] --expert takes TASK=FOLDER, e.g. --expert add=experts/add-ft")
        raise typer.Exit(2)
    try:
        manifest = import_suite(out, name, base, [(task, Path(folder)) for task, _, folder in pairs], tasks,
                                data_root=data_root, tokenizer=tokenizer, vocab=vocab,
                                measure_base=lambda root: measure_base_accuracy(
                                    root, EvalSettings(backend=backend or DEFAULT_BACKEND)),
                                prompting=Prompting.model_validate_json(prompting.read_text()) if prompting else None)
    except (SuiteImportError, VocabMismatch) as err:
        console.print(f"error: {err}", markup=False)
        raise typer.Exit(1) from err
    console.print(f"imported {manifest.name}: {len(manifest.tasks)} tasks, {len(manifest.experts)} experts, "
                  f"{len(manifest.pairs)} pairs into {out} ({manifest.total_bytes / 1e6:.1f} MB)")


@suite_app.command("info")
def suite_info(name: str = typer.Argument("tiny", help=SUITE_HELP),
               as_json: bool = typer.Option(False, "--json", help="print the summary as JSON")) -> None:
    """Tasks, experts, accuracies, pair count and size of a suite (for a result suite: its source,
    methods, metrics and pairs)."""
    spec = _find(name)
    if not spec.has_weights:
        return _result_suite_info(spec, as_json)
    suite = spec.open()
    summary = suite_summary(suite)
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(f"[bold]{suite.name}[/bold] v{suite.version}: {suite.manifest.description}")
    if suite.manifest.base_source:
        b = suite.manifest.base_source
        console.print(f"base: {b.label} ({b.licence}), from PyPI {b.package}=={b.package_version}, dequantized into "
                      f"the cache on first use (safetensors sha256 {b.safetensors_sha256[:12]}…)")
    tasks = Table("task", "kind", "base test acc", "train/dev/test")
    for t in summary["tasks"]:
        s = t["sizes"]
        tasks.add_row(t["id"], t["kind"], _accuracy(t["base_test_accuracy"]),
                      "/".join(str(s.get(split, "-")) for split in ("train", "dev", "test")))
    console.print(tasks)
    experts = Table("expert", "task", "method", "lr", "steps", "replay", "own-task acc")
    for e in summary["experts"]:
        r = e["recipe"]
        experts.add_row(e["id"], e["task"], *(str(r.get(k, "-")) for k in ("method", "lr", "steps", "replay")),
                        _accuracy(e["own_task_accuracy"]))
    console.print(experts)
    console.print(f"{summary['pairs']['count']} cross-task pairs, {summary['bytes'] / 1e6:.1f} MB, "
                  f"built in {summary['build_wall_seconds']:.0f} s")


def _accuracy(value: float | None) -> str:
    """An accuracy for a table; '-' where the manifest has none (an imported suite before its ground truth)."""
    return "-" if value is None else f"{value:.3f}"


def _result_suite_info(spec, as_json: bool) -> None:
    suite = spec.open(with_results=False)
    summary = {"name": spec.name, "version": spec.version, "kind": spec.kind, "description": suite.spec.description,
               "citation": spec.citation, "licence": suite.spec.licence, "source": suite.spec.source,
               "methods": suite.spec.methods, "targets": suite.spec.targets, "metrics": suite.spec.metrics,
               "pairs": {"count": len(suite.pairs())}}
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    console.print(f"[bold]{spec.name}[/bold] v{spec.version} (published results, no weights): "
                  f"{summary['description']}")
    for key in ("citation", "licence", "source"):
        console.print(f"{key}: {summary[key]}")
    console.print(f"{summary['pairs']['count']} pairs; methods {', '.join(summary['methods'])}; targets "
                  f"{', '.join(summary['targets'])}; {len(summary['metrics'])} precomputed metrics")


@suite_app.command("verify")
def suite_verify(name: str = typer.Argument("tiny", help=SUITE_HELP)) -> None:
    """Re-hash every file of a suite against its manifest (or suite.yaml); exit 1 naming any that differ."""
    spec = _find(name)
    suite = spec.open(with_results=False)
    problems = suite.verify()
    if problems:
        for p in problems:
            console.print(f"[red]{spec.root}/{p}[/red]")
        console.print(f"[red]{len(problems)} problem(s)[/red]: restore the files (git checkout) or rebuild the suite")
        raise typer.Exit(1)
    files = suite.manifest.files if spec.has_weights else suite.spec.files
    console.print(f"{spec.name} v{spec.version}: all {len(files)} files match the checksums")


@suite_app.command("build")
def suite_build(name: str = typer.Argument(..., help=f"recipe name: {', '.join(RECIPES)}"),
                out: Path = typer.Option(..., "--out", help="folder to write the suite into (a tiny-style build "
                                         "replaces it; a pretrained-base build resumes in it)"),
                quiet: bool = typer.Option(False, "--quiet", help="no progress bar")) -> None:
    """Build a suite from its recipe (deterministic on one machine)."""
    from .suite.build import build_suite
    from .suite.pretrained_build import build_pretrained_suite
    from .suite.recipe import PretrainedSuiteRecipe

    if name not in RECIPES:
        console.print(f"[red]error:[/red] no recipe {name!r}; recipes: {', '.join(RECIPES)}")
        raise typer.Exit(2)
    recipe = RECIPES[name]
    if isinstance(recipe, PretrainedSuiteRecipe):
        manifest = build_pretrained_suite(recipe, out, show_progress=not quiet)
    else:
        manifest = build_suite(recipe, out, show_progress=not quiet)
    console.print(f"built {manifest.name} v{manifest.version} into {out} in {manifest.build.wall_seconds:.0f} s "
                  f"({manifest.total_bytes / 1e6:.1f} MB)")


@suite_app.command("metrics")
def suite_metrics(name: str = typer.Argument(..., help=SUITE_HELP),
                  cache: Path = typer.Option(None, "--cache", help="metric cache folder (default: ~/.cache/willitmerge)"),
                  quiet: bool = typer.Option(False, "--quiet", help="no progress bar")) -> None:
    """Compute a bundled suite's pair and expert metrics (the predictor track's inputs) and write its
    committed metric pack (resumable: written every few minutes and when stopped)."""
    from .predictors.suites import compute_metric_pack

    try:
        pack = compute_metric_pack(_find(name).root, cache, show_progress=not quiet)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    console.print(f"wrote {pack}")


EXECUTOR_HELP = ("local (this machine's processes) or ray: actors on a Ray cluster, one live engine each, the "
                 "driver the only writer of the job cache (see README, Running on a cluster)")
ADDRESS_HELP = "with --executor ray: the cluster to join (e.g. auto, or ray://HOST:10001); default: start Ray here"


def _ray_options(executor: str, address: str | None, actors: int | None):
    """The Ray executor's options, None for the local one; exit 2 on an unknown executor or a stray --address."""
    from .groundtruth.ray_executor import EXECUTORS, RayOptions

    if executor not in EXECUTORS:
        console.print(f"[red]error:[/red] --executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
        raise typer.Exit(2)
    if executor == "local":
        if address:
            console.print("[red]error:[/red] --address needs --executor ray")
            raise typer.Exit(2)
        return None
    return RayOptions(address=address, actors=actors)


@app.command("groundtruth")
def groundtruth(
    suite: str = typer.Option("tiny", "--suite", help=SUITE_HELP),
    methods: list[str] = typer.Option(None, "--methods", help="merge methods (repeatable); default: all registered"),
    backend: str = typer.Option(None, "--backend", help="vllm or hf; default: the faster one here (see README)"),
    out: Path = typer.Option(None, "--out", help="write the dataset here (default: the bundled location for a "
                                                  "bundled suite, else CACHE/groundtruth/NAME-SHA)"),
    cache: Path = typer.Option(None, "--cache", help="job cache folder (default: ~/.cache/willitmerge)"),
    limit: int = typer.Option(None, "--limit", help="score only the first N test examples per task (quick look)"),
    jobs: int = typer.Option(None, "--jobs", min=1, help="local: worker processes, each with its own engine "
                                                          "(default 1); ray: actors (default: one per GPU, else one "
                                                          "per CPU of the cluster)"),
    executor: str = typer.Option("local", "--executor", help=EXECUTOR_HELP),
    address: str = typer.Option(None, "--address", help=ADDRESS_HELP),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, or auto: cuda when torch sees a GPU (and, for "
                                                          "vllm, the CUDA build `vllm` is installed)"),
    tensor_parallel_size: int = typer.Option(None, "--tensor-parallel-size", min=1,
                                             help="GPUs per vLLM engine; default: the fewest that hold the base "
                                                  "(README: GPU)"),
) -> None:
    """Merge every pair with every method, score with lm-eval, write the ground-truth tables (resumable)."""
    from .evaluation import BACKENDS, DEFAULT_BACKEND, DEVICES, EvalSettings, placed, select_device
    from .groundtruth import DEFAULT_METHODS, JOB_PACK, compute_ground_truth, ground_truth_dir, signal_table
    from .groundtruth.ray_executor import GridFailed
    from .merging import get_method
    from .store import default_cache

    the_suite = _load(suite)
    ray = _ray_options(executor, address, jobs)
    backend = backend or DEFAULT_BACKEND
    if backend not in BACKENDS:
        console.print(f"[red]error:[/red] --backend {backend!r}: choose one of {', '.join(BACKENDS)}")
        raise typer.Exit(2)
    try:
        chosen = [get_method(m) for m in (methods or DEFAULT_METHODS)]
    except KeyError as err:
        console.print(f"[red]error:[/red] --methods: {err.args[0]}")
        raise typer.Exit(2) from err
    if device not in ("auto", *DEVICES):
        console.print(f"[red]error:[/red] --device {device!r}: choose auto or one of {', '.join(DEVICES)}")
        raise typer.Exit(2)
    try:
        settings = EvalSettings(backend=backend, limit=limit,
                                device=select_device(backend) if device == "auto" else device)
        settings = placed(settings, the_suite) if tensor_parallel_size is None else \
            dataclasses.replace(settings, tensor_parallel_size=tensor_parallel_size)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    cache = cache or default_cache()
    target = out or ground_truth_dir(the_suite, cache)
    try:
        tables = compute_ground_truth(the_suite, chosen, settings, cache, target, jobs=jobs or 1,
                                      pack=target / JOB_PACK, ray=ray)
    except GridFailed as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(1) from err
    signal = signal_table(tables["pairs"], tables["tasks"], tables["models"])
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
    from .submissions import SubmissionError
    from .submissions.template import write_template

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
    from .submissions import MethodSubmission, SubmissionError, check_submission

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
    from .predictors.harness import UnsupportedSuite, score_predictor, score_update_predictor
    from .predictors.suites import load_prediction_suite
    from .predictors.zero_shot import PredictionsFile
    from .sandbox import Limits
    from .store import JobStore, default_cache
    from .submissions import SubmissionError, check_predictions_file, load_predictor
    from .submissions.methods import hidden_from_submissions
    from .submissions.tracks import run_predictor

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
    from .sandbox import Limits, SubmissionFailed
    from .store import default_cache
    from .submissions.methods import SandboxedMerger, SubmittedMethod, hidden_from_submissions

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


@app.command("leaderboard")
def leaderboard(
    root: Path = typer.Option(Path("."), "--root", help="the checkout holding submissions/ and leaderboard/"),
    out: Path = typer.Option(None, "--out", help="where to write (default: ROOT/leaderboard)"),
    cache: Path = typer.Option(None, "--cache", help="job and metric cache folder (default: ~/.cache/willitmerge)"),
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
    from .publish import build_leaderboard
    from .sandbox import Limits

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


@app.command("publish")
def publish(repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo to upload to, e.g. org/willitmerge"),
            root: Path = typer.Option(Path("."), "--root", help="the checkout holding leaderboard/"),
            suite: str = typer.Option("tiny", "--suite", help=f"whose ground truth to upload: {SUITE_HELP}")) -> None:
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
