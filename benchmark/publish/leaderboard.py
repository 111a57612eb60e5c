"""`willitmerge leaderboard`: score every submission (cached results reused) and write `leaderboard/`.

Method submissions run first on every suite with weights (weight averaging before the rest, as
the others' reference), through the ground truth's own grid on one evaluation engine per suite;
predictor submissions then run on every suite; last, predictors that declare `transfer: true` are fit
on every pair of one suite with weights and scored on another's (each ordered pair of them).
Every record the run used is packed into `leaderboard/cache/records.jsonl`, which is
committed, so a fresh clone recomputes only what changed; a long run also writes it every few
minutes and when stopped, so it resumes from the committed pack.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..evaluation import EvalSettings
from ..groundtruth import JOB_PACK, ground_truth_dir, ground_truth_settings, resolve_ground_truth
from ..groundtruth.grid import GridRunner, count_jobs
from ..groundtruth.ray_executor import RayOptions
from ..merging import get_method
from ..predictors.suites import load_prediction_suite
from ..sandbox import Limits, isolation
from ..store import JobStore, checkpointing, default_cache, write_pack
from ..submissions import discover
from ..submissions.loading import load_method
from ..submissions.methods import SubmittedMethod, hidden_from_submissions
from ..submissions.tracks import REFERENCE_METHOD, Entry, run_method, run_predictor, run_transfer, transfer_pending
from ..suite import Suite, SuiteSpec, bundled_suites, find_suite
from .html import render_html
from .markdown import render_markdown
from .results import Results, board, dumps, schema_json, transfer_board

PACK = Path("cache") / "records.jsonl"
FILES = ("README.md", "index.html", "results.json", "results.schema.json", str(PACK))


def _method_of(folder: Path) -> SubmittedMethod | None:
    """The folder's method submission, or None when it does not load (`run_method` reports why)."""
    try:
        return SubmittedMethod.from_folder(folder)
    except Exception:  # noqa: BLE001 - whatever stops it loading, `run_method` turns into its failed row
        return None


def _is_reference(folder: Path) -> bool:
    method = _method_of(folder)
    return method is not None and method.spec() == get_method(REFERENCE_METHOD).spec()


def _suite_order(spec: SuiteSpec) -> tuple:
    return (not spec.has_weights, spec.name)


def build_leaderboard(root: Path = Path("."), out: Path | None = None, cache: Path | None = None,
                      settings: EvalSettings | None = None, limits: Limits = Limits(),
                      suites: list[str | Path] | None = None, show_progress: bool = True,
                      transfers: list[tuple[str, str]] | None = None, ray: RayOptions | None = None) -> Results:
    """Score every submission under `root/submissions` on every suite it declares, and write the
    leaderboard files into `out`.

    `suites` (names or folders) default to every bundled suite: the method track runs on each suite
    with weights, the predictor track on every suite. `cache` holds the job store and the metric
    cache (default `benchmark.store.default_cache()`). A suite's merges are evaluated with the
    settings its ground truth was measured with (so they line up with its jobs) unless `settings`
    are given. `transfers`: (fit-on suite, scored-on suite) names among `suites`, by default every
    ordered pair of suites with weights. With `ray`, the evaluations of registry and mergekit method
    submissions are computed on a Ray cluster first (`evaluate_on_ray`); the rest runs here."""
    root = Path(root).resolve()
    out = Path(out or root / "leaderboard").resolve()
    cache = Path(cache or default_cache())
    specs = sorted((find_suite(s) for s in suites) if suites else bundled_suites(), key=_suite_order)
    # the ground truth's own job packs hold most method-track evaluations; the leaderboard packs the rest
    truth_packs = tuple(p for s in specs if s.has_weights and (p := ground_truth_dir(s.open(), cache) / JOB_PACK).is_file())
    store = JobStore(cache / "jobs", packs=(out / PACK, *truth_packs))
    hidden = hidden_from_submissions(cache, specs) + [out]
    methods = sorted(discover(root / "submissions", "methods"), key=lambda f: (not _is_reference(f), f.name))
    predictors = discover(root / "submissions", "predictors")
    weight_suites = [s for s in specs if s.has_weights]
    by_name = {s.name: s for s in specs}
    if transfers is None:
        transfers = [(a.name, b.name) for a in weight_suites for b in weight_suites if a is not b]
    unknown = sorted({n for pair in transfers for n in pair} - set(by_name))
    if unknown:
        raise ValueError(f"transfers name suites that are not being scored: {', '.join(unknown)}")
    transfer_boards = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    boards, evaluation = [], {}
    # a long run (smol's method track takes about an hour) leaves what it finished in the pack every few
    # minutes and when it is stopped; records it has not reached yet stay in the pack meanwhile
    checkpoint = functools.partial(write_pack, out / PACK, [store], skip=truth_packs, keep=(out / PACK,))
    if ray is not None:
        for spec in weight_suites:
            suite = spec.open()
            evaluate_on_ray(suite, settings or ground_truth_settings(suite, cache) or EvalSettings(), store,
                            [f for f in methods if _declares(f, spec)], ray, show_progress)

    def advance(_=None):
        bar.advance(job)
        tick()

    with checkpointing(checkpoint) as tick:
        with Progress(*columns, disable=not show_progress) as bar:
            total = sum(count_jobs(s.open(), [SubmittedMethod.from_folder(f)]) for s in weight_suites for f in methods
                        if _declares(f, s)) + len(predictors) * (len(specs) + len(transfers))
            job = bar.add_task("leaderboard", total=total)
            for spec in weight_suites:
                suite = spec.open()
                suite_settings = settings or ground_truth_settings(suite, cache) or EvalSettings()
                evaluation[spec.name] = suite_settings.fingerprint()
                runner = GridRunner(suite, suite_settings, store)
                try:
                    entries, reference = [], None
                    for folder in methods:
                        bar.update(job, description=f"method {folder.name} on {spec.name}")
                        entry, rows = run_method(folder, suite, runner, limits, hidden, reference, advance=advance)
                        if reference is None and rows is not None and _is_reference(folder):
                            reference = rows
                        entries.append(entry)
                finally:
                    runner.close()
                boards.append(board("methods", spec.name, spec.version, entries))
            for spec in specs:
                truth = _truth(spec, cache)
                missing = _missing_ground_truth(spec, cache)
                entries = []
                for folder in predictors:
                    bar.update(job, description=f"predictor {folder.name} on {spec.name}")
                    if missing:
                        entries.append(Entry("predictors", spec.name, folder.name, {}, "incomplete", missing))
                    else:
                        entries.append(run_predictor(folder, spec, truth, store, limits, hidden, cache))
                    advance()
                boards.append(board("predictors", spec.name, spec.version, entries))
            for train, test in transfers:
                pending = transfer_pending([by_name[train], by_name[test]], cache)
                load_train, load_test, entries = _truth(by_name[train], cache), _truth(by_name[test], cache), []
                for folder in predictors:
                    bar.update(job, description=f"predictor {folder.name}: {train} -> {test}")
                    if not pending:
                        entry = run_transfer(folder, by_name[train], by_name[test], load_train, load_test, store,
                                             limits, hidden, cache)
                        entries += [entry] if entry is not None else []
                    advance()
                transfer_boards.append(transfer_board(train, test, entries, pending, boards))
    results = Results(evaluation=evaluation, sandbox=isolation().describe(), boards=boards,
                      transfer=transfer_boards)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(dumps(results))
    (out / "results.schema.json").write_text(schema_json())
    (out / "README.md").write_text(render_markdown(results))
    (out / "index.html").write_text(render_html(results))
    write_pack(out / PACK, [store], skip=truth_packs)
    return results


def evaluate_on_ray(suite: Suite, settings: EvalSettings, store: JobStore, folders: list[Path], ray: RayOptions,
                    show_progress: bool = True) -> None:
    """Fill the store with the evaluations of the method submissions that name a registered method or a
    mergekit template, merged and scored on Ray actors (keyed by the submission, as `run_method` keys
    them). Entry-point submissions are left to the local run: their code runs only in the sandbox. Jobs
    that fail on Ray are left to it too, which reports them in the submission's row."""
    from ..groundtruth.ray_executor import GridFailed, fill_store_on_ray

    methods = [m for f in folders if (m := _method_of(f)) is not None
               and (m.submission.registry is not None or m.submission.mergekit is not None)]
    if not methods:
        return
    try:
        fill_store_on_ray(suite, methods, settings, store, ray, show_progress=show_progress,
                          merge_with=lambda candidate: load_method(candidate.folder, dict(candidate.params)))
    except GridFailed as err:
        warnings.warn(f"{err}\nthe local run retries them", stacklevel=2)


def _truth(spec: SuiteSpec, cache: Path):
    """The suite with its targets, loaded on first call (only a cache miss needs it)."""
    return functools.cache(lambda: load_prediction_suite(spec.root, cache, show_progress=False))


def _declares(folder: Path, spec: SuiteSpec) -> bool:
    method = _method_of(folder)
    return method is not None and spec.name in method.submission.suites


def _missing_ground_truth(spec: SuiteSpec, cache: Path) -> str | None:
    """Why a suite with weights cannot score predictors yet (its ground truth is not computed), or None."""
    if not spec.has_weights:
        return None
    try:
        resolve_ground_truth(spec.root, cache)
    except FileNotFoundError as err:
        return str(err)
    return None
