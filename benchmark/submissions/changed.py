"""The submission folders a pull request changes: what `willitmerge submit check --changed-since REF` checks.

A pull request's change is what its branch did since it left REF (`git diff REF...HEAD`, the diff GitHub
shows) and, so that the same command checks a contribution before it is committed, whatever the working
tree adds to it: staged, unstaged and untracked files that git does not ignore. A CI checkout is clean, so
there only the commits count."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .schema import SUBMISSION_FILE

SUBMISSIONS = "submissions"
TRACK_FOLDERS = ("predictors", "methods")  # what `discover` reads: a folder elsewhere is never scored


class GitError(RuntimeError):
    """git cannot say what changed (no repository, an unknown revision, no shared history); the message says
    the fix."""


@dataclass(frozen=True)
class ChangedFolder:
    """A changed submission folder, relative to the checkout's root. `problem` says why it cannot be checked as a
    submission (None: check it); `removed`: the change deletes it, which is not a failure."""

    path: Path
    removed: bool = False
    problem: str | None = None


def _git(root: Path, *args: str) -> str:
    """git's standard output, or GitError with its own words."""
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    except FileNotFoundError as err:
        raise GitError("git is not installed; install it (apt-get install git)") from err
    if done.returncode != 0:
        raise GitError(done.stderr.strip() or f"git {' '.join(args)} exited {done.returncode}")
    return done.stdout


def _since(root: Path, ref: str) -> str:
    """The commit where HEAD's branch left `ref` (their merge base), each failure named with its fix."""
    try:
        _git(root, "rev-parse", "--show-toplevel")
    except GitError as err:
        raise GitError(f"{root}: not inside a git checkout; run it in a clone of the repository (or point --root "
                       "at one)") from err
    try:
        commit = _git(root, "rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}").strip()
    except GitError as err:
        raise GitError(f"--changed-since {ref!r}: not a git revision here; name a branch, tag or commit "
                       f"(fetch it first, e.g. `git fetch origin main` for origin/main)") from err
    try:
        return _git(root, "merge-base", commit, "HEAD").strip()
    except GitError as err:
        raise GitError(f"--changed-since {ref!r}: it shares no history with HEAD (a shallow clone? run "
                       "`git fetch --unshallow`, or check out with fetch-depth: 0)") from err


def changed_submissions(root: Path, ref: str) -> list[ChangedFolder]:
    """Every folder under `submissions/` that the change since `ref` touches, sorted. A changed path below
    `submissions/` but outside `submissions/<predictors|methods>/<name>/` comes with its problem: the leaderboard
    never reads it, so without this its author would never learn why it is not on the board."""
    root = Path(root)
    base = _since(root, ref)
    scope = ["--", SUBMISSIONS]
    # -z: names as they are (no quoting); --relative: paths from `root`, also when it is not the repository's top
    files = _git(root, "diff", "--name-only", "--no-renames", "--relative", "-z", base, *scope).split("\0")
    files += _git(root, "ls-files", "--others", "--exclude-standard", "-z", *scope).split("\0")
    found: dict[Path, ChangedFolder] = {}
    for name in filter(None, files):
        parts = Path(name).parts
        if len(parts) >= 4 and parts[1] in TRACK_FOLDERS:
            folder = Path(*parts[:3])
            found[folder] = ChangedFolder(folder, removed=not (root / folder).is_dir())
        elif len(parts) == 3 and parts[1] in TRACK_FOLDERS:
            found[Path(name)] = ChangedFolder(Path(name), problem=(
                f"`{name}`: a file directly in `{SUBMISSIONS}/{parts[1]}/`, which holds only submission folders; "
                f"move it into `{SUBMISSIONS}/{parts[1]}/<name>/` beside its `{SUBMISSION_FILE}`"))
        elif len(parts) >= 3:  # files at the top of submissions/ are not entries
            where = Path(*parts[:2])
            found[where] = ChangedFolder(where, problem=(
                f"`{where}`: the leaderboard never reads it: it reads only `{SUBMISSIONS}/predictors/<name>/` and "
                f"`{SUBMISSIONS}/methods/<name>/`; move the submission folder into one of them"))
    return [found[p] for p in sorted(found)]
