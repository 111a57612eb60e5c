"""Suites: fixed, versioned, checksummed sets of experts that share a base model, and published result tables.

This package finds and reads suites; making them (recipes, training, import, fetch) lives in
`benchmark.suite.build`. `RECIPES` is re-exported because `submissions.schema.known_suites` imports it
from here, and that function's code is part of committed cache keys (see `benchmark.provenance`).
"""

from .build.recipe import RECIPES
from .manifest import Manifest, ManifestError
from .registry import (SuiteEntry, SuiteKind, SuiteNotFound, SuiteSpec, all_suites, bundled_suites, find_suite,
                       load_suite)
from .results_suite import ResultSuite, ResultSuiteError
from .suite import Suite

__all__ = ["Manifest", "ManifestError", "RECIPES", "ResultSuite", "ResultSuiteError", "Suite", "SuiteEntry",
           "SuiteKind", "SuiteNotFound", "SuiteSpec", "all_suites", "bundled_suites", "find_suite", "load_suite"]
