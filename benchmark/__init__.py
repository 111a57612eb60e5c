"""willitmerge: a benchmark and leaderboard for model mergeability.

Offline by default: nothing in the package may reach a model hub unless a command that
downloads (`willitmerge download`, `publish`) lifts these for itself.
"""

import os

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def load_ground_truth(suite, table: str = "pairs"):
    """One table of a suite's ground truth as a pandas DataFrame, e.g. `load_ground_truth("tiny")`
    (see `benchmark.groundtruth`)."""
    from .groundtruth import load_ground_truth as load

    return load(suite, table)


def load_suite(name_or_path):
    """A suite with weights by name (`willitmerge suite list`) or by folder (see `benchmark.suite`)."""
    from .suite import load_suite as load

    return load(name_or_path)
