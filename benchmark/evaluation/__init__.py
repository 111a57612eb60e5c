"""Evaluation: lm-eval on vLLM or transformers, one engine per suite run."""

from .engine import BACKENDS, DEFAULT_BACKEND, Engine, EvalSettings, TaskScore

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "Engine", "EvalSettings", "TaskScore"]
