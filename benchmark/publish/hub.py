"""The published dataset on the Hub: `publish` uploads the layout `dataset export` writes, `download` reads it back.

Both stay thin: the layout is written and checked locally first (`export`, `layout`), and the Hub sees one
commit that makes the repo exactly that layout, so an upload that fails (offline, no token, no such repo)
changes nothing on the Hub and nothing on disk. A download is checked file by file before it is read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..hub import allow_hub, offline_error
from .export import export_dataset
from .layout import INDEX, read_dataset


def publish_to_hub(repo_id: str, root: Path = Path("."), suites: Sequence[str] | None = None,
                   cache: Path | None = None) -> str:
    """Export the layout (the named suites, default every published one, and ROOT's leaderboard) to a temporary
    folder, read it back, and upload it in one commit that also deletes whatever else the repo held (but git's
    `.gitattributes`), so the repo is exactly the layout."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    with tempfile.TemporaryDirectory(prefix="willitmerge-publish-") as tmp:
        folder = Path(tmp) / "dataset"
        index = export_dataset(folder, suites, root=root, repo_id=repo_id, cache=cache)
        read_dataset(folder)
        layout = [INDEX, *(f.path for f in index.files)]
        allow_hub()
        try:
            api = HfApi()
            api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
            stale = sorted(set(api.list_repo_files(repo_id, repo_type="dataset")) - set(layout) - {".gitattributes"})
            operations = [CommitOperationAdd(path, str(folder / path)) for path in layout]
            operations += [CommitOperationDelete(path) for path in stale]
            info = api.create_commit(repo_id, operations, repo_type="dataset",
                                     commit_message="willitmerge: dataset layout (ground truth, results, leaderboard)")
        except Exception as err:  # noqa: BLE001 - any Hub failure is reported the same way, with nothing changed
            raise offline_error(repo_id, err, "publish to") from err
    return info.commit_url


def download_dataset(repo_id: str, revision: str | None = None, cache_dir: Path | None = None) -> Path:
    """The Hub repo's snapshot (every file but git's `.gitattributes`), in the Hub cache; `read_dataset` checks it."""
    from huggingface_hub import snapshot_download

    allow_hub()
    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset", revision=revision,
                                      cache_dir=str(cache_dir) if cache_dir else None,
                                      ignore_patterns=[".gitattributes"]))
    except Exception as err:  # noqa: BLE001 - the network boundary: every failure means nothing was downloaded
        raise offline_error(repo_id, err, "download") from err
