"""The only place the package goes online: commands that download from or upload to the Hub."""

from __future__ import annotations

import os


def allow_hub() -> None:
    """Lift the package's offline default for this process (downloads and uploads only)."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "0"
    constants.HF_HUB_OFFLINE = False


def offline_error(repo_id: str, err: Exception, what: str) -> ConnectionError:
    return ConnectionError(f"could not {what} {repo_id!r} on the Hugging Face Hub ({type(err).__name__}: {err}). "
                           "This machine looks offline or the repo does not exist; nothing was changed. "
                           "The bundled suites and their ground truth need no network (`willitmerge suite list`).")
