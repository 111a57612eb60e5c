from pathlib import Path

import pytest

from benchmark.suite import load_suite
from benchmark.suite.build import build_suite
from benchmark.suite.recipe import MICRO


@pytest.fixture(scope="session")
def micro_suite(tmp_path_factory):
    """The micro recipe, built through the same code path as the bundled suite."""
    root = tmp_path_factory.mktemp("micro") / "micro"
    build_suite(MICRO, root, show_progress=False)
    return load_suite(root)


@pytest.fixture(scope="session")
def tiny_suite():
    return load_suite("tiny")
