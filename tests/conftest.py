import os
import tempfile

import pytest

# Tests never touch the user's job and metric cache.
os.environ.setdefault("WILLITMERGE_CACHE", tempfile.mkdtemp(prefix="willitmerge-test-cache-"))

from benchmark.suite import load_suite  # noqa: E402
from benchmark.suite.build import build_suite  # noqa: E402
from benchmark.suite.recipe import MICRO  # noqa: E402


@pytest.fixture(scope="session")
def micro_suite(tmp_path_factory):
    """The micro recipe, built through the same code path as the bundled suite."""
    root = tmp_path_factory.mktemp("micro") / "micro"
    build_suite(MICRO, root, show_progress=False)
    return load_suite(root)


@pytest.fixture(scope="session")
def tiny_suite():
    return load_suite("tiny")
