"""The dataset card at the layout's root: YAML front matter that declares one `datasets` config per suite and
table, and a body assembled from each suite's own card, so `datasets.load_dataset(REPO, "SUITE-TABLE")` works
and the text cannot disagree with the per-suite cards the ground truth was written with.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ..suite.manifest import sha256_of
from .layout import GROUND_TRUTH, INDEX, LEADERBOARD, RESULT_SUITE, PublishedSuite, suite_card

PRETTY_NAME = "willitmerge: model mergeability ground truth and leaderboard"
TAGS = ["model-merging", "mergeability", "benchmark", "leaderboard", "tabular"]
# what the package computes is MIT (every ground truth's meta.json says so); result suites name their own
TABLES_LICENCE = "mit"
# sections of a ground-truth card that the root card gives once for every suite (its own load example reads
# the suite folder alone, and every ground truth has the same columns)
SHARED_SECTIONS = ("Load", "Tables")
PLACEHOLDER_REPO = "ORG/NAME"


def _sections(markdown: str) -> list[tuple[str, list[str]]]:
    """A Markdown text cut at its `## ` headings outside code blocks: (title, lines); the first is ("", preamble)."""
    sections: list[tuple[str, list[str]]] = [("", [])]
    fenced = False
    for line in markdown.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("## "):
            sections.append((line[3:].strip(), []))
        sections[-1][1].append(line)
    return sections


def _demoted(lines: list[str], levels: int) -> list[str]:
    """Headings `levels` deeper, so a suite's card nests under the root card's headings."""
    out, fenced = [], False
    for line in lines:
        fenced ^= line.startswith("```")
        out.append("#" * levels + line if not fenced and line.startswith("#") else line)
    return out


def default_config(suites: list[PublishedSuite]) -> str:
    """The config `load_dataset(REPO)` opens: the first ground truth's pairs, else the first table."""
    tables = [t for s in suites if s.kind == GROUND_TRUTH for t in s.tables if t.table == "pairs"]
    return (tables or [s.tables[0] for s in suites])[0].config


def front_matter(suites: list[PublishedSuite]) -> str:
    default = default_config(suites)
    licences = sorted({TABLES_LICENCE} | {s.licence.lower() for s in suites if s.kind != GROUND_TRUTH})
    configs = [{"config_name": t.config, "data_files": [{"split": "train", "path": t.path}]}
               | ({"default": True} if t.config == default else {}) for s in suites for t in s.tables]
    meta = {"pretty_name": PRETTY_NAME, "license": licences[0] if len(licences) == 1 else licences, "tags": TAGS,
            "configs": configs}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n"


def _suite_section(root: Path, suite: PublishedSuite) -> list[str]:
    """The suite's own card under its title, without the sections the root card gives once."""
    own = _sections((root / suite_card(suite)).read_text())
    kept = _demoted([line for title, lines in own if suite.kind != GROUND_TRUTH or title not in SHARED_SECTIONS
                     for line in lines], 2)
    kind = "ground truth" if suite.kind == GROUND_TRUTH else "published results"
    about = (f"Folder `{suite.folder}/` ({kind}, version {suite.version}); configs "
             f"{', '.join(f'`{t.config}`' for t in suite.tables)}. Cite as: {suite.citation}"
             + ("" if suite.kind == GROUND_TRUTH else  # a ground truth's card names its licence
                f". Licence: {suite.licence}. Its configs read {', '.join(f'`{t.path}`' for t in suite.tables)}, "
                f"written from the CSVs of `{suite.folder}/{RESULT_SUITE}/`, the result suite folder byte for byte "
                "(floats read back bit for bit), which the text below describes")) + "."
    return kept[:1] + ["", about] + kept[1:] + [""]


def render_card(root: Path, suites: list[PublishedSuite], repo_id: str | None, leaderboard: list[str]) -> str:
    """The root README.md of a layout whose suite folders are already written under `root`."""
    repo = repo_id or PLACEHOLDER_REPO
    default = default_config(suites)
    path = next(t.path for s in suites for t in s.tables if t.config == default)
    grounds = [s for s in suites if s.kind == GROUND_TRUTH]
    lines = [
        f"# {PRETTY_NAME}", "",
        "Ground truth for *model mergeability*: the post-merge test accuracy of every cross-task pair of experts "
        "that share a base model, under several merge methods, with the denominators (each expert and the base "
        "model on every task), as the willitmerge benchmark measured them; and published pairwise results of "
        "other papers in the same shape. Each suite's folder under `data/` is one of the package's own formats, "
        f"described in its section below; `{INDEX}` lists every file's sha256 and size.", "",
        "## Configs", "",
        "One config per suite and table, each a single `train` split holding the whole table.", "",
        "| config | rows | file | sha256 |", "|---|---|---|---|",
    ]
    lines += [f"| `{t.config}` | {t.rows} | `{t.path}` | `{sha256_of(root / t.path)}` |"
              for s in suites for t in s.tables]
    lines += [
        "", "## Load", "", "```python", "import datasets",
        f"pairs = datasets.load_dataset({repo!r}, {default!r}, split='train')   # or the folder of a local copy",
        "import pandas as pd", f"pairs = pd.read_parquet('hf://datasets/{repo}/{path}')", "```", "",
        f"`willitmerge download {repo}` fetches every file, checks it against `{INDEX}` and reads every table back "
        "with the package's own readers; `willitmerge dataset export DIR` writes this same layout locally, offline. "
        "A ground-truth folder opens with `benchmark.groundtruth.load_ground_truth(FOLDER, TABLE)`, a result suite "
        "folder with `benchmark.suite.find_suite(FOLDER)`.", "",
        "## How the ground truth was measured", "",
        "Every cross-task pair of a suite's experts is merged with every method (a method with a search space is "
        "tuned on the dev split), and the merged model is scored with lm-eval on the test split of both tasks "
        "(greedy generation, exact match); the base model and every expert are scored on every task for the "
        "denominators. Standard errors are paired bootstraps over test examples. The evaluation settings, library "
        "versions and the sha256 of the suite's manifest are in each suite's section and its `meta.json`.", "",
    ]
    if grounds:
        tables = next(lines for title, lines in _sections((root / suite_card(grounds[0])).read_text())
                      if title == "Tables")
        lines += ["## Columns of every ground truth", "", "\n".join(tables[1:]).strip(), ""]
    lines += ["## Suites", ""]
    for suite in suites:
        lines += _suite_section(root, suite)
    if leaderboard:
        lines += ["## Leaderboard", "",
                  f"`{LEADERBOARD}/` holds the ranked boards `willitmerge leaderboard` wrote from these suites: "
                  + ", ".join(f"`{f}`" for f in leaderboard) + ".", ""]
    lines += ["## Citation", ""] + [f"- {s.name}: {s.citation}" for s in suites] + [""]
    lines += ["## Licence", "", "The tables the package computed are MIT; what they were measured on keeps its own "
              "licence, named in each suite's section; a result suite keeps its source's licence, whose text is in "
              "its folder.", ""]
    return front_matter(suites) + "\n" + "\n".join(lines)
