"""`blind score`: every submission that existed before the round opened, scored on it in the same sandbox.

An entry's submission date is the commit that first added its folder (`git log`), so a folder changed
after the round opened still counts from its first commit, and one never committed waits for the next
round. Method submissions run through the method track and predictors through the predictor track, on
the round's suite with the round's own cache as the harness's, so the public leaderboard's caches are
neither read nor written. The per-entry data stay sealed until the reveal; `scores.json` gets the
aggregates (`figures.py`).
"""

from __future__ import annotations

import datetime
import functools
import json
import subprocess
from pathlib import Path

from ..isolation import Limits
from ..predictors.suites import load_prediction_suite
from ..submissions import discover
from ..suite import find_suite
from ..tracks import Entry, Harness, MethodTrack, PredictorTrack
from .figures import BlindScores, blind_board
from .layout import BLIND_DIR, GROUND_TRUTH, SCORES, SUITE, Commitment, RoundPaths, Sealer, check_secret
from .opening import JOBS_UNIT, restore_ground_truth
from .secret import Secret

SCORING_UNIT = "scoring.json"


def first_commit(folder: Path) -> datetime.datetime | None:
    """When the folder was first added to the repository's history (None if never committed)."""
    folder = Path(folder).resolve()
    found = subprocess.run(["git", "log", "--diff-filter=A", "--format=%cI", "--", "."], cwd=folder,
                           capture_output=True, text=True)
    dates = [datetime.datetime.fromisoformat(line) for line in found.stdout.split()] if found.returncode == 0 else []
    return min(dates) if dates else None


def opened_at(commitment: Commitment) -> datetime.datetime:
    return datetime.datetime.strptime(commitment.opened, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def eligible(folder: Path, commitment: Commitment) -> bool:
    """Whether the submission was committed before the round opened, so it could not have seen it."""
    added = first_commit(folder)
    return added is not None and added < opened_at(commitment)


class OnRound:
    """A track on a blind round: a submission enters it by declaring the round's base suite (it could not
    declare the round, which it has never seen)."""

    base_suite: str

    def known_suites(self) -> list[str]:
        return [self.suite.name, self.base_suite]

    def not_entered(self, spec) -> str | None:
        if self.base_suite not in spec.suites:
            return f"not submitted for suite {self.base_suite!r} (its `suites` field), the round's base"
        return None


class RoundMethodTrack(OnRound, MethodTrack):
    pass


class RoundPredictorTrack(OnRound, PredictorTrack):
    pass


def _hidden(paths: RoundPaths, secret_file: Path) -> tuple[Path, ...]:
    """Besides what every run hides: the secret, the round's own caches, and every other round's work folder."""
    others = [p for p in paths.work.parent.iterdir() if p.is_dir() and p != paths.work] if paths.work.parent.is_dir() else []
    return (Path(secret_file).resolve(), paths.cache, paths.jobs_pack, paths.work / GROUND_TRUTH,
            paths.work / JOBS_UNIT, paths.scoring, paths.public, *others)


def score_round(round_name: str, secret_file: Path, root: Path = Path("."), cache: Path | None = None,
                limits: Limits = Limits(), only: list[str] | None = None, show_progress: bool = True) -> BlindScores:
    """Score every eligible submission under `root/submissions` (or only the folders named in `only`) on the
    round, write `scores.json` and seal the per-entry data for the reveal."""
    secret = Secret.read(secret_file)
    root = Path(root).resolve()
    paths = RoundPaths.of(round_name, root, cache)
    commitment = check_secret(paths, secret)
    if commitment is None:
        paths.commitment()  # raises, naming how to open the round
    sealer = Sealer(paths, secret)
    if not sealer.restore(SUITE):
        raise FileNotFoundError(f"round {round_name!r}: its suite is neither in {paths.work} nor sealed in "
                                f"{paths.sealed_dir}")
    restore_ground_truth(paths, sealer)
    spec = find_suite(paths.suite)
    folders = {kind: [f for f in discover(root / "submissions", kind) if only is None or f.name in only]
               for kind in ("methods", "predictors")}
    waiting = sorted(f"{kind}/{f.name}" for kind, found in folders.items() for f in found if not eligible(f, commitment))
    harness = Harness.open(paths.cache, limits, (spec,), packs=(paths.jobs_pack,),
                           also_hidden=_hidden(paths, secret_file))
    entries: dict[str, list[Entry]] = {"methods": [], "predictors": []}
    with RoundMethodTrack.on(harness, spec) as track:
        track.base_suite = commitment.base_suite.name
        for folder in sorted(folders["methods"], key=lambda f: (not track.is_reference(f), f.name)):
            if f"methods/{folder.name}" not in waiting:
                entries["methods"].append(track.run(folder))
    truth = functools.cache(lambda: load_prediction_suite(spec.root, paths.cache, show_progress=show_progress))
    track = RoundPredictorTrack(harness, spec, truth)
    track.base_suite = commitment.base_suite.name
    for folder in folders["predictors"]:
        if f"predictors/{folder.name}" not in waiting:
            entries["predictors"].append(track.run(folder))
    scores = BlindScores(round=round_name, waiting=waiting, boards=[
        blind_board(kind, round_name, [(e.name, e.status, e.reason, e.samples) for e in found])
        for kind, found in entries.items()])
    paths.scoring.write_text(json.dumps({kind: [e.to_record() for e in found] for kind, found in entries.items()},
                                        indent=1, sort_keys=True) + "\n")
    sealer.seal(SCORING_UNIT)
    (paths.public / SCORES).write_text(scores.dumps())
    return scores


def latest_scored_rounds(root: Path = Path(".")) -> dict[str, tuple[str, BlindScores]]:
    """Per base suite, the most recently opened round that has published scores: the one its boards rank by
    (every entry eligible for an earlier round is eligible for a later one)."""
    found: dict[str, tuple[datetime.datetime, str, BlindScores]] = {}
    for scores_file in sorted((Path(root) / BLIND_DIR).glob(f"*/{SCORES}")):
        paths = RoundPaths.of(scores_file.parent.name, root)
        commitment = paths.commitment()
        opened = opened_at(commitment)
        if commitment.base_suite.name not in found or opened > found[commitment.base_suite.name][0]:
            found[commitment.base_suite.name] = (opened, paths.name,
                                                 BlindScores.model_validate_json(scores_file.read_text()))
    return {suite: (name, scores) for suite, (_, name, scores) in found.items()}
