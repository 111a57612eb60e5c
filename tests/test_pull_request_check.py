"""`willitmerge submit check --changed-since REF`, what a pull request's check runs, on a real git history: a
repository holding a copy of a baseline submission and of the committed `leaderboard/results.json`, and a branch
that adds submissions to it, as a contributor's fork would."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from benchmark.cli import app
from benchmark.publish.check_report import CheckedRow, check_report
from benchmark.publish.results import Results

ROOT = Path(__file__).parents[1]
BASELINE = "weight-avg"  # the cheapest check there is: one sandboxed merge of two tiny experts
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.org", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True,
                          env=os.environ | GIT_ENV).stdout


def check(repo: Path, *args: str):
    return CliRunner().invoke(app, ["submit", "check", "--root", str(repo), *args])


def table_rows(output: str) -> dict[str, list[str]]:
    """The report's table, row by row, keyed by its submission folder; every row must have the header's 4 cells
    (an unescaped `|` in a cell would break the table on GitHub)."""
    lines = [line for line in output.splitlines() if line.startswith("|")]
    assert lines[0] == "| submission | suite | check | its board now |", output
    rows = {}
    for line in lines[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        assert len(cells) == 4, line
        rows[cells[0].strip("`")] = cells
    return rows


@pytest.fixture
def repo(tmp_path) -> Path:
    """`main` with one baseline method and the committed board."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "submissions" / "methods" / BASELINE, repo / "submissions" / "methods" / BASELINE)
    (repo / "leaderboard").mkdir()
    shutil.copy(ROOT / "leaderboard" / "results.json", repo / "leaderboard" / "results.json")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "the board as it is")
    git(repo, "checkout", "-qb", "contribution")
    return repo


def test_changed_since_says_why_it_cannot_run(repo, tmp_path):
    out = check(repo, "--changed-since", "main")
    assert out.exit_code == 0 and "no submission folder changed since `main`: nothing to check" in out.output
    out = check(repo, "--changed-since", "no-such-branch")
    assert out.exit_code == 2 and "'no-such-branch': not a git revision here" in out.output
    elsewhere = tmp_path / "not-a-repo"
    elsewhere.mkdir()
    out = check(elsewhere, "--changed-since", "main")
    assert out.exit_code == 2 and "not inside a git checkout" in out.output
    git(repo, "checkout", "-q", "--orphan", "unrelated")
    git(repo, "commit", "-qm", "no shared history")
    out = check(repo, "--changed-since", "main")
    assert out.exit_code == 2 and "shares no history with HEAD" in " ".join(out.output.split())
    out = CliRunner().invoke(app, ["submit", "check", str(repo / "submissions/methods" / BASELINE),
                                   "--changed-since", "main"])
    assert out.exit_code == 2 and "PATH or --changed-since REF (one of them)" in out.output


def test_changed_since_checks_every_changed_folder_beside_the_board(repo):
    methods = repo / "submissions" / "methods"
    mine = methods / "my-average"
    shutil.copytree(methods / BASELINE, mine)
    yaml = mine / "submission.yaml"
    yaml.write_text(yaml.read_text().replace(f"name: {BASELINE}\n", "name: my-average\n"))
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a new method")
    board = Results.model_validate_json((repo / "leaderboard" / "results.json").read_text())
    tiny = next(b for b in board.boards if (b.track, b.suite) == ("methods", "tiny"))

    out = check(repo, "--changed-since", "main")
    assert out.exit_code == 0, out.output
    assert out.output.startswith("**willitmerge submit check**: 1 submission folder changed since `main`: all pass.")
    rows = table_rows(out.output)
    assert list(rows) == ["submissions/methods/my-average"]
    _, suite, result, beside = rows["submissions/methods/my-average"]
    assert suite == "tiny"  # a method is checked on the first suite with weights it declares
    assert result.startswith("**passed**: merged `") and "weights check out" in result
    assert f"ranks from blind round `{tiny.blind_round}`" in beside and f"1 `{tiny.rows[0].name}`" in beside
    assert "Ranks never come from this check." in out.output

    broken = methods / "ties-typo"  # committed with a typo in a parameter's name
    broken.mkdir()
    (broken / "submission.yaml").write_text("name: ties-typo\nkind: method\nauthors: [x]\ndescription: d\n"
                                            "licence: MIT\nregistry: ties\nparams: {densty: 0.2}\nsuites: [tiny]\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "a broken method")
    (repo / "submissions" / "my-predictor").mkdir()  # not committed, and outside the track folders
    (repo / "submissions" / "my-predictor" / "submission.yaml").write_text("name: my-predictor\n")
    shutil.rmtree(methods / BASELINE)  # not committed either: a removal is not a failure

    out = check(repo, "--changed-since", "main")
    assert out.exit_code == 1, out.output
    assert "4 submission folders changed since `main`: 2 did not pass." in out.output
    rows = table_rows(out.output)
    assert list(rows) == ["submissions/methods/my-average", "submissions/methods/ties-typo",
                          f"submissions/methods/{BASELINE}", "submissions/my-predictor"]
    assert rows[f"submissions/methods/{BASELINE}"][2].startswith("**removed**")
    assert rows["submissions/methods/my-average"][2].startswith("**passed**")
    typo = rows["submissions/methods/ties-typo"][2]
    assert typo.startswith("**invalid**: submissions/methods/ties-typo/submission.yaml: field `params.densty`: "
                           "'ties' has no parameter 'densty' (did you mean `density`?)"), typo
    assert rows["submissions/my-predictor"][2].startswith("**invalid**: `submissions/my-predictor`: the "
                                                          "leaderboard never reads it")


def test_report_places_a_score_among_the_public_ones_without_ranking_it():
    results = Results.model_validate_json((ROOT / "leaderboard" / "results.json").read_text())
    board = next(b for b in results.boards if b.track == "predictors" and b.blind_round is None)
    public = sorted((r.primary for r in board.rows if r.status == "complete"), reverse=True)
    above_all, below_all = public[0] + 0.01, public[-1] - 0.01
    rows = [CheckedRow(f"submissions/predictors/{name}", name, "predictors", board.suite, "passed", "d", score, None)
            for name, score in (("best", above_all), ("worst", below_all))]
    report = check_report("main", rows, results)
    cells = table_rows(report)
    assert f"by public score it would sit #1 of {len(public) + 1}" in cells["submissions/predictors/best"][3]
    assert f"#{len(public) + 1} of {len(public) + 1}" in cells["submissions/predictors/worst"][3]
    assert f"(ranks from public scores): 1 `{board.rows[0].name}`" in cells["submissions/predictors/best"][3]
