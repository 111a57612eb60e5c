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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..blind.scoring import latest_scored_rounds
from ..evaluation import EvalSettings
from ..groundtruth import JOB_PACK, ground_truth_dir, ground_truth_settings, resolve_ground_truth
from ..groundtruth.jobs import count_jobs
from ..groundtruth.ray_executor import GridFailed, RayOptions, fill_store_on_ray
from ..predictors.suites import load_prediction_suite
from ..isolation import Limits, isolation
from ..store import checkpointing, default_cache, write_pack
from ..submissions import discover
from ..submissions.loading import load_method
from ..submissions.methods import SubmittedMethod
from ..suite import Suite, SuiteSpec, bundled_suites, find_suite
from ..tracks import Entry, Harness, MethodTrack, PredictorTrack, TransferTrack, transfer_pending
from .blind_ranks import rank_on_round
from .html import render_html
from .markdown import render_markdown
from .results import Board, Results, TransferBoard, board, dumps, schema_json, transfer_board

PACK = Path("cache") / "records.jsonl"
FILES = ("README.md", "index.html", "results.json", "results.schema.json", str(PACK))


@dataclass
class Run:
    """One leaderboard run: the suites, the submissions, the harness, and what has been built so far."""

    specs: list[SuiteSpec]
    methods: list[Path]
    predictors: list[Path]
    transfers: list[tuple[str, str]]
    harness: Harness
    settings: EvalSettings | None
    boards: list[Board] = field(default_factory=list)
    transfer_boards: list[TransferBoard] = field(default_factory=list)
    evaluation: dict[str, dict] = field(default_factory=dict)

    @property
    def weight_suites(self) -> list[SuiteSpec]:
        return [s for s in self.specs if s.has_weights]

    def total(self) -> int:
        return sum(count_jobs(s.open(), [SubmittedMethod.from_folder(f)]) for s in self.weight_suites
                   for f in self.methods if _declares(f, s)) + len(self.predictors) * (len(self.specs) + len(self.transfers))


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
    specs = sorted((find_suite(s) for s in suites) if suites else bundled_suites(), key=lambda s: (not s.has_weights, s.name))
    # the ground truth's own job packs hold most method-track evaluations; the leaderboard packs the rest
    truth_packs = tuple(p for s in specs if s.has_weights and (p := ground_truth_dir(s.open(), cache) / JOB_PACK).is_file())
    harness = Harness.open(cache, limits, specs, packs=(out / PACK, *truth_packs), also_hidden=(out,))
    names = [s.name for s in specs if s.has_weights]
    transfers = [(a, b) for a in names for b in names if a != b] if transfers is None else transfers
    unknown = sorted({n for pair in transfers for n in pair} - {s.name for s in specs})
    if unknown:
        raise ValueError(f"transfers name suites that are not being scored: {', '.join(unknown)}")
    run = Run(specs, sorted(discover(root / "submissions", "methods")), discover(root / "submissions", "predictors"),
              transfers, harness, settings)
    # a long run (smol's method track takes hours) leaves what it finished in the pack every few minutes and
    # when it is stopped, on Ray as locally; records it has not reached yet stay in the pack meanwhile
    checkpoint = functools.partial(write_pack, out / PACK, [harness.store], skip=truth_packs, keep=(out / PACK,))
    if ray is not None:
        with checkpointing(checkpoint):
            for spec in run.weight_suites:
                suite = spec.open()
                evaluate_on_ray(suite, settings or ground_truth_settings(suite, cache) or EvalSettings(),
                                harness.store, [f for f in run.methods if _declares(f, spec)], ray, show_progress,
                                checkpoint)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with checkpointing(checkpoint) as tick, Progress(*columns, disable=not show_progress) as bar:
        job = bar.add_task("leaderboard", total=run.total())

        def step(description: str | None = None) -> None:
            if description is not None:
                bar.update(job, description=description)
            else:
                bar.advance(job)
                tick()

        _method_boards(run, step)
        _predictor_boards(run, step)
        _transfer_boards(run, step)
    run.boards = _ranked_on_rounds(root, run.boards)
    results = Results(evaluation=run.evaluation, sandbox=isolation().describe(), boards=run.boards,
                      transfer=run.transfer_boards)
    _write(out, results)
    write_pack(out / PACK, [harness.store], skip=truth_packs)
    return results


def _ranked_on_rounds(root: Path, boards: list[Board]) -> list[Board]:
    """Every board whose suite has a scored blind round, ranked on it (`blind_ranks`)."""
    rounds = latest_scored_rounds(root)
    ranked = []
    for b in boards:
        scored = rounds.get(b.suite)
        blind = None if scored is None else next((x for x in scored[1].boards if x.track == b.track), None)
        ranked.append(b if blind is None else rank_on_round(b, scored[0], blind))
    return ranked


def _method_boards(run: Run, step) -> None:
    """Every suite with weights: its method submissions through one grid runner, the reference first."""
    for spec in run.weight_suites:
        with MethodTrack.on(run.harness, spec, run.settings, advance=lambda _=None: step()) as track:
            run.evaluation[spec.name] = track.runner.settings.fingerprint()
            entries = []
            for folder in sorted(run.methods, key=lambda f: (not track.is_reference(f), f.name)):
                step(f"method {folder.name} on {spec.name}")
                entries.append(track.run(folder))
        run.boards.append(board("methods", spec.name, spec.version, entries))


def _predictor_boards(run: Run, step) -> None:
    for spec in run.specs:
        missing = _missing_ground_truth(spec, run.harness.cache)
        track = PredictorTrack(run.harness, spec, _truth(spec, run.harness.cache))
        entries = []
        for folder in run.predictors:
            step(f"predictor {folder.name} on {spec.name}")
            entries.append(Entry(track="predictors", suite=spec.name, name=folder.name, status="incomplete",
                                 reason=missing) if missing else track.run(folder))
            step()
        run.boards.append(board("predictors", spec.name, spec.version, entries))


def _transfer_boards(run: Run, step) -> None:
    by_name = {s.name: s for s in run.specs}
    for train, test in run.transfers:
        pending = transfer_pending([by_name[train], by_name[test]], run.harness.cache)
        track = TransferTrack(run.harness, by_name[train], by_name[test], _truth(by_name[train], run.harness.cache),
                              _truth(by_name[test], run.harness.cache))
        entries = []
        for folder in run.predictors:
            step(f"predictor {folder.name}: {train} -> {test}")
            if not pending and (entry := track.run(folder)) is not None:
                entries.append(entry)
            step()
        run.transfer_boards.append(transfer_board(train, test, entries, pending, run.boards))


def _write(out: Path, results: Results) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(dumps(results))
    (out / "results.schema.json").write_text(schema_json())
    (out / "README.md").write_text(render_markdown(results))
    (out / "index.html").write_text(render_html(results))


def evaluate_on_ray(suite: Suite, settings: EvalSettings, store, folders: list[Path], ray: RayOptions,
                    show_progress: bool = True, checkpoint: Callable[[], object] = lambda: None) -> None:
    """Fill the store with the evaluations of the method submissions that name a registered method or a
    mergekit template, merged and scored on Ray actors (keyed by the submission, as the method track
    keys them). Entry-point submissions are left to the local run: their code runs only in the sandbox.
    Jobs that fail on Ray are left to it too, which reports them in the submission's row. `checkpoint` runs
    every few minutes of computing."""
    methods = [m for f in folders if (m := _method_of(f)) is not None
               and (m.submission.registry is not None or m.submission.mergekit is not None)]
    if not methods:
        return
    try:
        fill_store_on_ray(suite, methods, settings, store, ray, show_progress=show_progress,
                          merge_with=lambda candidate: load_method(candidate.folder, dict(candidate.params)),
                          checkpoint=checkpoint)
    except GridFailed as err:
        warnings.warn(f"{err}\nthe local run retries them", stacklevel=2)


def _method_of(folder: Path) -> SubmittedMethod | None:
    """The folder's method submission, or None when it does not load (the method track reports why)."""
    try:
        return SubmittedMethod.from_folder(folder)
    except Exception:  # noqa: BLE001 - whatever stops it loading, the method track turns into its failed row
        return None


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
