"""Adversarial submissions: each is reported as failed (or contained) with its reason, and none of
them changes a byte of any honest entry's row.

One leaderboard run holds the honest entries only; a second, started from the first's committed
record pack as the real leaderboard is, holds the same entries plus every adversary. Methods run
on the bundled `tiny` suite (their evaluations come from its committed ground-truth pack);
predictors on `demystifying-vitb16`, whose sandboxed workers start in seconds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from benchmark.evaluation import EvalSettings
from benchmark.groundtruth import JOB_PACK, ground_truth_dir
from benchmark.groundtruth.grid import grid_keys
from benchmark.isolation import Limits, isolation
from benchmark.publish import build_leaderboard
from benchmark.publish.leaderboard import PACK
from benchmark.publish.results import STANDING_FIELDS
from benchmark.store import JobStore
from benchmark.submissions.methods import SubmittedMethod
from benchmark.tracks import Harness, PredictorTrack
from benchmark.suite import find_suite, load_suite

REPO = Path(__file__).parents[1]
PREDICTOR_SUITE = "demystifying-vitb16"
HONEST = {"methods": ["weight-avg", "task-arithmetic"], "predictors": ["random", "tv-cosine"]}
SETTINGS = EvalSettings(backend="hf")  # the settings of tiny's committed ground truth
# generous: the limit is wall-clock and a loaded test machine must not turn an honest entry into a timeout
LIMITS = Limits(seconds=600, memory_mb=4096)
SLEEPER = "86399.4171"  # `sleep SLEEPER`: the fork bomb's children, found by their command line
COMMON = "authors: [mallory]\ndescription: an adversary\nlicence: MIT\n"

# The adversaries: id -> (track, submission.yaml after `name`, files, expected status, words in the reason).
# In code, ANSWER_FD is the worker's answer pipe, OUTSIDE a path outside its writable folder and
# RECORDS the leaderboard's record pack (other submissions' results).
FORGE = "import os, sys, time\nANSWER_FD = int(sys.argv[1])\n"


def _predictor(body: str, extra: str = "") -> dict[str, str]:
    return {"predictor.py": f"{FORGE}{extra}import numpy as np\n\n\nclass Adversary:\n    works_from = 'metrics'\n\n"
                            f"    def predict(self, pairs, method):\n        {body}\n"}


def _method(body: str) -> dict[str, str]:
    return {"method.py": f"{FORGE}from dataclasses import dataclass\n\nfrom benchmark.merging import MergeMethod\n\n\n"
                         "@dataclass(frozen=True)\nclass Adversary(MergeMethod):\n    name = 'adversary'\n"
                         f"    description = 'misbehaves'\n\n    def merge_tensor(self, name, base, deltas, context):\n"
                         f"        {body}\n"}


M_CODE = f"kind: method\n{COMMON}entry_point: method.py:Adversary\nsuites: [tiny]\n"
P_CODE = f"kind: predictor\n{COMMON}entry_point: predictor.py:Adversary\nsuites: [{PREDICTOR_SUITE}]\n"
REGISTRY = f"kind: method\n{COMMON}suites: [tiny]\n"
PREDICT_OK = "return np.array([p.metrics['encoder_gradient_l2_distance'] for p in pairs])"  # ranks below the honest

ADVERSARIES = {
    # ---- caught when the folder is read, before any code runs
    "param-typo": ("methods", REGISTRY + "registry: ties\nparams: {densty: 0.2}\n", {}, "failed",
                   ["invalid:", "submission.yaml: field `params.densty`", "did you mean `density`?"]),
    "param-ill-typed": ("methods", REGISTRY + "registry: ties\nparams: {density: '0.2'}\n", {}, "failed",
                        ["field `params.density`", "'0.2' is not a valid float", "e.g. 0.2"]),
    "search-space-typo": ("methods", REGISTRY + "registry: task_arithmetic\nsearch_space: {alpah: [0.3, 1.0]}\n", {},
                          "failed", ["field `search_space.alpah`", "did you mean `alpha`?"]),
    "search-space-huge": ("methods", REGISTRY + "registry: task_arithmetic\nsearch_space: {alpha: ["
                          + ", ".join(f"0.{i:02d}" for i in range(64)) + "]}\n", {}, "failed",
                          ["field `search_space`", "64 candidates; at most 32"]),
    "unknown-registry": ("methods", REGISTRY + "registry: tie\n", {}, "failed",
                         ["field `registry`", "no method 'tie' (did you mean `ties`?)"]),
    "missing-entry-point": ("methods", M_CODE.replace("Adversary", "Adversry"), _method("return deltas[0]"),
                            "failed", ["field `entry_point`", "defines no 'Adversry' (did you mean `Adversary`?)"]),
    "missing-file": ("methods", M_CODE.replace("method.py", "methd.py"), {}, "failed",
                     ["field `entry_point`", "no file", "methd.py"]),
    "syntax-error": ("methods", M_CODE, {"method.py": "class Adversary(:\n"}, "failed",
                     ["method.py: does not parse", "line 1"]),
    "wrong-kind": ("predictors", f"kind: method\n{COMMON}registry: ties\nsuites: [{PREDICTOR_SUITE}]\n", {}, "failed",
                   ["field `kind`: is 'method', expected `predictor`"]),
    "unknown-kind": ("methods", f"kind: merger\n{COMMON}registry: ties\nsuites: [tiny]\n", {}, "failed",
                     ["field `kind`: 'merger' must be `predictor` or `method`"]),
    "unknown-suite": ("methods", REGISTRY.replace("[tiny]", "[tiny, tinny]") + "registry: ties\n", {}, "failed",
                      ["field `suites`: no suite 'tinny' (did you mean `tiny`?)"]),
    "yaml-syntax-error": ("methods", REGISTRY + "registry: ties\nparams: {density: 0.2\n", {}, "failed",
                          ["not valid YAML", "line 8", "fix the syntax"]),
    "yaml-deeply-nested": ("predictors", P_CODE + "params: {a: " + "[" * 200 + "]" * 200 + "}\n",
                           _predictor(PREDICT_OK), "failed", ["nested more than 8 levels deep"]),
    "yaml-alias-bomb": ("predictors", P_CODE + "params:\n  a: &a [x, x, x, x, x, x, x, x, x]\n"
                        + "".join(f"  {c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
                                  for p, c in zip("abcdefgh", "bcdefghi")), _predictor(PREDICT_OK), "failed",
                        ["uses a YAML alias (*a)"]),
    "yaml-huge": ("predictors", P_CODE + "params: {blob: " + "x" * 100_000 + "}\n", _predictor(PREDICT_OK),
                  "failed", ["bytes; keep it under 64 kB"]),
    "yaml-non-finite": ("methods", REGISTRY + "registry: ties\nparams: {density: .nan}\n", {}, "failed",
                        ["field `params.density`: NaN, infinity or a lone surrogate"]),
    "impersonates-another": ("methods", REGISTRY + "registry: weight_avg\n", {}, "failed",
                             ["field `name`: 'weight-avg' differs from its folder 'impersonates-another'"]),
    "symlink-to-root": ("predictors", P_CODE, _predictor(PREDICT_OK) | {"@root": "/"}, "failed",
                        ["root: a symbolic link (to /)", "regular files only"]),
    "symlink-to-other-submission": ("predictors", P_CODE, {"@predictor.py": "../random/submission.yaml"}, "failed",
                                    ["predictor.py: a symbolic link", "regular files only"]),
    "file-name-not-utf8": ("predictors", P_CODE, _predictor(PREDICT_OK) | {b"\xff.npy": b""}, "failed",
                           ["\\xff.npy: a file name that is not UTF-8; rename it"]),
    "description-lone-surrogate": ("methods", 'kind: method\nauthors: [m]\ndescription: "x \\udcff"\nlicence: MIT\n'
                                   "registry: ties\nsuites: [tiny]\n", {}, "failed",
                                   ["field `description`: NaN, infinity or a lone surrogate"]),
    "predictions-outside-folder": ("predictors", f"kind: predictor\n{COMMON}predictions: ../random/submission.yaml\n"
                                   f"suites: [{PREDICTOR_SUITE}]\n", {}, "failed",
                                   ["field `predictions`", "outside the submission folder"]),
    # ---- caught in the worker's answer: forged, garbage, huge
    "answer-garbage": ("predictors", P_CODE, _predictor("os.write(ANSWER_FD, b'hello harness\\n'); time.sleep(3600)"),
                       "failed", ["invalid-answer:", "not a JSON answer"]),
    "answer-forged-error": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, b'{\"error\": {\"kind\": \"timeout\", \"reason\": 7}}\\n'); time.sleep(3600)"),
        "failed", ["invalid-answer:", "a malformed error report"]),
    "answer-error-lone-surrogate": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, b'{\"error\": {\"kind\": \"raised\", \"reason\": \"\\\\udcff boom\"}}\\n'); "
        "time.sleep(3600)"), "failed", ["raised:", "\\xff boom"]),
    "answer-incomplete": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, b'{\"pairs\": []}\\n'); time.sleep(3600)"), "failed",
        ["invalid-answer:", "lacks `pairs` (a list) or `predictions`"]),
    "answer-wrong-pair-ids": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, (json.dumps({'pairs': ['forged'] * len(pairs), 'updates': [], 'update_predictions': {},"
        " 'predictions': {method: {'*': [1.0] * len(pairs)}}}) + '\\n').encode()); time.sleep(3600)",
        extra="import json\n"), "failed", ["invalid-answer:", "'forged', not one of the suite's pairs"]),
    "answer-non-finite": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, (json.dumps({'pairs': [p.id for p in pairs], 'updates': [], 'update_predictions': {},"
        " 'predictions': {method: {'*': [float('inf')] * len(pairs)}}}) + '\\n').encode()); time.sleep(3600)",
        extra="import json\n"), "failed", ["nan:", "NaN or inf among the scores"]),
    "answer-deeply-nested": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, b'[' * 200000 + b']' * 200000 + b'\\n'); time.sleep(3600)"), "failed",
        ["invalid-answer:", "not a JSON answer (RecursionError"]),
    "answer-twice": ("predictors", P_CODE, _predictor(
        "os.write(ANSWER_FD, b'{\"learned\": false}\\n{\"learned\": false}\\n'); time.sleep(3600)"), "failed",
        ["invalid-answer:", "more than one answer to one request"]),
    "answer-huge": ("predictors", P_CODE, _predictor(
        "[os.write(ANSWER_FD, b'7' * 2 ** 20) for _ in range(80)]; time.sleep(3600)"), "failed",
        ["invalid-answer:", "an answer longer than 64 MB"]),
    "method-forged-answer": ("methods", M_CODE, _method(
        "os.write(ANSWER_FD, b'{\"seconds\": 0.0, \"peak_rss_mb\": 0.0}\\n'); time.sleep(3600)"), "failed",
        ["invalid:", "unreadable merged weights"]),
    # ---- contained by the sandbox and the checks on what comes back
    "prints-junk": ("predictors", P_CODE, _predictor(
        "print('{\"pairs\": [\"forged\"]}\\n' + 'junk ' * 10000, flush=True); " + PREDICT_OK), "complete", []),
    "helper-not-utf8": ("predictors", P_CODE, _predictor(PREDICT_OK) | {"helper.py": b"\xff\x00 not python"},
                        "complete", []),
    "huge-stderr-then-crash": ("predictors", P_CODE, _predictor(
        "sys.stderr.write('E' * 5_000_000 + '\\n'); sys.stderr.flush(); os._exit(3)"), "failed",
        ["crashed:", "worker exited with code 3"]),
    "returns-inf": ("predictors", P_CODE, _predictor("return np.full(len(pairs), np.inf)"), "failed",
                    ["nan:", "NaN or inf"]),
    "wrong-length": ("predictors", P_CODE, _predictor("return np.zeros(len(pairs) + 3)"), "failed",
                     ["wrong-count:", "scores for"]),
    "fork-bomb": ("predictors", P_CODE, _predictor(
        f"[os.fork() or (os.setsid(), os.execvp('sleep', ['sleep', '{SLEEPER}'])) for _ in range(20)]; "
        "raise RuntimeError('forked 20 sleepers')"), "failed", ["raised:", "RuntimeError: forked 20 sleepers"]),
    # the sandbox shows only the submission's inputs: a folder outside them is not even there
    "writes-outside-scratch": ("predictors", P_CODE, _predictor("open(OUTSIDE, 'w').write('pwned')"), "failed",
                               ["raised:", "No such file or directory"]),
    "method-writes-outside-scratch": ("methods", M_CODE, _method("open(OUTSIDE, 'w').write('pwned')"), "failed",
                                      ["raised:", "No such file or directory"]),
    "writes-own-folder": ("predictors", P_CODE, _predictor("open(__file__, 'a').write('pwned')"), "failed",
                          ["raised:", "Read-only file system"]),
    "reads-other-submissions-results": ("predictors", P_CODE, _predictor("open(RECORDS).read()"), "failed",
                                        ["raised:", "FileNotFoundError", "records.jsonl"]),
}
NEEDS_BUBBLEWRAP = {"writes-outside-scratch", "method-writes-outside-scratch", "writes-own-folder",
                    "reads-other-submissions-results"}


def _write(root: Path, track: str, name: str, body: str, files: dict[str, str], paths: dict[str, Path]) -> None:
    folder = root / "submissions" / track / name
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(f"name: {'weight-avg' if name == 'impersonates-another' else name}\n" + body)
    for file, content in files.items():
        if isinstance(content, bytes):
            (folder / os.fsdecode(file)).write_bytes(content)
        elif file.startswith("@"):
            (folder / file[1:]).symlink_to(content)
        else:
            for key, path in paths.items():
                content = content.replace(key, repr(str(path)))
            (folder / file).write_text(content)


def _honest_checkout(root: Path) -> Path:
    for track, names in HONEST.items():
        for name in names:
            shutil.copytree(REPO / "submissions" / track / name, root / "submissions" / track / name)
    for name in HONEST["predictors"]:  # scored on the quick published-results suite only
        spec = root / "submissions" / "predictors" / name / "submission.yaml"
        spec.write_text("".join(line if not line.startswith("suites:") else f"suites: [{PREDICTOR_SUITE}]\n"
                                for line in spec.read_text().splitlines(keepends=True)))
    return root


def _build(root: Path, cache: Path):
    return build_leaderboard(root, root / "leaderboard", cache, SETTINGS, LIMITS, ["tiny", PREDICTOR_SUITE],
                             show_progress=False)


def _rows(results) -> dict[tuple[str, str, str], dict]:
    return {(b.track, b.suite, r.name): r.model_dump(mode="json") for b in results.boards for r in b.rows}


def _own_result(row: dict) -> str:
    """An entry's own result, as JSON: its standing among the others (rank, comparisons) may move when
    adversaries join the board, the rest must not."""
    return json.dumps({k: v for k, v in row.items() if k not in STANDING_FIELDS}, sort_keys=True)


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    """(rows without adversaries, rows with them, the paths the adversaries aimed at)."""
    tiny = load_suite("tiny")
    honest = _honest_checkout(tmp_path_factory.mktemp("honest"))
    # the honest methods' evaluations must all come from tiny's committed ground truth: never run the grid here
    store = JobStore(tmp_path_factory.mktemp("probe"), packs=(ground_truth_dir(tiny) / JOB_PACK,))
    methods = [SubmittedMethod.from_folder(honest / "submissions" / "methods" / n) for n in HONEST["methods"]]
    missing = [k for k in grid_keys(tiny, methods, SETTINGS) if store.get(k) is None]
    assert not missing, f"{len(missing)} evaluations of the honest methods are not in tiny's committed ground truth"
    before = _rows(_build(honest, tmp_path_factory.mktemp("cache-honest")))

    root = _honest_checkout(tmp_path_factory.mktemp("adversarial"))
    pack = root / "leaderboard" / PACK  # the committed pack the real leaderboard starts from, minus the
    pack.parent.mkdir(parents=True)      # predictor entries, so the honest predictors run again beside the adversaries
    pack.write_text("".join(line for line in (honest / "leaderboard" / PACK).read_text().splitlines(keepends=True)
                            if json.loads(line)["record"].get("track") != "predictors"))
    paths = {"OUTSIDE": tmp_path_factory.mktemp("outside") / "escaped.txt", "RECORDS": pack}
    for name, (track, body, files, _, _) in ADVERSARIES.items():
        _write(root, track, name, body, files, paths)
    after = _rows(_build(root, tmp_path_factory.mktemp("cache-adversarial")))
    return before, after, paths


def _row(after: dict, name: str) -> dict:
    track = ADVERSARIES[name][0]
    suite = "tiny" if track == "methods" else PREDICTOR_SUITE
    return after[(track, suite, name)]


@pytest.mark.parametrize("name", list(ADVERSARIES))
def test_adversary_is_failed_or_contained_with_its_reason(name, boards):
    if name in NEEDS_BUBBLEWRAP and isolation().tool != "bubblewrap":
        pytest.skip("needs bubblewrap (Debian package `bubblewrap`) for a read-only filesystem and hidden results")
    _, after, paths = boards
    _, _, _, status, words = ADVERSARIES[name]
    row = _row(after, name)
    assert row["status"] == status, row["reason"]
    assert row["rank"] is None if status != "complete" else row["rank"] is not None
    for word in words:
        assert word in row["reason"], row["reason"]
    if row["reason"] is not None:
        assert len(row["reason"]) < 2500  # a flood of output never reaches the table
    assert not paths["OUTSIDE"].exists()


def test_fork_bomb_leaves_no_process_behind(boards):
    survivors = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cmdline(p).endswith(f"sleep\0{SLEEPER}")]
    assert not survivors


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_text().rstrip("\0")
    except OSError:
        return ""


def test_an_exception_in_the_harness_fails_only_that_entry(tmp_path):
    """The last line of defence: the harness itself fails (reading the suite's targets raises), and the
    submission gets a failed entry naming the exception instead of the run stopping."""
    def broken_truth():
        raise OSError("ground-truth tables unreadable")

    track = PredictorTrack(Harness(JobStore(tmp_path / "jobs"), LIMITS, (), tmp_path), find_suite(PREDICTOR_SUITE),
                           broken_truth)
    entry = track.run(REPO / "submissions" / "predictors" / "random")
    assert entry.status == "failed" and entry.name == "random"
    assert entry.reason.startswith("harness-error: OSError: ground-truth tables unreadable"), entry.reason


def test_honest_rows_are_byte_identical_with_and_without_the_adversaries(boards):
    before, after, _ = boards
    honest = {key: _own_result(row) for key, row in before.items() if key[2] in HONEST[key[0]]}
    assert len(honest) == 2 + 2 * 2  # methods on tiny; predictors on both (incomplete where not declared)
    assert {key: _own_result(after[key]) for key in honest} == honest
    assert all(before[key]["status"] == "complete" for key in honest
               if key[1] == ("tiny" if key[0] == "methods" else PREDICTOR_SUITE))
