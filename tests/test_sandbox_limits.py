"""What a submission cannot do to the harness, whatever its code: forge its own merge cost, change
what the next predictor reads, see anything but its inputs, or hide how it was isolated.

Every test runs the real sandbox (bubblewrap where it works; these tests run as root here, where
bubblewrap keeps every capability unless told to drop them). Those about hiding files need
bubblewrap and are skipped without it.
"""

import functools
import json
import textwrap
from pathlib import Path

import pytest

import benchmark
from benchmark.isolation import Limits, isolation, process_tree, weakest
from benchmark.predictors.suites import load_prediction_suite
from benchmark.store import JobStore
from benchmark.submissions.methods import SubmittedMethod
from benchmark.tracks import Harness, PredictorTrack, hidden_from_submissions
from benchmark.tracks.methods import SandboxedMerger
from benchmark.submissions.schema import read_submission
from benchmark.suite import find_suite

LIMITS = Limits(seconds=300, memory_mb=4096)
REPO = Path(benchmark.__file__).resolve().parents[1]
HOLD_MB, SLEEP_S = 1024, 1.5
needs_bubblewrap = pytest.mark.skipif(isolation().tool != "bubblewrap",
                                      reason="needs bubblewrap (Debian package `bubblewrap`) to hide files")

# Rewrites whatever the worker reports about this request (any worker that answers through
# benchmark.sandbox.serve), after sleeping and holding memory that an honest measure must see.
FORGING_METHOD = f"""\
import json as _json
import sys
import time
from dataclasses import dataclass

from benchmark.merging import MergeMethod


class ForgedJson:
    loads = staticmethod(_json.loads)

    @staticmethod
    def dumps(answer, **kwargs):
        if isinstance(answer, dict) and "error" not in answer:
            answer = {{**answer, "seconds": 0.001, "peak_rss_mb": 1.0}}
        return _json.dumps(answer, **kwargs)


@dataclass(frozen=True)
class Forger(MergeMethod):
    name = "forger"
    description = "slow and hungry, and says it is neither"

    def merge_tensor(self, name, base, deltas, context):
        if not getattr(sys, "_forged", False):
            sys._forged = True
            sys.modules["benchmark.sandbox"].json = ForgedJson
            blob = bytearray(b"\\x01") * ({HOLD_MB} * 2 ** 20)
            time.sleep({SLEEP_S})
            del blob
        return sum(deltas) / len(deltas)
"""


def write_submission(root: Path, name: str, kind: str, suite: str, entry: str, code: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(
        f"name: {name}\nkind: {kind}\nauthors: [test]\ndescription: a {kind} for tests ({name})\n"
        f"licence: MIT\nentry_point: code.py:{entry}\nsuites: [{suite}]\n")
    (folder / "code.py").write_text(textwrap.dedent(code))
    return folder


def predictor(root: Path, name: str, suite: str, body: str, head: str = "") -> Path:
    return write_submission(root, name, "predictor", suite, "Scores", f"""\
import os
from pathlib import Path

import numpy as np
{head}

class Scores:
    works_from = "metrics"

    def predict(self, pairs, method):
{textwrap.indent(textwrap.dedent(body), " " * 8)}
""")


def test_forged_merge_cost_is_ignored(tiny_suite, tmp_path):
    folder = write_submission(tmp_path, "forger", "method", "tiny", "Forger", FORGING_METHOD)
    pair = tiny_suite.manifest.pairs[0]
    merger = SandboxedMerger(tiny_suite, LIMITS, hidden_from_submissions(tmp_path))
    try:
        _, cost = merger.merge(SubmittedMethod.from_folder(folder), (pair.expert_a, pair.expert_b))
        # between requests the worker's whole tree is stopped: nothing it does escapes the next measure
        states = [Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for pid in process_tree(merger._worker.process.pid)]
    finally:
        merger.close()
    assert cost.seconds >= SLEEP_S, cost
    assert cost.peak_rss_mb >= HOLD_MB, cost
    assert cost.isolation == isolation().tool
    assert states and set(states) == {"T"}, states


@pytest.fixture(scope="module")
def metrics_attack(tmp_path_factory):
    """A predictor that rewrites the metric cache it used to be given as writable (at the keys the metric
    library reads), then one that checks it reads exactly the harness's metrics; both on tiny, one run."""
    root, cache = tmp_path_factory.mktemp("attack"), tmp_path_factory.mktemp("cache")
    truth = functools.cache(lambda: load_prediction_suite("tiny", cache, show_progress=False))
    metric = "task_vector_cosine_similarity"
    expected = {p.id: p.metrics[metric] for p in truth().pairs}
    forger = predictor(root, "forger", "tiny", """\
        for i, pair in enumerate(pairs):
            library = MetricLibrary(pair.base, Path(CACHE))
            record = {"pair": [pair.expert_a, pair.expert_b], "metrics": {k: 1000.0 + i for k in pair.metrics}}
            library.store.put(library._key({"pair": record["pair"]}), record)
        return np.zeros(len(pairs))
        """, head=f"from benchmark.predictors.metrics import MetricLibrary\nCACHE = {str(cache)!r}")
    reader = predictor(root, "reader", "tiny", f"""\
        changed = [p.id for p in pairs if p.metrics[{metric!r}] != EXPECTED[p.id]]
        if changed:
            raise RuntimeError(f"metrics changed under me: {{changed[:3]}}")
        return np.array([p.metrics[{metric!r}] for p in pairs])
        """, head=f"EXPECTED = {expected!r}")
    harness = Harness(JobStore(root / "jobs"), LIMITS, tuple(hidden_from_submissions(cache)), cache)
    track = PredictorTrack(harness, find_suite("tiny"), truth)
    return {"entries": [track.run(folder) for folder in (forger, reader)], "cache": cache, "store": harness.store,
            "reader": reader, "track": track}


def test_predictor_cannot_change_what_the_next_one_reads(metrics_attack):
    forged, read = metrics_attack["entries"]
    assert read.status == "complete", read.reason
    if isolation().tool == "bubblewrap":  # the cache is not even there to write to
        assert forged.status == "failed" and "Read-only file system" in forged.reason, forged.reason
        assert not list((metrics_attack["cache"] / "metrics").rglob("*.json"))


def test_isolation_is_recorded_and_replayed(metrics_attack):
    entry, store = metrics_attack["entries"][1], metrics_attack["store"]
    assert entry.isolation == isolation().tool
    folder, track = metrics_attack["reader"], metrics_attack["track"]
    key = track.key(folder, read_submission(folder))
    record = store.get(key)
    assert record["isolation"] == entry.isolation
    # an entry computed under the weaker fallback says so when it is replayed on a machine with bubblewrap
    store.put(key, record | {"isolation": "unshare"})
    replayed = track.run(folder)
    assert replayed.isolation == "unshare" and replayed.scores == entry.scores
    assert weakest({"bubblewrap", "unshare"}) == "unshare"  # a method entry claims the weakest of its merges'


@needs_bubblewrap
def test_submission_sees_only_its_inputs(tmp_path):
    other = tmp_path / "someone-else"
    other.mkdir()
    (other / "submission.yaml").write_text("name: someone-else\n")
    git = REPO / ".git"
    probes = {"the checkout's .git": git, "another submission": other, "the checkout's submissions": REPO / "submissions",
              "the checkout's tests": REPO / "tests", "the user's cache": Path.home() / ".cache",
              "the job store": tmp_path / "cache" / "jobs"}
    if git.is_file():  # a worktree: .git names the repository's git folder
        probes["the repository's git folder"] = Path(git.read_text().split("gitdir:", 1)[1].strip())
    (tmp_path / "cache" / "jobs").mkdir(parents=True)
    assert all(path.exists() for path in probes.values())  # all there, so absence in the sandbox is its doing
    folder = predictor(tmp_path, "probe", "demystifying-vitb16", """\
        seen = [label for label, path in PROBES.items() if os.path.exists(path)]
        try:
            Path(__file__).with_name("left-behind").write_text("x")
            seen.append("its own folder, writable")
        except OSError:
            pass
        if seen:
            raise RuntimeError("visible: " + "; ".join(seen))
        return np.arange(len(pairs), dtype=float)
        """, head=f"PROBES = {json.dumps({k: str(v) for k, v in probes.items()})}")
    harness = Harness(JobStore(tmp_path / "cache" / "jobs"), LIMITS,
                      tuple(hidden_from_submissions(tmp_path / "cache")), tmp_path / "cache")
    entry = PredictorTrack(harness, find_suite("demystifying-vitb16"),
                           lambda: load_prediction_suite("demystifying-vitb16")).run(folder)
    assert entry.status == "complete", entry.reason


@pytest.mark.parametrize("touch, status", [(False, "complete"), (True, "failed")])
def test_memory_limit_is_on_what_the_worker_holds_not_what_it_reserves(tmp_path, touch, status):
    """2 GB of address space is fine under a 1 GB limit (torch and mmap reserve far more than they use:
    mergekit on smol did); 2 GB actually held is not, and the parent stops it saying so."""
    folder = predictor(tmp_path, "hungry", "demystifying-vitb16", f"""\
        blob = mmap.mmap(-1, 2 * 2 ** 30)
        if {touch}:
            for offset in range(0, len(blob), 4096):
                blob[offset] = 1
        time.sleep(0.5)
        return np.arange(len(pairs), dtype=float)
        """, head="import mmap\nimport time")
    harness = Harness(JobStore(tmp_path / "jobs"), Limits(seconds=120, memory_mb=1024),
                      tuple(hidden_from_submissions(tmp_path / "cache")), tmp_path / "cache")
    entry = PredictorTrack(harness, find_suite("demystifying-vitb16"),
                           lambda: load_prediction_suite("demystifying-vitb16")).run(folder)
    assert entry.status == status, entry.reason
    if touch:
        assert "memory" in entry.reason and "over the memory limit of 1024 MB" in entry.reason, entry.reason
