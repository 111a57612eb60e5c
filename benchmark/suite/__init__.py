"""Suites: fixed, versioned, checksummed sets of experts that share a base model, and published result tables."""

from .manifest import Manifest, ManifestError
from .recipe import RECIPES, SuiteRecipe
from .registry import SuiteNotFound, SuiteSpec, bundled_suites, find_suite, load_suite
from .results_suite import ResultSuite, ResultSuiteError
from .suite import Suite

__all__ = ["Manifest", "ManifestError", "RECIPES", "ResultSuite", "ResultSuiteError", "Suite", "SuiteNotFound",
           "SuiteRecipe", "SuiteSpec", "bundled_suites", "find_suite", "load_suite"]
