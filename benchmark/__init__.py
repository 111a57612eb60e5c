"""willitmerge: a benchmark and leaderboard for model mergeability.

Offline by default: nothing in the package may reach a model hub unless a command that
downloads (`willitmerge download`, `publish`) lifts these for itself.
"""

import os

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load_ground_truth(name: str = "tiny", table: str = "pairs"):
    """A bundled ground-truth table as a pandas DataFrame (see `benchmark.groundtruth`)."""
    from .groundtruth import load_ground_truth as load

    return load(name, table)


def load_suite(name_or_path):
    """A bundled suite by name, or a built suite folder (see `benchmark.suite`)."""
    from .suite import load_suite as load

    return load(name_or_path)
