"""`willitmerge suite ...`: list, inspect, verify, build, fetch and import suites."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..evaluation import BACKENDS, DEFAULT_BACKEND, EvalSettings, measure_base_accuracy
from ..groundtruth.plan import measured_cost_here, plan_suite
from ..predictors.suites import compute_metric_pack
from ..suite import SuiteKind, all_suites
from ..suite.build.declared import DeclaredSuiteError, declared_suites, find_declared
from ..suite.build.fetch import LOCK_FILE, fetch_declared, suite_cache
from ..suite.build.importer import SuiteImportError, import_suite
from ..suite.build.pretrained import build_pretrained_suite
from ..suite.build.recipe import RECIPES, PretrainedSuiteRecipe
from ..suite.build.scratch import build_suite
from ..suite.build.vocab import VocabMismatch
from ..suite.manifest import Prompting
from .common import CACHE_HELP, SUITE_HELP, _find, app, console, use_cache

suite_app = typer.Typer(help="List, inspect, verify and build suites of experts.", no_args_is_help=True)
app.add_typer(suite_app, name="suite")


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
    """Every suite of every kind: bundled (with weights, or published results), recipes `suite build` can
    build, and declared suites `suite fetch` can download."""
    for entry in all_suites():
        console.print(f"{entry.name}\tv{entry.version}\t{entry.summary}")


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
                cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
                measured_on: str = typer.Option("smol", "--measured-on", help="with --dry-run: the bundled suite whose "
                                                "committed ground truth's job timings fit the cost model")
                ) -> None:
    """Download a declared suite's base and experts from the Hugging Face Hub, verify them and lock
    their revisions and sha256 (the first fetch resolves what the suite leaves open)."""
    spec = _declared(name)
    if dry_run:
        try:
            lines = plan_suite(spec, measured_cost_here(measured_on)).lines
        except DeclaredSuiteError as err:
            console.print(f"error: {err}", markup=False)
            raise typer.Exit(2) from err
        for line in lines:
            console.print(line, markup=False, highlight=False)
        return
    cache = use_cache(cache)
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
                                             "each task; default: the faster one here"),
                 cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Make a suite of your own local models; every command (verify, groundtruth, submit) then takes its folder."""
    use_cache(cache)
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
               as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
               cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Tasks, experts, accuracies, pair count and size of a suite (for a result suite: its source,
    methods, metrics and pairs)."""
    use_cache(cache)
    spec = _find(name)
    if spec.kind is SuiteKind.RESULTS:
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
def suite_verify(name: str = typer.Argument("tiny", help=SUITE_HELP),
                 cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Re-hash every file of a suite against its manifest (or suite.yaml) and a pinned base against its
    checksums (dequantizing it into the cache if needed); exit 1 naming any that differ."""
    use_cache(cache)
    spec = _find(name)
    suite = spec.open(with_results=False)
    problems = suite.verify()
    if problems:
        for p in problems:
            console.print(f"[red]{spec.root}/{p}[/red]")
        console.print(f"[red]{len(problems)} problem(s)[/red]: restore the files (git checkout) or rebuild the suite")
        raise typer.Exit(1)
    files = suite.manifest.files if spec.kind is SuiteKind.WEIGHTS else suite.spec.files
    console.print(f"{spec.name} v{spec.version}: all {len(files)} files match the checksums")


@suite_app.command("build")
def suite_build(name: str = typer.Argument(..., help=f"recipe name: {', '.join(RECIPES)}"),
                out: Path = typer.Option(..., "--out", help="folder to write the suite into (a tiny-style build "
                                         "replaces it; a pretrained-base build resumes in it)"),
                cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
                quiet: bool = typer.Option(False, "--quiet", help="no progress bar")) -> None:
    """Build a suite from its recipe (deterministic on one machine)."""
    use_cache(cache)
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
                  cache: Path = typer.Option(None, "--cache", help=CACHE_HELP),
                  quiet: bool = typer.Option(False, "--quiet", help="no progress bar")) -> None:
    """Compute a bundled suite's pair and expert metrics (the predictor track's inputs) and write its
    committed metric pack (resumable: written every few minutes and when stopped)."""
    cache = use_cache(cache)  # before the suite is found: a suite's pinned base lives in the cache
    try:
        pack = compute_metric_pack(_find(name).root, cache, show_progress=not quiet)
    except ValueError as err:
        console.print(f"[red]error:[/red] {err}")
        raise typer.Exit(2) from err
    console.print(f"wrote {pack}")
