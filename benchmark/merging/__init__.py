"""Merge methods: a registry of named methods, an in-memory per-tensor driver, mergekit."""

from . import methods as _builtin  # noqa: F401  (registers the built-in methods)
from .merge import merge, merge_experts, merge_provenance, save_merged, suite_context
from .mergekit_adapter import MergekitMethod, load_mergekit_method
from .registry import METHODS, FolderMerger, MergeContext, MergeMethod, expand_search_space, get_method, register

__all__ = ["METHODS", "FolderMerger", "MergeContext", "MergeMethod", "MergekitMethod", "expand_search_space", "get_method",
           "load_mergekit_method", "merge", "merge_experts", "merge_provenance", "register", "save_merged",
           "suite_context"]
