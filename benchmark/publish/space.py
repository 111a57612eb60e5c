"""The leaderboard as a static Hugging Face Space: the page and its data from `leaderboard/`, under a
README whose front matter is the Space's configuration (`sdk: static`, `app_file: index.html`).

Building the folder (`export_space`) runs offline, so what would be uploaded can be checked, served
and looked at here; `publish_space` uploads exactly that folder in one commit and nothing else.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import yaml

from ..hub import allow_hub, offline_error
from .export import empty_target

# The Space's configuration (https://huggingface.co/docs/hub/spaces-config-reference): colours come from the
# Hub's fixed list and short_description is capped at 60 characters.
SPACE_CONFIG = {
    "title": "willitmerge leaderboard",
    "emoji": "🔀",
    "colorFrom": "blue",
    "colorTo": "indigo",
    "sdk": "static",
    "app_file": "index.html",
    "pinned": False,
    "license": "mit",
    "short_description": "Which fine-tunes merge well: predictors and methods",
    "tags": ["leaderboard", "model-merging", "mergeability"],
}
# What the Space serves: the card, the page and the data it was drawn from. The record pack (cache/) and revealed
# blind rounds (blind/, with their suites' weights: tens of MB) serve rebuilding and verifying in a checkout,
# not the page, so they stay in the repository.
SPACE_FILES = ("README.md", "index.html", "results.json", "results.schema.json")
# Attributes through which a page loads something (`<a href>` only links, so it is not listed).
_LOADING = {"src", "srcset", "data", "poster", "background", "action", "formaction", "xlink:href", "href"}
_CSS_LOADS = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


class _References(HTMLParser):
    """Collects every address the page would fetch: loading attributes of any tag but `<a>`, and CSS `url()` and
    `@import` in style elements and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is not None and name == "style":
                self._css(value)
            elif value is not None and name in _LOADING and not (tag == "a" and name == "href"):
                self.found += [v.strip().split(" ")[0] for v in value.split(",")] if name == "srcset" else [value.strip()]

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self._css(data)

    def _css(self, text: str) -> None:
        self.found += [(a or b).strip() for a, b in _CSS_LOADS.findall(text)]


def external_references(page: str) -> list[str]:
    """Addresses in an HTML page that a browser would fetch from another host (an absolute or
    protocol-relative URL; `data:` and paths inside the folder are local)."""
    parser = _References()
    parser.feed(page)
    return [ref for ref in parser.found
            if ref.startswith("//") or (re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", ref) and not ref.startswith("data:"))]


def space_card(leaderboard_readme: str) -> str:
    """The Space's README.md: its configuration as YAML front matter above the leaderboard's tables."""
    front = yaml.safe_dump(SPACE_CONFIG, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n{leaderboard_readme}"


def export_space(leaderboard: Path, out: Path) -> list[Path]:
    """Write the Space's folder into `out` (new or empty): `SPACE_FILES` from `leaderboard`, its README.md under
    the Space's front matter. Returns the files written, relative to `out`. Refuses a page that loads anything
    from elsewhere, since a Space serves only its own files."""
    leaderboard, out = Path(leaderboard), Path(out)
    missing = [f for f in SPACE_FILES if not (leaderboard / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{leaderboard} lacks {', '.join(missing)}; run `willitmerge leaderboard` first")
    outside = external_references((leaderboard / "index.html").read_text(encoding="utf-8"))
    if outside:
        raise ValueError(f"{leaderboard / 'index.html'} loads {', '.join(sorted(set(outside)))} from elsewhere; "
                         "inline it (benchmark/publish/html.py) so the page works as a static Space and offline")
    empty_target(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "README.md").write_text(space_card((leaderboard / "README.md").read_text(encoding="utf-8")), encoding="utf-8")
    for name in SPACE_FILES[1:]:
        shutil.copyfile(leaderboard / name, out / name)
    return [Path(name) for name in SPACE_FILES]


def check_space_id(repo_id: str) -> None:
    """Refuse a Space id the Hub would refuse, before anything is built or sent."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise ValueError(f"--space {repo_id!r}: {err} Give ORG/NAME, e.g. willitmerge/leaderboard") from err


def publish_space(repo_id: str, leaderboard: Path, out: Path | None = None) -> str:
    """Export the Space's folder (into `out`, else a temporary folder) and upload it to the static Space
    `repo_id` in one commit that also deletes the files the folder no longer has (the Hub keeps `.gitattributes`),
    so the Space is exactly the folder. Returns the commit's URL."""
    from huggingface_hub import HfApi

    check_space_id(repo_id)
    with tempfile.TemporaryDirectory(prefix="willitmerge-space-") as tmp:
        folder = Path(out) if out is not None else Path(tmp)
        export_space(leaderboard, folder)
        allow_hub()
        try:
            api = HfApi()
            api.create_repo(repo_id, repo_type="space", space_sdk="static", exist_ok=True)
            info = api.upload_folder(repo_id=repo_id, repo_type="space", folder_path=folder, delete_patterns="*",
                                     commit_message="willitmerge: leaderboard")
        except Exception as err:  # noqa: BLE001 - any Hub failure is reported the same way, with nothing changed
            raise offline_error(repo_id, err, "publish to") from err
    return info.commit_url
