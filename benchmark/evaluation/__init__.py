"""Evaluation: lm-eval on vLLM or transformers, on CPU or CUDA, one engine per suite run."""

from .cuda import open_engine, placed, select_device
from .engine import BACKENDS, DEFAULT_BACKEND, DEVICES, Engine, EvalSettings, TaskScore

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "DEVICES", "Engine", "EvalSettings", "TaskScore", "open_engine", "placed",
           "select_device"]
