"""Upload the ground truth and the leaderboard to a Hub dataset repo with huggingface-hub.

Everything is checked locally first; one commit carries both folders, so an upload that fails
(offline, no token, no such repo) changes nothing on the Hub and nothing on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..groundtruth import resolve_ground_truth
from ..hub import allow_hub, offline_error
from .leaderboard import FILES


def publish_to_hub(repo_id: str, leaderboard: Path, suite: str) -> str:
    """Upload `suite`'s ground truth (a suite name or folder) and the leaderboard in one commit."""
    truth = resolve_ground_truth(suite)
    missing = [f for f in FILES if not (leaderboard / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{leaderboard} lacks {', '.join(missing)}; run `willitmerge leaderboard` first")
    from huggingface_hub import CommitOperationAdd, HfApi

    name = json.loads((truth / "meta.json").read_text())["suite"]
    operations = [CommitOperationAdd(f"groundtruth/{name}/{p.relative_to(truth)}", str(p))
                  for p in sorted(truth.rglob("*")) if p.is_file()]
    operations += [CommitOperationAdd(f"leaderboard/{f}", str(leaderboard / f)) for f in FILES]
    allow_hub()
    try:
        api = HfApi()
        api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
        info = api.create_commit(repo_id, operations, commit_message="willitmerge: ground truth and leaderboard",
                                 repo_type="dataset")
    except Exception as err:  # noqa: BLE001 - any Hub failure is reported the same way, with nothing changed
        raise offline_error(repo_id, err, "publish to") from err
    return info.commit_url
