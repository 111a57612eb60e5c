"""Untrusted submissions: each failure kind is reported with its reason and never hurts the others."""

import textwrap
from pathlib import Path

import pytest

from benchmark.evaluation import EvalSettings
from benchmark.groundtruth.runner import GridRunner
from benchmark.isolation import Limits, isolation
from benchmark.predictors.suites import load_prediction_suite
from benchmark.store import JobStore
from benchmark.submissions import SubmissionError, read_submission
from benchmark.suite import find_suite
from benchmark.tracks import Harness, MethodTrack, PredictorTrack, hidden_from_submissions

LIMITS = Limits(seconds=30, memory_mb=4096)
TIMEOUT_LIMITS = Limits(seconds=8, memory_mb=4096)  # the `timeout` cases wait this long for nothing


def limits_for(case: str) -> Limits:
    return TIMEOUT_LIMITS if case == "timeout" else LIMITS
GROUND_TRUTH_FILE = Path(__file__).parents[1] / "benchmark" / "groundtruth" / "data" / "tiny" / "pairs.parquet"

# body of merge_tensor / predict -> (failure kind, words the reason must contain)
BAD_METHODS = {
    "raises": ("raise ValueError('boom')", "raised", "ValueError: boom"),
    "nan": ("return deltas[0] * float('nan')", "nan", "NaN"),
    "wrong-shape": ("return deltas[0].unsqueeze(0)", "raised", "merge_tensor must return the base's shape"),
    "timeout": ("import time; time.sleep(600)", "timeout", "time limit"),
    "memory": ("blob = bytearray(16 * 1024 ** 3); return deltas[0]", "memory", "over the memory limit"),
}
BAD_PREDICTORS = {
    "raises": ("raise RuntimeError('no')", "raised", "RuntimeError: no"),
    "nan": ("return np.full(len(pairs), np.nan)", "nan", "NaN"),
    "wrong-count": ("return np.zeros(len(pairs) - 1)", "wrong-count", "scores for"),
    "timeout": ("import time; time.sleep(600)", "timeout", "time limit"),
    "memory": ("blob = bytearray(16 * 1024 ** 3); return np.zeros(len(pairs))", "memory", "over the memory limit"),
    "network": ("import socket; socket.create_connection(('1.1.1.1', 80), timeout=5)", "raised", "Error"),
    "reads-ground-truth": (f"open({str(GROUND_TRUTH_FILE)!r}, 'rb').read(4)", "raised", "Error"),
}


def write_submission(root: Path, name: str, kind: str, suite: str, code_file: str, entry: str, code: str) -> Path:
    """A submission folder whose code is `code` (with the failing body already filled in)."""
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(
        f"name: {name}\nkind: {kind}\nauthors: [test]\ndescription: a {kind} for tests ({name})\n"
        f"licence: MIT\nentry_point: {code_file}:{entry}\nsuites: [{suite}]\n")
    (folder / code_file).write_text(textwrap.dedent(code))
    return folder


def method_folder(root: Path, name: str, body: str) -> Path:
    return write_submission(root, name, "method", "micro", "method.py", "Bad", f"""\
        from dataclasses import dataclass
        from benchmark.merging import MergeMethod

        @dataclass(frozen=True)
        class Bad(MergeMethod):
            name = "bad"
            description = "fails on purpose"

            def merge_tensor(self, name, base, deltas, context):
                {body}
        """)


def predictor_folder(root: Path, name: str, body: str) -> Path:
    return write_submission(root, name, "predictor", "demystifying-vitb16", "predictor.py", "Scores", f"""\
        import numpy as np

        class Scores:
            works_from = "metrics"

            def predict(self, pairs, method):
                {body}
        """)


@pytest.fixture(scope="module")
def runner(micro_suite, tmp_path_factory):
    grid = GridRunner(micro_suite, EvalSettings(backend="hf"), JobStore(tmp_path_factory.mktemp("jobs")))
    yield grid
    grid.close()


@pytest.mark.parametrize("case", sorted(BAD_METHODS))
def test_bad_method_fails_with_its_reason(case, micro_suite, runner, tmp_path):
    body, kind, words = BAD_METHODS[case]
    folder = method_folder(tmp_path, f"bad-{case}", body)
    track = MethodTrack(Harness(runner.store, limits_for(case), tuple(hidden_from_submissions(tmp_path)), tmp_path),
                        find_suite(micro_suite.root), runner)
    entry = track.run(folder)
    assert entry.status == "failed" and entry.name not in track.rows
    assert entry.reason.startswith(f"{kind}:") and words in entry.reason, entry.reason


def test_good_method_after_bad_ones_is_scored(micro_suite, runner, tmp_path):
    folder = method_folder(tmp_path, "mean", "return sum(deltas) / len(deltas)")
    track = MethodTrack(Harness(runner.store, LIMITS, tuple(hidden_from_submissions(tmp_path)), tmp_path),
                        find_suite(micro_suite.root), runner)
    entry = track.run(folder)
    assert entry.status == "complete", entry.reason
    assert len(track.rows["mean"]) == len(micro_suite.manifest.pairs)
    assert 0 <= entry.scores.na_ci[0] <= entry.scores.na <= entry.scores.na_ci[1]


@pytest.fixture(scope="module")
def vitb16_truth():
    return load_prediction_suite("demystifying-vitb16")


@pytest.mark.parametrize("case", sorted(BAD_PREDICTORS))
def test_bad_predictor_fails_with_its_reason(case, vitb16_truth, tiny_suite, tmp_path):
    if case in ("network", "reads-ground-truth") and isolation().tool != "bubblewrap":
        pytest.skip("needs bubblewrap (Debian package `bubblewrap`) to block the network and hide files")
    assert GROUND_TRUTH_FILE.is_file()  # readable here, so a failure in the sandbox comes from the sandbox
    body, kind, words = BAD_PREDICTORS[case]
    folder = predictor_folder(tmp_path, f"bad-{case}", body)
    harness = Harness(JobStore(tmp_path / "jobs"), limits_for(case), tuple(hidden_from_submissions(tmp_path)), tmp_path)
    entry = PredictorTrack(harness, find_suite("demystifying-vitb16"), lambda: vitb16_truth).run(folder)
    assert entry.status == "failed"
    assert entry.reason.startswith(f"{kind}:") and words in entry.reason, entry.reason


def test_invalid_submission_names_file_and_field(tmp_path):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "submission.yaml").write_text("name: broken\nkind: method\nauthors: [x]\ndescription: d\nlicence: MIT\n")
    with pytest.raises(SubmissionError, match=r"submission.yaml: field `suites`: Field required"):
        read_submission(folder)  # no suite is assumed: a submission names the suites it is scored on
    (folder / "submission.yaml").write_text("name: broken\nkind: method\nauthors: [x]\ndescription: d\nlicence: MIT\n"
                                            "suites: [tiny]\n")
    with pytest.raises(SubmissionError, match=r"submission.yaml: field `\(top level\)`.*exactly one of `registry`"):
        read_submission(folder)


def test_submit_check_merges_a_method_submission_in_the_sandbox():
    from typer.testing import CliRunner

    from benchmark.cli import app

    out = CliRunner().invoke(app, ["submit", "check", str(Path(__file__).parents[1] / "submissions/methods/weight-avg")])
    assert out.exit_code == 0, out.output
    assert "in the sandbox" in out.output and "weights check out" in out.output


@pytest.mark.parametrize("track", ["predictor", "method"])
def test_submit_new_writes_a_template_that_passes_submit_check(track, tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app

    cli = CliRunner()
    out = cli.invoke(app, ["submit", "new", f"my-{track}", "--track", track, "--root", str(tmp_path)])
    assert out.exit_code == 0, out.output
    folder = tmp_path / "submissions" / f"{track}s" / f"my-{track}"
    code = "predictor.py" if track == "predictor" else "method.py"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", "submission.yaml", code])
    assert "suites: [tiny" in (folder / "submission.yaml").read_text()
    # a predictor is checked on its quick published-results suite here (its tiny check computes metrics)
    suite = ["--suite", "demystifying-vitb16"] if track == "predictor" else []
    out = cli.invoke(app, ["submit", "check", str(folder), *suite])
    assert out.exit_code == 0, out.output
    assert ("primary (mean per-fold Spearman" if track == "predictor" else "weights check out") in out.output
    again = cli.invoke(app, ["submit", "new", f"my-{track}", "--track", track, "--root", str(tmp_path)])
    assert again.exit_code == 2 and "exists already" in again.output


def test_submit_new_refuses_a_name_the_leaderboard_would_reject(tmp_path):
    from typer.testing import CliRunner

    from benchmark.cli import app

    out = CliRunner().invoke(app, ["submit", "new", "My Method", "--track", "method", "--root", str(tmp_path)])
    assert out.exit_code == 2 and "lower-case letters" in out.output
    assert not (tmp_path / "submissions").exists()


def test_submit_check_reports_what_the_leaderboard_reports(tmp_path, tiny_suite):
    """One code path: the same message from `submit check` as in the leaderboard's failed row."""
    from typer.testing import CliRunner

    from benchmark.cli import app

    folder = tmp_path / "ties-typo"
    folder.mkdir()
    (folder / "submission.yaml").write_text("name: ties-typo\nkind: method\nauthors: [x]\ndescription: d\n"
                                            "licence: MIT\nregistry: ties\nparams: {densty: 0.2}\nsuites: [tiny]\n")
    out = CliRunner().invoke(app, ["submit", "check", str(folder)])
    assert out.exit_code == 2
    harness = Harness(JobStore(tmp_path / "jobs"), LIMITS, (), tmp_path)
    entry = MethodTrack(harness, find_suite("tiny"), GridRunner(tiny_suite, EvalSettings(), None)).run(folder)
    assert entry.status == "failed"  # before it needs the grid runner
    expected = "field `params.densty`: 'ties' has no parameter 'densty' (did you mean `density`?)"
    assert expected in entry.reason and expected in " ".join(out.output.split())


def test_a_predictor_worker_starts_without_importing_transformers():
    """A learned predictor starts one sandboxed worker per fold, and transformers made each start take
    about 4 s more; the worker only reads metrics, so the suite module imports transformers on use."""
    import subprocess
    import sys
    probe = "import sys, benchmark.submissions.predictor_worker; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'transformers'" not in loaded and "'sklearn'" not in loaded, loaded


def test_a_lazily_imported_name_behaves_as_the_name():
    from transformers import LlamaConfig
    from benchmark.lazy_import import LazyName
    lazy = LazyName("transformers", "LlamaConfig")
    config = lazy(hidden_size=64)  # a call
    assert isinstance(config, lazy) and type(config) is LlamaConfig  # isinstance and the object itself
    assert lazy.model_type == "llama"  # an attribute
