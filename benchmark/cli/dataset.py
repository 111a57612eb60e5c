"""`willitmerge dataset export`, `publish` and `download`: the published dataset's one layout, written locally,
uploaded to a Hub dataset repo, and read back from one."""

from __future__ import annotations

from pathlib import Path

import typer

from ..publish.export import export_dataset
from ..publish.hub import download_dataset, publish_to_hub
from ..publish.layout import INDEX, LayoutError, read_dataset
from ..suite import ManifestError, ResultSuiteError
from .common import CACHE_HELP, SUITE_HELP, app, console, use_cache

dataset_app = typer.Typer(help="The published dataset: every suite's ground truth or results, one config per table.",
                          no_args_is_help=True)
app.add_typer(dataset_app, name="dataset")

DATASET_SUITES_HELP = (f"{SUITE_HELP}, or a ground-truth folder (with meta.json); repeatable. Default: every "
                       "bundled suite's ground truth or results and every revealed blind round's ground truth")
ROOT_HELP = "the checkout holding leaderboard/ (its boards and revealed blind rounds)"
# what a layout that does not read, a suite that is not found or a target that is taken raise; each names the fix
PROBLEMS = (LayoutError, ResultSuiteError, ManifestError, OSError)


def _fail(err: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {err}")
    return typer.Exit(1)


@dataset_app.command("export")
def export(out: Path = typer.Argument(..., help="a new (or empty) folder to write the layout into"),
           suites: list[str] = typer.Option(None, "--suite", help=DATASET_SUITES_HELP),
           root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
           leaderboard: bool = typer.Option(True, "--leaderboard/--no-leaderboard",
                                            help="copy ROOT/leaderboard/ beside the data, as `publish` does"),
           repo_id: str = typer.Option(None, "--repo-id", help="the Hub repo the card's load examples name "
                                                               "(what `publish --repo-id` writes)"),
           cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Write the dataset layout `publish` uploads, offline: a card declaring one config per suite and table."""
    cache = use_cache(cache)
    try:
        index = export_dataset(out, suites or None, root=root, leaderboard=leaderboard, repo_id=repo_id, cache=cache)
    except PROBLEMS as err:
        raise _fail(err) from err
    for table in index.tables():
        console.print(f"{table.config}\t{table.rows} rows\t{table.path}")
    console.print(f"wrote {out}: {len(index.tables())} configs; datasets.load_dataset({str(out)!r}, "
                  f"{index.tables()[0].config!r}) opens one")


@app.command("publish")
def publish(repo_id: str = typer.Option(..., "--repo-id", help="Hub dataset repo to upload to, e.g. org/willitmerge"),
            root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
            suites: list[str] = typer.Option(None, "--suite", help=DATASET_SUITES_HELP),
            cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Upload the dataset layout (`dataset export`) to a Hub dataset repo in one commit (needs network and a token)."""
    cache = use_cache(cache)
    try:
        url = publish_to_hub(repo_id, root, suites or None, cache)
    except (ConnectionError, *PROBLEMS) as err:
        raise _fail(err) from err
    console.print(f"published to {url}")


@app.command("download")
def download(repo_id: str = typer.Argument(..., help="Hub dataset repo holding a willitmerge dataset layout"),
             revision: str = typer.Option(None, "--revision", help="pin a revision (commit sha or tag)")) -> None:
    """Download a Hub-hosted dataset layout, check every file and read every table back (bundled suites need none)."""
    try:
        folder = download_dataset(repo_id, revision)
        tables = read_dataset(folder)
    except (ConnectionError, *PROBLEMS) as err:
        raise _fail(err) from err
    for config, frame in tables.items():
        console.print(f"{config}\t{len(frame)} rows")
    console.print(f"downloaded to {folder}: every file matches {INDEX}")
