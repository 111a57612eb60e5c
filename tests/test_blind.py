"""Blind rounds: a tiny round opened, scored, revealed and verified end to end with a throwaway secret.

The repository under test is a fresh git history holding real submissions (weight averaging, a zero-shot
predictor) and two adversaries: a lookup table of the public ground truth, and a predictor that tries to
read the open round's files. The round is built on the bundled tiny base, its ground truth computed with
the real grid (lm-eval on the tiny suite's backend), its submissions scored in the sandbox.
"""

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.blind import (Secret, SecretError, draw_recipe, new_secret, open_round, reveal_round, score_round,
                             verify_round)
from benchmark.blind.draw import drawable
from benchmark.suite.build.recipe import ROUND_SHAPES
from benchmark.blind.figures import BlindBoard, BlindRow
from benchmark.blind.layout import RoundPaths
from benchmark.groundtruth import load_ground_truth
from benchmark.isolation import isolation
from benchmark.publish import build_leaderboard
from benchmark.publish.blind_ranks import rank_on_round
from benchmark.publish.results import Board, Row
from benchmark.suite.build.pool import task_pool
from benchmark.suite import load_suite

REPOSITORY = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "blind"
ROUND = "tiny-r1"


def test_secret_seals_and_refuses_the_wrong_one(tmp_path):
    secret, other = Secret(new_secret()), Secret(new_secret())
    sealed = secret.seal("r", "unit", b"plain")
    assert b"plain" not in sealed and secret.unseal("r", "unit", sealed, tmp_path) == b"plain"
    with pytest.raises(SecretError, match="cannot be opened"):
        other.unseal("r", "unit", sealed, tmp_path)
    with pytest.raises(SecretError, match="cannot be opened"):  # a unit's file cannot stand in for another's
        secret.unseal("r", "other-unit", sealed, tmp_path)
    (tmp_path / "weak").write_text("password\n")
    with pytest.raises(SecretError, match="64 lowercase hex"):
        Secret.read(tmp_path / "weak")


def test_draw_is_a_function_of_the_secret_and_never_a_published_task():
    secret = Secret("ab" * 32)
    for shape in ROUND_SHAPES.values():
        recipe = draw_recipe(secret, "r", shape)
        assert recipe == draw_recipe(Secret("ab" * 32), "r", shape)
        published = {f.name for f in task_pool(shape.suite) if f.published}
        assert not published & {t.name for t in recipe.tasks}
        assert len({e.task for e in recipe.experts}) == shape.tasks
        assert all(e.tag.startswith("x") and e.method not in e.tag for e in recipe.experts)
    draws = {tuple(t.name for t in draw_recipe(Secret(f"{i:064x}"), "r", ROUND_SHAPES["smol"]).tasks) for i in range(8)}
    assert len(draws) > 1 and len(drawable(ROUND_SHAPES["smol"])) >= 16


def _git(root: Path, *args: str, date: str | None = None) -> None:
    env = os.environ | {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t"}
    if date:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    """A repository with four submissions committed a day ago, and round tiny-r1 opened on it."""
    tmp = tmp_path_factory.mktemp("blind")
    root, cache = tmp / "repo", tmp / "cache"
    for kind, name, source in [("methods", "weight-avg", REPOSITORY / "submissions/methods/weight-avg"),
                               ("predictors", "random", REPOSITORY / "submissions/predictors/random"),
                               ("predictors", "lookup-table", FIXTURES / "lookup-table"),
                               ("predictors", "snooper", FIXTURES / "snooper")]:
        shutil.copytree(source, root / "submissions" / kind / name)
    pairs = load_ground_truth("tiny")
    table = {m: dict(zip(g.pair_id, g.na.astype(float))) for m, g in pairs.groupby("method")}
    (root / "submissions/predictors/lookup-table/table.json").write_text(json.dumps(table))
    shutil.copytree(REPOSITORY / "leaderboard/cache", root / "leaderboard/cache")
    _git(root, "init", "-q")
    _git(root, "add", ".")
    _git(root, "commit", "-qm", "submissions", date="2026-01-01T00:00:00Z")
    secret_file = tmp / "outside" / "secret.txt"
    secret_file.parent.mkdir()
    # A fixed throwaway secret, so the test's round (and every figure on it) is the same on every run. Its draw
    # gives four full fine-tunes at lr 3e-3 (cnt, cpy, dsm, min), which learn a new family in the 400 steps a
    # test affords; a LoRA expert or a gentle one may still be at accuracy 0 there, which leaves na undefined.
    secret_file.write_text(hashlib.sha256(b"willitmerge test round 231").hexdigest() + "\n")
    commitment = open_round("tiny-test", ROUND, Secret.read(secret_file), root, cache, show_progress=False)
    # committed after the round opened: must wait for the next round
    late = root / "submissions/predictors/late"
    shutil.copytree(REPOSITORY / "submissions/predictors/random", late)
    (late / "submission.yaml").write_text((late / "submission.yaml").read_text().replace("name: random", "name: late"))
    return root, cache, secret_file, commitment


def test_an_open_round_publishes_nothing_in_clear(opened):
    root, cache, secret_file, commitment = opened
    public = RoundPaths.of(ROUND, root, cache).public
    assert commitment.experts == 4 and commitment.pairs == 6 and commitment.secret_sha256 == Secret.read(secret_file).sha256
    names = {p.relative_to(public).as_posix() for p in public.rglob("*") if p.is_file()}
    assert "commitment.json" in names and all(n == "commitment.json" or n.startswith("sealed/") for n in names)
    recipe = draw_recipe(Secret.read(secret_file), ROUND, ROUND_SHAPES["tiny-test"])
    blobs = b"".join((public / n).read_bytes() for n in names if n.startswith("sealed/"))
    for clear in [f"tasks/{t.name}/test.jsonl" for t in recipe.tasks] + [e.id for e in recipe.experts]:
        assert clear.encode() not in blobs  # (three-letter task names alone turn up in megabytes of ciphertext)


def test_the_round_experts_learn_families_the_base_never_saw(opened):
    """A round draws task families the published base never saw (it scores 0 on each), and 400 steps on
    3,000 rows teach each expert its own (measured: 1.0, 0.65, 1.0, 0.7 on cnt, cpy, dsm, min)."""
    root, cache, _, _ = opened
    manifest = load_suite(RoundPaths.of(ROUND, root, cache).suite).manifest
    assert len(manifest.experts) == 4
    for expert in manifest.experts:
        assert expert.recipe["steps"] == 400 and manifest.task(expert.task).sizes["train"] == 3000, expert
        assert manifest.task(expert.task).base_accuracy["test"] == 0.0, expert.task
        assert expert.accuracy[expert.task] >= 0.5, (expert.id, expert.accuracy)


@pytest.fixture(scope="module")
def scored(opened):
    root, cache, secret_file, _ = opened
    return score_round(ROUND, secret_file, root, cache, show_progress=False)


def _rows(scores, track):
    return {r.name: r for b in scores.boards if b.track == track for r in b.rows}


def test_every_eligible_submission_is_scored_and_the_late_one_waits(scored):
    assert scored.waiting == ["predictors/late"]
    methods, predictors = _rows(scored, "methods"), _rows(scored, "predictors")
    assert methods["weight-avg"].status == "complete" and methods["weight-avg"].rank == 1
    assert set(predictors) == {"random", "lookup-table", "snooper"}


def test_the_sandbox_cannot_read_the_open_round(scored):
    if isolation().tool != "bubblewrap":
        pytest.skip("only bubblewrap hides files")
    snooper = _rows(scored, "predictors")["snooper"]
    assert snooper.status == "complete", snooper.reason


def test_the_lookup_table_is_perfect_in_public_and_guesses_on_the_round(opened, scored):
    root = opened[0]
    from benchmark.predictors.suites import load_prediction_suite
    from benchmark.tracks.predictors import score_in_process
    public = score_in_process(root / "submissions/predictors/lookup-table", load_prediction_suite("tiny"), "tiny")
    assert public.scores.primary == pytest.approx(1.0)
    # On the round the table holds none of the pairs: every prediction is its hash fallback, so whatever it scores
    # there is chance (on six pairs, chance spans most of [-1, 1]; tiny-r1's 28 pairs are in the closing note)
    cache = opened[1]
    scoring = json.loads(RoundPaths.of(ROUND, root, cache).scoring.read_text())
    lookup = next(e for e in scoring["predictors"] if e["name"] == "lookup-table")
    cells = [c for folds in lookup["samples"]["held_out"].values() for c in folds.values()]
    table = json.loads((root / "submissions/predictors/lookup-table/table.json").read_text())
    assert cells and not {i for c in cells for i in c["ids"]} & {i for m in table.values() for i in m}
    assert all(p == int(hashlib.sha256(i.encode()).hexdigest()[:8], 16) / 2**32
               for c in cells for i, p in zip(c["ids"], c["predictions"]))


def test_the_leaderboard_ranks_on_the_round_and_flags_the_lookup_table(opened, scored, tmp_path):
    root, cache = opened[0], opened[1]
    results = build_leaderboard(root, tmp_path / "board", cache / "public", suites=["tiny"], show_progress=False,
                                transfers=[])
    board = next(b for b in results.boards if (b.track, b.suite) == ("predictors", "tiny"))
    rows = {r.name: r for r in board.rows}
    assert board.blind_round == ROUND
    lookup = rows["lookup-table"]
    assert lookup.primary == pytest.approx(1.0) and lookup.blind.primary < 1.0
    # six pairs make every blind figure noisy, so the board's typical gap is too: the flag follows the rule
    # (the rule itself is tested on a board of many entries below)
    assert lookup.blind.flagged == (lookup.primary - lookup.blind.primary_ci[1] > max(board.typical_gap, 0))
    assert rows["late"].rank is None and "waiting for the next blind round" in rows["late"].reason
    assert rows["lookup-table"].rank == _rows(scored, "predictors")["lookup-table"].rank  # the round's, not 1.000's
    text = (tmp_path / "board" / "README.md").read_text()
    assert "Ranked on blind round `tiny-r1`" in text and "blind [95% CI]" in text


def _row(name: str, public: float) -> Row:
    return Row.model_construct(name=name, status="complete", reason=None, primary=public, primary_ci=[public, public],
                               rank=1, beaten_by=[], to_above=None, blind=None)


def test_a_board_with_a_round_ranks_on_it_and_flags_what_only_the_public_data_explain():
    honest = {f"honest-{i}": (0.30 + 0.02 * i, 0.25 + 0.02 * i) for i in range(6)}  # public, blind
    public_board = Board.model_construct(track="predictors", suite="smol", suite_version="1", primary="",
                                         rows=[_row(n, p) for n, (p, _) in honest.items()]
                                         + [_row("lookup-table", 1.0), _row("newcomer", 0.9)], comparisons=[])
    blind_rows = [BlindRow(name=n, status="complete", reason=None, primary=b, primary_ci=[b - 0.1, b + 0.1],
                           rank=1 if b > 0.3 else 2, beaten_by=[]) for n, (_, b) in honest.items()]
    blind_rows.append(BlindRow(name="lookup-table", status="complete", reason=None, primary=0.02,
                               primary_ci=[-0.2, 0.24], rank=3, beaten_by=["honest-5"]))
    ranked = rank_on_round(public_board, "smol-r1", BlindBoard(track="predictors", rows=blind_rows))
    rows = {r.name: r for r in ranked.rows}
    assert ranked.blind_round == "smol-r1" and ranked.typical_gap == pytest.approx(0.05)
    assert rows["lookup-table"].rank == 3 and rows["lookup-table"].blind.flagged
    assert not any(rows[n].blind.flagged for n in honest)
    assert rows["newcomer"].rank is None and rows["newcomer"].primary == 0.9 and "waiting" in rows["newcomer"].reason
    assert [r.name for r in ranked.rows][-2:] == ["lookup-table", "newcomer"]


@pytest.fixture(scope="module")
def revealed(opened, scored):
    root, cache, secret_file, _ = opened
    reveal_round(ROUND, secret_file, root, cache)
    return root


def test_a_revealed_round_verifies(revealed):
    assert verify_round(ROUND, revealed) == []
    public = revealed / "leaderboard/blind" / ROUND
    assert not (public / "sealed").exists()
    assert (public / "secret.txt").is_file() and (public / "predictions.json").is_file()
    truth = pd.read_parquet(public / "groundtruth/pairs.parquet")
    assert len(truth) == 6 * 7 and np.isfinite(truth.na).all()


def test_verify_names_a_changed_byte_and_a_changed_figure(revealed):
    public = revealed / "leaderboard/blind" / ROUND
    task_file = next((public / "suite/tasks").rglob("test.jsonl"))
    original = task_file.read_bytes()
    task_file.write_bytes(original[:-2] + (b"X" if original[-2:-1] != b"X" else b"Y") + original[-1:])
    try:
        problems = verify_round(ROUND, revealed)
        rel = task_file.relative_to(public).as_posix()
        assert any(p.startswith(f"{rel}: sha256 differs") for p in problems), problems
        assert any(p.startswith(f"{rel}: differs from the task data") for p in problems), problems
    finally:
        task_file.write_bytes(original)
    scores_file = public / "scores.json"
    original = scores_file.read_text()
    scores = json.loads(original)
    row = next(r for b in scores["boards"] if b["track"] == "predictors" for r in b["rows"] if r["name"] == "random")
    row["primary"] = round(row["primary"] + 0.01, 6)
    scores_file.write_text(json.dumps(scores))
    try:
        problems = verify_round(ROUND, revealed)
        assert problems and all("predictors/random" in p for p in problems), problems
    finally:
        scores_file.write_text(original)
    assert verify_round(ROUND, revealed) == []
