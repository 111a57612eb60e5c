"""`blind open`: draw a round from its secret, build it, compute its ground truth, commit to it.

Resumable: a killed run leaves its finished experts and ground-truth jobs sealed in the repository
(written every few minutes from a background thread and at every stage's end), and a rerun with the
same secret, on this machine or a fresh clone, restores them and computes only what is missing. The
commitment is written last; until then nothing of the round exists in clear outside the work folder.
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..evaluation import EvalSettings
from ..groundtruth import DEFAULT_METHODS, compute_ground_truth, ground_truth_dir, ground_truth_settings
from ..merging import get_method
from ..provenance import code_fingerprint
from ..store import CHECKPOINT_SECONDS
from ..suite import Suite, load_suite
from ..suite.build.on_base import build_on_base
from ..suite.build.pretrained import RECORD, build_pretrained_suite
from ..suite.build.recipe import RECIPES, ROUND_SHAPES, PretrainedSuiteRecipe, RoundShape, SuiteRecipe
from .draw import draw_recipe
from .layout import (GROUND_TRUTH, SUITE, BaseSuiteRecord, Commitment, RoundManifest, RoundPaths, Sealer,
                     check_secret, file_records)
from .secret import Secret

JOBS_UNIT = "jobs.jsonl"  # the ground truth's job pack, sealed while the grid runs


def build_code() -> str:
    """What decides a round's files besides its secret: the draw and the builders."""
    return code_fingerprint(draw_recipe, build_on_base, build_pretrained_suite)


@contextmanager
def sealing_every(seconds: float, seal: Callable[[], None]) -> Iterator[None]:
    """Seal from a background thread while a long stage runs, and once more when it ends or is stopped."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(seconds):
            seal()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        seal()


def _expert_units(paths: RoundPaths, recipe) -> list[str]:
    return [f"{SUITE}/experts/{e.id}" for e in recipe.experts]


def _build(paths: RoundPaths, sealer: Sealer, recipe: SuiteRecipe | PretrainedSuiteRecipe, shape: RoundShape,
           show_progress: bool) -> Suite:
    """The round's suite in the work folder, restored or built (smol: expert by expert, each sealed when done)."""
    if sealer.restore(SUITE) and (paths.suite / "manifest.json").is_file():
        return Suite(paths.suite)
    if isinstance(recipe, PretrainedSuiteRecipe):
        for unit in _expert_units(paths, recipe):
            sealer.restore(unit)

        def seal_finished() -> None:
            for unit in _expert_units(paths, recipe):
                if (paths.work / unit / RECORD).is_file():
                    sealer.seal(unit)

        with sealing_every(CHECKPOINT_SECONDS, seal_finished):
            build_pretrained_suite(recipe, paths.suite, show_progress=show_progress)
    else:
        base = load_suite(shape.suite)
        build_on_base(recipe, base.root, RECIPES[shape.suite], paths.suite, show_progress=show_progress)
    sealer.seal(SUITE)
    for unit in _expert_units(paths, recipe):
        sealer.drop(unit)
    return Suite(paths.suite)


def round_settings(base: Suite) -> EvalSettings:
    """A round is scored exactly as its base suite's ground truth was (backend, dtype, batch size)."""
    return ground_truth_settings(base) or EvalSettings()


def restore_ground_truth(paths: RoundPaths, sealer: Sealer) -> Path | None:
    """The round's ground truth where the tracks look for it (the round cache), restored from its seal if
    needed; None before it is computed."""
    out = ground_truth_dir(Suite(paths.suite), paths.cache)
    if not (out / "meta.json").is_file() and sealer.restore(GROUND_TRUTH):
        shutil.copytree(paths.work / GROUND_TRUTH, out, dirs_exist_ok=True)
    return out if (out / "meta.json").is_file() else None


def _ground_truth(paths: RoundPaths, sealer: Sealer, suite: Suite, settings: EvalSettings, show_progress: bool) -> Path:
    restored = restore_ground_truth(paths, sealer)
    if restored is not None:
        return restored
    out = ground_truth_dir(suite, paths.cache)
    sealer.restore(JOBS_UNIT)
    with sealing_every(CHECKPOINT_SECONDS, lambda: paths.jobs_pack.is_file() and sealer.seal(JOBS_UNIT)):
        compute_ground_truth(suite, [get_method(m) for m in DEFAULT_METHODS], settings, paths.cache, out,
                             show_progress=show_progress, pack=paths.jobs_pack)
    shutil.rmtree(paths.work / GROUND_TRUTH, ignore_errors=True)
    shutil.copytree(out, paths.work / GROUND_TRUTH)
    sealer.seal(GROUND_TRUTH)
    return out


def round_manifest(paths: RoundPaths, shape: str, base: BaseSuiteRecord) -> RoundManifest:
    return RoundManifest(round=paths.name, shape=shape, base_suite=base,
                         files=file_records(paths.work, (SUITE, GROUND_TRUTH)))


def open_round(shape_name: str, round_name: str, secret: Secret, root: Path = Path("."), cache: Path | None = None,
               show_progress: bool = True) -> Commitment:
    """Draw, build and compute round `round_name` of shape `shape_name`, and write its commitment."""
    if shape_name not in ROUND_SHAPES:
        raise ValueError(f"no round shape {shape_name!r}; shapes: {', '.join(ROUND_SHAPES)}")
    shape = ROUND_SHAPES[shape_name]
    paths = RoundPaths.of(round_name, root, cache)
    existing = check_secret(paths, secret)
    if existing is not None:
        return existing
    base = load_suite(shape.suite)
    base_record = BaseSuiteRecord(name=base.name, version=base.version, sha256=base.sha256)
    recipe = draw_recipe(secret, round_name, shape)
    sealer = Sealer(paths, secret)
    suite = _build(paths, sealer, recipe, shape, show_progress)
    _ground_truth(paths, sealer, suite, round_settings(base), show_progress)
    manifest = round_manifest(paths, shape.name, base_record)
    commitment = Commitment(
        round=round_name, base_suite=base_record, shape=shape.name, secret_sha256=secret.sha256,
        manifest_sha256=hashlib.sha256(manifest.dumps().encode()).hexdigest(), build_code=build_code(),
        opened=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        experts=len(suite.manifest.experts), tasks=len(suite.manifest.tasks), pairs=len(suite.manifest.pairs))
    paths.public.mkdir(parents=True, exist_ok=True)
    paths.commitment_file.write_text(commitment.model_dump_json(indent=1) + "\n")
    return commitment
