"""Evaluation: lm-eval on vLLM or transformers, on CPU or CUDA, one engine per suite run."""

from .base_accuracy import measure_base_accuracy
from .cuda import open_engine, placed, select_device
from .engine import BACKENDS, DEFAULT_BACKEND, DEVICES, Engine, TaskScore
from .settings import EvalSettings

__all__ = ["BACKENDS", "DEFAULT_BACKEND", "DEVICES", "Engine", "EvalSettings", "TaskScore", "measure_base_accuracy",
           "open_engine", "placed", "select_device"]
