"""Suites: fixed, versioned, checksummed sets of experts that share a base model."""

from .manifest import Manifest, ManifestError
from .recipe import RECIPES, SuiteRecipe
from .suite import Suite, bundled_suites, load_suite

__all__ = ["Manifest", "ManifestError", "RECIPES", "Suite", "SuiteRecipe", "bundled_suites", "load_suite"]
