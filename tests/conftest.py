import os
import shutil
import tempfile

import pytest
import torch
from filelock import FileLock

# Tests never touch the user's job and metric cache.
os.environ.setdefault("WILLITMERGE_CACHE", tempfile.mkdtemp(prefix="willitmerge-test-cache-"))
# Two xdist workers share the machine's two cores: one thread each (and in the processes they start),
# so they do not oversubscribe them. Results do not depend on the thread count (tests/test_determinism.py).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)

from benchmark.suite import load_suite  # noqa: E402
from benchmark.suite.build.scratch import build_suite  # noqa: E402
from benchmark.suite.build.recipe import MICRO  # noqa: E402

# The slowest files (seconds of one worker), started first: xdist hands whole files (`--dist loadfile`) to
# whichever worker is free, in this order (`--no-loadscope-reorder` in pyproject.toml: by default xdist 3.x
# reorders files by their number of tests and this order was ignored), so a long file started last does not
# keep one worker busy while the other idles. Longest-first brings the two workers' ends together; refresh the
# order from `pytest --durations=0` when a file's cost changes.
SLOWEST_FIRST = ("test_cache_invalidation.py", "test_blind.py", "test_leaderboard.py", "test_adversarial.py",
                 "test_ray_executor.py", "test_groundtruth.py", "test_smol_suite.py", "test_evaluation.py",
                 "test_greedy_verification.py", "test_submissions.py", "test_build_on_base.py", "test_suite_build.py",
                 "test_sandbox_limits.py", "test_merging.py", "test_metrics.py", "test_gpu_check.py",
                 "test_predictors.py", "test_hub_suites.py", "test_determinism.py", "test_tiny_suite.py",
                 "test_space.py", "test_pull_request_check.py", "test_lexicon_pool.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture(scope="session")
def micro_suite(tmp_path_factory, worker_id):
    """The micro recipe, built through the same code path as the bundled suite: once per test run, by the
    first xdist worker that needs it, in the run's own temporary folder (read-only from then on; each worker
    built its own before, ~18 s of CPU each)."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent  # this run's folder, common to its workers
    root = shared / "micro-suite" / "micro"
    with FileLock(str(shared / "micro-suite.lock")):
        if not (root / "manifest.json").is_file():
            shutil.rmtree(root, ignore_errors=True)  # what a worker that died mid-build left
            build_suite(MICRO, root, show_progress=False)
    return load_suite(root)


@pytest.fixture(scope="session")
def tiny_suite():
    return load_suite("tiny")


@pytest.fixture(scope="session")
def browser():
    if not shutil.which("chromium") or not shutil.which("chromedriver"):
        pytest.fail("Debian packages chromium and chromium-driver are needed (`make setup` installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    # the console (`get_log("browser")`) and every request the page makes (`get_log("performance")`)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()
