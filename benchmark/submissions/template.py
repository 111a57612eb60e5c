"""`willitmerge submit new NAME --track predictor|method`: a submission folder that passes
`willitmerge submit check` as written, on the quick suites, to edit from there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from .checks import check_submission
from .schema import SUBMISSION_FILE, SubmissionError

TRACKS = ("predictor", "method")
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

PREDICTOR = '''\
"""{name}: a zero-shot mergeability predictor. Edit `predict`; keep its signature.

`predict(pairs, method)` gets the pairs of one suite and the name of one merge method, and returns
one finite score per pair, in order: higher means the pair merges better. Only the ranking counts
(Spearman within each held-out task). Each pair has `id`, `task_a`, `task_b` and `metrics`, the
suite's precomputed pairwise metrics (`willitmerge suite info SUITE --json` lists them); on suites
with weights, `works_from = "weights"` gives access to the experts themselves instead.

To make it a learned predictor, add `fit(self, pairs, targets, method)`: it is called once per
left-out task with the other pairs and their measured targets.
"""

import numpy as np


class Predictor:
    works_from = "metrics"

    def __init__(self, similarity: str = "task_vector_cosine_similarity"):
        self.similarity = similarity

    def predict(self, pairs, method: str) -> np.ndarray:
        scores = np.array([pair.metrics.get(self.similarity, np.nan) for pair in pairs], dtype=float)
        return np.nan_to_num(scores, nan=0.0)  # a metric a suite lacks for a pair scores neutral
'''

METHOD = '''\
"""{name}: a merge method. Edit `merge_tensor`; keep its signature.

The harness walks the base model's tensors one at a time: `base` is the base tensor, `deltas` the
experts' task vectors (expert minus base) for it, `context` their ids and the base model's dev
accuracy on each expert's task. Return the merged delta, shaped like `base`; the harness adds the
base. Fields of the dataclass are the parameters (`params` in submission.yaml; a `search_space`
there tunes them per pair on the dev split).
"""

from dataclasses import dataclass

import torch

from benchmark.merging import MergeMethod


@dataclass(frozen=True)
class Merge(MergeMethod):
    name = "{name}"
    description = "the mean of the task vectors, scaled"
    scale: float = 1.0

    def merge_tensor(self, name, base, deltas, context):
        return self.scale * torch.stack(deltas).mean(0)
'''

YAML = {"predictor": """\
name: {name}
kind: predictor
authors: [your name]
description: One sentence on what it predicts from (shown on the leaderboard).
licence: MIT
entry_point: predictor.py:Predictor
params: {{similarity: task_vector_cosine_similarity}}
suites: [{suites}]
""", "method": """\
name: {name}
kind: method
authors: [your name]
description: One sentence on how it merges (shown on the leaderboard).
licence: MIT
entry_point: method.py:Merge
params: {{scale: 1.0}}
suites: [{suites}]
"""}

README = """\
# {name}

A {track} submission for willitmerge. Say here what it does, where the idea comes from (cite
the paper), and anything a reader needs to reproduce it.

Check it (the same validation and sandbox as the leaderboard):

    willitmerge submit check submissions/{track}s/{name}

`suites` in `{file}` lists the suites it is scored on; add `smol` once it works on `tiny`.
"""


def write_template(root: Path, name: str, track: Literal["predictor", "method"], suites: list[str]) -> Path:
    """Write `root/submissions/<track>s/<name>/` (its code, submission.yaml declaring `suites`, README.md) and
    return it; SubmissionError if the name is not allowed or the folder exists."""
    if track not in TRACKS:
        raise SubmissionError(f"--track {track!r}: choose `predictor` or `method`")
    if not NAME.match(name):
        raise SubmissionError(f"name {name!r}: use lower-case letters, digits, `.`, `_` and `-`, starting with a "
                              "letter or digit")
    folder = Path(root) / "submissions" / f"{track}s" / name
    if folder.exists():
        raise SubmissionError(f"{folder}: exists already; pick another name or edit it")
    folder.mkdir(parents=True)
    code_file, code = ("predictor.py", PREDICTOR) if track == "predictor" else ("method.py", METHOD)
    (folder / code_file).write_text(code.replace("{name}", name))
    (folder / SUBMISSION_FILE).write_text(YAML[track].format(name=name, suites=", ".join(suites)))
    (folder / "README.md").write_text(README.format(name=name, track=track, file=SUBMISSION_FILE))
    check_submission(folder)
    return folder
