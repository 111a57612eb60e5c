"""`willitmerge leaderboard`: score every submission (cached results reused) and write `leaderboard/`.

Method submissions run first (weight averaging before the rest, as the others' reference),
on one shared evaluation engine; predictor submissions then run on each predictor suite.
Every record the run used is packed into `leaderboard/cache/records.jsonl`, which is
committed, so a fresh clone recomputes only what changed.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..evaluation import EvalSettings
from ..groundtruth.grid import GridRunner
from ..groundtruth.store import DEFAULT_CACHE, JobStore, write_pack
from ..merging import get_method
from ..predictors.suites import load_prediction_suite
from ..sandbox import Limits, isolation
from ..submissions import discover
from ..submissions.methods import SubmittedMethod, hidden_from_submissions
from ..submissions.schema import SubmissionError
from ..submissions.tracks import REFERENCE_METHOD, run_method, run_predictor
from ..suite import load_suite
from .html import render_html
from .markdown import render_markdown
from .results import Results, board, dumps, schema_json

PACK = Path("cache") / "records.jsonl"
PREDICTOR_SUITES = {"tiny": None, "demystifying-vitb16": "as published (N = 20)"}
FILES = ("README.md", "index.html", "results.json", "results.schema.json", str(PACK))


def _is_reference(folder: Path) -> bool:
    try:
        return SubmittedMethod.from_folder(folder).spec() == get_method(REFERENCE_METHOD).spec()
    except SubmissionError:
        return False


def build_leaderboard(root: Path = Path("."), out: Path | None = None, cache: Path = DEFAULT_CACHE,
                      settings: EvalSettings | None = None, limits: Limits = Limits(), suite_name: str = "tiny",
                      predictor_suites: dict[str, str | None] = PREDICTOR_SUITES, show_progress: bool = True) -> Results:
    """Score every submission under `root/submissions` and write the leaderboard files into `out`.

    `suite_name` is the weight-bearing suite the method track runs on; `predictor_suites` maps
    each predictor-track suite to its version label (None: read from its manifest)."""
    root = Path(root).resolve()
    out = Path(out or root / "leaderboard").resolve()
    settings = settings or EvalSettings()
    store = JobStore(Path(cache) / "jobs", packs=(out / PACK,))
    suite = load_suite(suite_name)
    hidden = hidden_from_submissions(suite, cache) + [out]
    methods = sorted(discover(root / "submissions", "methods"), key=lambda f: (not _is_reference(f), f.name))
    predictors = discover(root / "submissions", "predictors")
    runner = GridRunner(suite, settings, store)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    boards = []
    try:
        with Progress(*columns, disable=not show_progress) as bar:
            job = bar.add_task("leaderboard", total=len(methods) * len(suite.manifest.pairs)
                               + len(predictors) * len(predictor_suites))
            entries, reference = [], None
            for folder in methods:
                bar.update(job, description=f"method {folder.name}")
                done = bar.tasks[0].completed
                entry, rows = run_method(folder, suite, runner, limits, hidden, reference,
                                         advance=lambda: bar.advance(job))
                bar.update(job, completed=done + len(suite.manifest.pairs))
                if reference is None and rows is not None and _is_reference(folder):
                    reference = rows
                entries.append(entry)
            boards.append(board("methods", suite.name, suite.version, entries))
            for suite_id, version in predictor_suites.items():
                truth = functools.cache(lambda s=suite_id: load_prediction_suite(s, show_progress=False))
                entries = []
                for folder in predictors:
                    bar.update(job, description=f"predictor {folder.name} on {suite_id}")
                    entries.append(run_predictor(folder, suite_id, truth, store, limits, hidden, Path(cache)))
                    bar.advance(job)
                boards.append(board("predictors", suite_id, version or load_suite(suite_id).version, entries))
    finally:
        runner.close()
    results = Results(evaluation=settings.fingerprint(), sandbox=isolation().describe(), boards=boards)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(dumps(results))
    (out / "results.schema.json").write_text(schema_json())
    (out / "README.md").write_text(render_markdown(results))
    (out / "index.html").write_text(render_html(results))
    write_pack(out / PACK, [store])
    return results
