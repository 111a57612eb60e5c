"""Merge methods: a registry of named methods, an in-memory per-tensor driver, mergekit."""

from . import methods as _builtin  # noqa: F401  (registers the built-in methods)
from .merge import merge, merge_experts, save_merged, suite_context
from .mergekit_adapter import MergekitMethod, load_mergekit_method
from .registry import METHODS, MergeContext, MergeMethod, get_method, register

__all__ = ["METHODS", "MergeContext", "MergeMethod", "MergekitMethod", "get_method", "load_mergekit_method", "merge",
           "merge_experts", "register", "save_merged", "suite_context"]
