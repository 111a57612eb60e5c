import os
import shutil
import tempfile

import pytest
import torch

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

# The slowest files (seconds of one worker, `pytest --durations=0`, 2026-12-03), started first: xdist
# hands whole files (`--dist loadfile`) to whichever worker is free, so a long file started last
# keeps one worker busy while the other idles. Longest-first brought the two workers' ends together.
SLOWEST_FIRST = ("test_leaderboard.py", "test_ray_executor.py", "test_adversarial.py", "test_submissions.py",
                 "test_smol_suite.py", "test_groundtruth.py", "test_evaluation.py", "test_cache_invalidation.py",
                 "test_predictors.py", "test_merging.py", "test_hub_suites.py", "test_suite_build.py",
                 "test_sandbox_limits.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its order


@pytest.fixture(scope="session")
def micro_suite(tmp_path_factory):
    """The micro recipe, built through the same code path as the bundled suite."""
    root = tmp_path_factory.mktemp("micro") / "micro"
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
