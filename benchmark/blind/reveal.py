"""`blind reveal` publishes a round; `blind verify` lets anyone check it from the repository alone.

The reveal commits the secret, the round's manifest, suite and ground truth, its signal table and every
scored entry's per-pair data, and removes the sealed units. `verify` checks the secret and the manifest
against the commitment made when the round opened, every file against the manifest, redraws the round
from the secret (its tasks, expert recipes and every split's entities: the task data are regenerated in
pure Python, so byte-identical on any machine), checks that the predictors were scored against the
round's own ground truth, and recomputes every published figure (`scores.json`, `signal.json`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..groundtruth import signal_table
from ..suite.build.lexicon import check_pins
from ..suite.build.pretrained import TaskSplits
from ..suite.build.recipe import ROUND_SHAPES, PretrainedSuiteRecipe
from ..suite.build.scratch import TaskData, write_jsonl
from ..suite.build.tasks import FactBank
from ..tracks.entry import Samples
from .draw import draw_recipe
from .figures import BlindScores, blind_board
from .layout import (GROUND_TRUTH, PREDICTIONS, ROUND_MANIFEST, SCORES, SECRET_FILE, SIGNAL, SUITE, RoundManifest,
                     RoundPaths, Sealer, check_secret)
from .opening import restore_ground_truth, round_manifest
from .scoring import SCORING_UNIT
from .secret import Secret


def _signal_json(folder: Path) -> str:
    tables = {t: pd.read_parquet(folder / f"{t}.parquet") for t in ("pairs", "tasks", "models")}
    signal = signal_table(tables["pairs"], tables["tasks"], tables["models"])
    records = [{k: (round(float(v), 6) if isinstance(v, float) and np.isfinite(v) else v) for k, v in row.items()}
               for row in signal.to_dict(orient="records")]
    return json.dumps(records, indent=1, sort_keys=True, default=str) + "\n"


def reveal_round(round_name: str, secret_file: Path, root: Path = Path("."), cache: Path | None = None) -> Path:
    """Publish the round into `leaderboard/blind/ROUND/`; refuses if its files are not the committed ones."""
    secret = Secret.read(secret_file)
    paths = RoundPaths.of(round_name, root, cache)
    commitment = check_secret(paths, secret) or paths.commitment()
    sealer = Sealer(paths, secret)
    if not sealer.restore(SUITE) or restore_ground_truth(paths, sealer) is None:
        raise FileNotFoundError(f"round {round_name!r}: its suite or ground truth is neither in {paths.work} nor sealed")
    manifest = round_manifest(paths, commitment.shape, commitment.base_suite)
    if hashlib.sha256(manifest.dumps().encode()).hexdigest() != commitment.manifest_sha256:
        raise ValueError(f"{paths.work}: the round's files are not the ones {paths.commitment_file} commits to")
    for folder in (SUITE, GROUND_TRUTH):
        shutil.rmtree(paths.public / folder, ignore_errors=True)
        shutil.copytree(paths.work / folder, paths.public / folder)
    (paths.public / ROUND_MANIFEST).write_text(manifest.dumps())
    (paths.public / SIGNAL).write_text(_signal_json(paths.public / GROUND_TRUTH))
    if sealer.restore(SCORING_UNIT):
        scored = json.loads(paths.scoring.read_text())
        predictions = {kind: [{k: e.get(k) for k in ("name", "status", "reason", "samples")} for e in entries]
                       for kind, entries in scored.items()}
        (paths.public / PREDICTIONS).write_text(json.dumps(predictions, indent=1, sort_keys=True) + "\n")
    (paths.public / SECRET_FILE).write_text(secret.text + "\n")
    shutil.rmtree(paths.sealed_dir, ignore_errors=True)
    return paths.public


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _regenerated_tasks(recipe) -> dict[str, bytes]:
    """Every split file of the round's tasks, regenerated from the drawn recipe (pure Python)."""
    if isinstance(recipe, PretrainedSuiteRecipe):
        check_pins()
        splits = {t.name: TaskSplits(t, recipe) for t in recipe.tasks}
    else:
        bank = FactBank.make(recipe.seed, recipe.fact_bank_size)
        splits = {t.name: TaskData(t, recipe.seed, bank) for t in recipe.tasks}
    files = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in splits.items():
            for split in ("train", "dev", "test"):
                path = Path(tmp) / f"{name}-{split}.jsonl"
                write_jsonl(path, getattr(data, split))
                files[f"{SUITE}/tasks/{name}/{split}.jsonl"] = path.read_bytes()
    return files


def _check_targets(public: Path, predictions: dict) -> list[str]:
    """Each predictor's held-out targets must be the round's measured na."""
    pairs = pd.read_parquet(public / GROUND_TRUTH / "pairs.parquet")
    na = {(r.method, r.pair_id): r.na for r in pairs.itertuples()}
    problems = []
    for entry in predictions.get("predictors", []):
        held_out = (entry.get("samples") or {}).get("held_out") or {}
        for method, folds in held_out.items():
            for fold, cell in folds.items():
                measured = np.array([na.get((method, i), np.nan) for i in cell["ids"]], dtype=float)
                if not np.allclose(measured, np.asarray(cell["targets"], dtype=float), atol=1e-9, equal_nan=True):
                    problems.append(f"{PREDICTIONS}: predictors/{entry['name']} {method} fold {fold}: targets are "
                                    f"not the round's measured na ({GROUND_TRUTH}/pairs.parquet)")
    return problems


def _recomputed_scores(round_name: str, published: BlindScores, predictions: dict) -> list[str]:
    boards = [blind_board(board.track, round_name,
                          [(e["name"], e["status"], e["reason"],
                            Samples.model_validate(e["samples"]) if e.get("samples") else None)
                           for e in predictions.get(board.track, [])]) for board in published.boards]
    recomputed = BlindScores(round=round_name, waiting=published.waiting, boards=boards)
    problems = []
    for mine, theirs in zip(recomputed.boards, published.boards):
        rows = {r.name: r for r in mine.rows}
        for row in theirs.rows:
            if rows.get(row.name) != row:
                problems.append(f"{SCORES}: {theirs.track}/{row.name}: published {row.model_dump()} but the revealed "
                                f"data give {rows[row.name].model_dump() if row.name in rows else 'no such entry'}")
        problems += [f"{SCORES}: {theirs.track}/{n}: in the revealed data but not published"
                     for n in sorted(set(rows) - {r.name for r in theirs.rows})]
    return problems


def verify_round(round_name: str, root: Path = Path(".")) -> list[str]:
    """Everything about a revealed round that does not check out, each naming the file; empty when it all does."""
    paths = RoundPaths.of(round_name, root)
    commitment, public = paths.commitment(), paths.public
    if not paths.revealed:
        return [f"{public}: round {round_name!r} is not revealed (no {SECRET_FILE}); only its commitment can be read"]
    secret = Secret.read(public / SECRET_FILE)
    if secret.sha256 != commitment.secret_sha256:
        return [f"{SECRET_FILE}: its sha256 is not the commitment's `secret_sha256`"]
    problems = []
    if _sha256(public / ROUND_MANIFEST) != commitment.manifest_sha256:
        problems.append(f"{ROUND_MANIFEST}: its sha256 is not the commitment's `manifest_sha256`")
    manifest = RoundManifest.model_validate_json((public / ROUND_MANIFEST).read_text())
    listed = {f.path: f for f in manifest.files}
    for path, record in listed.items():
        if not (public / path).is_file():
            problems.append(f"{path}: listed in {ROUND_MANIFEST} but missing")
        elif _sha256(public / path) != record.sha256:
            problems.append(f"{path}: sha256 differs from {ROUND_MANIFEST}")
    extra = sorted(p.relative_to(public).as_posix() for folder in (SUITE, GROUND_TRUTH)
                   for p in (public / folder).rglob("*") if p.is_file())
    problems += [f"{p}: not listed in {ROUND_MANIFEST}" for p in extra if p not in listed]
    recipe = draw_recipe(secret, round_name, ROUND_SHAPES[commitment.shape])
    suite_manifest = json.loads((public / SUITE / "manifest.json").read_text())
    drawn = [json.loads(json.dumps(e.__dict__ | {"id": e.id})) for e in recipe.experts]
    if [e["recipe"] for e in suite_manifest["experts"]] != drawn:
        problems.append(f"{SUITE}/manifest.json: its experts' recipes are not the ones the secret draws")
    for path, data in _regenerated_tasks(recipe).items():
        if not (public / path).is_file() or (public / path).read_bytes() != data:
            problems.append(f"{path}: differs from the task data the secret regenerates")
    if (public / SIGNAL).read_text() != _signal_json(public / GROUND_TRUTH):
        problems.append(f"{SIGNAL}: differs from the signal table recomputed from {GROUND_TRUTH}/")
    if (public / SCORES).is_file():
        predictions = json.loads((public / PREDICTIONS).read_text()) if (public / PREDICTIONS).is_file() else {}
        published = BlindScores.model_validate_json((public / SCORES).read_text())
        problems += _check_targets(public, predictions) + _recomputed_scores(round_name, published, predictions)
    return problems
