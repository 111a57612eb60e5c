"""The grid on a real local Ray cluster (2 CPUs, no dashboard, a temp dir): the same tables as the local
executor, an actor killed mid-run, and a driver killed with SIGKILL then rerun."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import ray
import ray.cloudpickle

from benchmark.evaluation import EvalSettings
from benchmark.groundtruth import TABLES, compute_ground_truth
from benchmark.groundtruth.grid import grid_keys
from benchmark.groundtruth.jobs import denominator_jobs, partner_groups
from benchmark.groundtruth.ray_executor import GridFailed, RayOptions, fill_store_on_ray
from benchmark.groundtruth.runner import GridRunner
from benchmark.isolation import Limits
from benchmark.merging import get_method
from benchmark.publish.leaderboard import evaluate_on_ray
from benchmark.store import JobStore
from benchmark.submissions.methods import SubmittedMethod
from benchmark.suite import find_suite
from benchmark.tracks import Harness, MethodTrack

# tuned on dev over 3 candidates, then the chosen one on test: the driver schedules both kinds of job
METHODS = ["wim_weighted"]
SETTINGS = EvalSettings(backend="hf")
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the actors cannot import this test module


def _ray_env(home: Path) -> dict:
    """Offline and self-contained: no auth token, Ray's files under a short temp dir (its sockets have a
    path-length limit), nothing written to the real home folder."""
    return {"RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": tempfile.mkdtemp(prefix="ray-", dir="/tmp"),
            "HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory):
    env = _ray_env(tmp_path_factory.mktemp("home"))
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=env["RAY_TMPDIR"], log_to_driver=False,
             _node_ip_address="127.0.0.1")
    yield env
    ray.shutdown()
    for k, v in saved.items():
        os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)


def _methods():
    return [get_method(m) for m in METHODS]


@pytest.fixture(scope="module")
def local_tables(micro_suite, tmp_path_factory):
    """The local executor's tables, and how many jobs its store holds."""
    out, cache = tmp_path_factory.mktemp("local") / "micro", tmp_path_factory.mktemp("local-cache")
    compute_ground_truth(micro_suite, _methods(), SETTINGS, cache, out, show_progress=False)
    return out, len(JobStore(cache / "jobs"))


def _same_tables(out: Path, local: tuple[Path, int]) -> None:
    reference = local[0]
    for table in TABLES:
        assert (out / f"{table}.parquet").read_bytes() == (reference / f"{table}.parquet").read_bytes(), table
    assert (out / "README.md").read_text() == (reference / "README.md").read_text()


def test_ray_gives_byte_identical_tables(micro_suite, local_cluster, local_tables, tmp_path):
    out = tmp_path / "micro"
    compute_ground_truth(micro_suite, _methods(), SETTINGS, tmp_path / "cache", out, show_progress=False,
                         ray=RayOptions())
    _same_tables(out, local_tables)
    assert len(JobStore(tmp_path / "cache" / "jobs")) == local_tables[1]


def test_an_actor_killed_mid_run_is_restarted_and_its_job_retried(micro_suite, local_cluster, local_tables, tmp_path):
    store = JobStore(tmp_path / "cache" / "jobs")
    killed = []

    def kill_one(run):
        def kill():
            killed.append(run.actor_pids[0])
            os.kill(killed[0], signal.SIGKILL)

        threading.Timer(3.0, kill).start()  # jobs run back to back by then: one is cut off mid-way

    run = fill_store_on_ray(micro_suite, _methods(), SETTINGS, store, RayOptions(), partner_groups(micro_suite),
                            show_progress=False, on_actors=kill_one)
    assert killed and run.restarts >= 1
    assert killed[0] not in run.actor_pids.values()  # the restarted actor is a new process
    out = tmp_path / "micro"
    compute_ground_truth(micro_suite, _methods(), SETTINGS, tmp_path / "cache", out, show_progress=False,
                         ray=RayOptions())
    _same_tables(out, local_tables)


def test_a_job_that_keeps_killing_its_actor_is_reported_after_bounded_retries(micro_suite, local_cluster, tmp_path):
    """A merge that kills its process every time: retried `retries` times, then named in GridFailed, while
    every other job is computed and stored."""
    store = JobStore(tmp_path / "jobs")
    pairs = micro_suite.manifest.pairs
    crash = _Crash((pairs[0].expert_a, pairs[0].expert_b))
    with pytest.raises(GridFailed) as failure:
        fill_store_on_ray(micro_suite, [get_method("weight_avg")], SETTINGS, store, RayOptions(retries=1),
                          show_progress=False, merge_with=lambda _: crash)
    message = str(failure.value)
    assert message.count("after 2 attempt(s): actor died") == 1 and pairs[0].expert_a in message, message
    assert len(store) == len(denominator_jobs(micro_suite)) + len(pairs) - 1, "every other job was stored"


class _Crash:
    """Weight averaging, except that merging `doomed` kills the process (sent by value: actors cannot import
    tests)."""

    name = "crash"

    def __init__(self, doomed: tuple[str, ...]):
        self.doomed = doomed

    def merge_tensor(self, name, base, deltas, context):
        if context.expert_ids == self.doomed:
            os._exit(1)
        return sum(deltas) / len(deltas)


def test_a_driver_killed_with_sigkill_reruns_only_the_missing_jobs(micro_suite, local_cluster, local_tables, tmp_path):
    """The CLI driver (which starts its own Ray) is SIGKILLed mid-run; the same command then computes the
    rest: every record stored before the kill stays untouched (same inode), and the tables match."""
    cache, out = tmp_path / "cache", tmp_path / "out"
    willitmerge = os.path.join(os.path.dirname(sys.executable), "willitmerge")
    command = [willitmerge, "groundtruth", "--suite", str(micro_suite.root), "--backend", "hf", "--executor", "ray",
               "--cache", str(cache), "--out", str(out)] + [a for m in METHODS for a in ("--methods", m)]
    env = os.environ | _ray_env(tmp_path / "home") | {"PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    store = JobStore(cache / "jobs")
    deadline = time.time() + 300
    while len(store) < 20 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _kill_orphans(proc.pid)
    before = {p.name: p.stat().st_ino for p in (cache / "jobs").glob("*/*.json")}
    rerun = subprocess.run(command, env=env, capture_output=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr.decode()[-3000:]
    after = {p.name: p.stat().st_ino for p in (cache / "jobs").glob("*/*.json")}
    assert all(after[name] == inode for name, inode in before.items()), "a finished job was redone"
    assert len(before) < local_tables[1] == len(after)
    _same_tables(out, local_tables)


def _kill_orphans(session: int) -> None:
    """What the killed driver left of its Ray (raylet, GCS, actors) is killed too, as a job scheduler
    killing the job would; waiting for them to notice the driver's death costs up to half a minute."""
    for pid in _session_pids(session):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + 30
    while time.time() < deadline and _session_pids(session):
        time.sleep(0.1)


def _session_pids(session: int) -> list[int]:
    """Live processes of the session (zombies are dead, whoever reaps them)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if (entry.name.isdigit() and os.getsid(int(entry.name)) == session
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"):
                pids.append(int(entry.name))
        except (ProcessLookupError, PermissionError, FileNotFoundError):
            pass
    return pids


def test_leaderboard_registry_submissions_evaluated_on_ray_match_the_sandboxed_run(micro_suite, local_cluster,
                                                                                    tmp_path, monkeypatch):
    """A registry submission tuned on dev: its evaluations computed on Ray (merged with the registered method)
    are the records the sandboxed local run computes, under the same keys; after Ray, the local run
    evaluates nothing. The Ray phase checkpoints what it finished as it goes (a long leaderboard run that is
    stopped keeps it in its pack)."""
    folder = tmp_path / "submissions" / "methods" / "ta"
    folder.mkdir(parents=True)
    (folder / "submission.yaml").write_text(
        "name: ta\nkind: method\nauthors: [test]\nlicence: MIT\ndescription: task arithmetic, tuned\n"
        "registry: task_arithmetic\nsearch_space: {alpha: [0.3, 1.0]}\nsuites: [micro]\n")
    method = SubmittedMethod.from_folder(folder, [micro_suite.name])
    keys = grid_keys(micro_suite, [method], SETTINGS)
    stores = {"ray": JobStore(tmp_path / "ray"), "local": JobStore(tmp_path / "local")}
    monkeypatch.setattr("benchmark.groundtruth.ray_executor.CHECKPOINT_SECONDS", 0)
    checkpoints = []
    evaluate_on_ray(micro_suite, SETTINGS, stores["ray"], [folder], RayOptions(), show_progress=False,
                    checkpoint=lambda: checkpoints.append(len(stores["ray"].used)))
    assert checkpoints and checkpoints[-1] > 0, "the Ray phase never checkpointed a finished job"
    entries = {}
    for name, store in stores.items():
        runner = GridRunner(micro_suite, SETTINGS, store)
        harness = Harness(store, Limits(seconds=120, memory_mb=4096), (), tmp_path)
        entries[name] = MethodTrack(harness, find_suite(micro_suite.root), runner).run(folder)
        runner.close()
        if name == "ray":
            assert runner.computed == 0, "every evaluation came from Ray"
    assert entries["ray"].status == entries["local"].status == "complete", entries["ray"].reason
    assert entries["ray"].samples == entries["local"].samples
    scored = [k for k in keys if stores["local"].get(k) is not None]
    assert len(scored) == len(keys) - len(micro_suite.manifest.pairs)  # tuning scores one test candidate per pair
    for key in scored:
        ray_record, local_record = stores["ray"].get(key), stores["local"].get(key)
        assert ray_record["scores"] == local_record["scores"], key
