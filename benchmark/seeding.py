"""Seeds derived from text, so every random draw is reproducible and independent of call order."""

from __future__ import annotations

import hashlib

import numpy as np


def text_seed(*parts: object) -> int:
    """A 64-bit seed from the parts' text (sha256), the same on every machine and run."""
    return int.from_bytes(hashlib.sha256(":".join(map(str, parts)).encode()).digest()[:8], "little")


def seeded_rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(text_seed(*parts))
