"""`willitmerge dataset export`, `publish` and `download`: the published dataset's one layout, written locally,
uploaded to a Hub dataset repo, and read back from one; `publish --space` also serves the leaderboard page as a
static Space."""

from __future__ import annotations

from pathlib import Path

import typer

from ..publish.export import export_dataset
from ..publish.hub import download_dataset, publish_to_hub
from ..publish.layout import INDEX, LayoutError, read_dataset
from ..publish.space import check_space_id, export_space, publish_space
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
def publish(repo_id: str = typer.Option(None, "--repo-id", help="Hub dataset repo to upload to, e.g. org/willitmerge"),
            space: str = typer.Option(None, "--space", help="Hub Space to serve the leaderboard page from, as a static "
                                                            "Space (ORG/NAME; created if missing)"),
            dry_run: bool = typer.Option(False, "--dry-run", help="with --space: write the Space's folder to --out and "
                                                                  "upload nothing; needs no network"),
            out: Path = typer.Option(None, "--out", help="with --space: a new or empty folder to write the Space's "
                                                         "folder into (default: a temporary one, removed after upload)"),
            root: Path = typer.Option(Path("."), "--root", help=ROOT_HELP),
            suites: list[str] = typer.Option(None, "--suite", help=DATASET_SUITES_HELP),
            cache: Path = typer.Option(None, "--cache", help=CACHE_HELP)) -> None:
    """Upload the dataset layout (`dataset export`) to a Hub dataset repo, and/or the leaderboard page to a static
    Space, each in one commit (needs network and a token; `--space S --dry-run --out DIR` only builds the Space)."""
    for problem, message in ((not (repo_id or space), "give --repo-id ORG/NAME (the dataset), --space ORG/NAME (a "
                                                      "static Space for the page), or both"),
                             ((dry_run or out) and not space, "--dry-run and --out build a Space's folder; add "
                                                              "--space ORG/NAME"),
                             (dry_run and repo_id, "--dry-run builds the Space's folder only; for the dataset's, run "
                                                   "`willitmerge dataset export DIR`"),
                             (dry_run and out is None, "--dry-run keeps the Space's folder for you to look at; say "
                                                       "where with --out DIR")):
        if problem:
            console.print(f"[red]error:[/red] {message}")
            raise typer.Exit(2)
    leaderboard = root / "leaderboard"
    try:
        if dry_run:
            check_space_id(space)
            files = export_space(leaderboard, out)
            console.print(f"wrote the Space {space}'s folder to {out} ({len(files)} files); nothing uploaded. "
                          f"Serve it with `python -m http.server -d {out}`")
            return
        if repo_id:
            console.print(f"published to {publish_to_hub(repo_id, root, suites or None, use_cache(cache))}")
        if space:
            console.print(f"published the Space: {publish_space(space, leaderboard, out)}")
    except (ConnectionError, ValueError, *PROBLEMS) as err:
        raise _fail(err) from err


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
