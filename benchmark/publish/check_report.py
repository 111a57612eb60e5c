"""A pull request's `submit check` as one Markdown table: each changed submission's result beside its board as
`leaderboard/results.json` has it now, so a contributor sees at once whether the entry runs and roughly where
its public score would sit. Ranks are not given here: they come from blind rounds (README, Blind rounds)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..tracks.columns import format_interval
from .results import Board, Results, Row

Outcome = Literal["passed", "failed", "invalid", "removed"]
TOP = 3  # board entries shown beside each row
LONGEST = 600  # characters of a reason kept in a cell: a worker's words can be long


@dataclass(frozen=True)
class CheckedRow:
    """One changed folder on one suite (`suite` empty when the check stopped before choosing one). `primary`
    and its interval: the board's primary score when the check computed it (predictors; methods with
    --full), else `detail` says what was checked."""

    folder: str
    name: str
    track: Literal["methods", "predictors"] | None
    suite: str
    outcome: Outcome
    detail: str
    primary: float | None = None
    primary_ci: list[float] | None = None


def _cell(text: str) -> str:
    """Text for one table cell: `|` escaped everywhere (GitHub reads it as a column break even in code), `<` and
    `>` outside code spans (else `<name>` is taken for an HTML tag and vanishes), line breaks as `<br>`."""
    text = text if len(text) <= LONGEST else text[:LONGEST] + " …"
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\r?\n", "<br>", "`".join(parts).replace("|", "\\|"))


def _entry(row: Row, blind: bool) -> str:
    """A board entry as `1 name 0.868 (public 0.945)` (a blind-ranked board) or `1 name 0.945`."""
    rank = "–" if row.rank is None else str(row.rank)
    if blind and row.blind is not None and row.blind.primary is not None:
        return f"{rank} `{row.name}` {row.blind.primary:.3f} (public {row.primary:.3f})"
    return f"{rank} `{row.name}` {format_interval(row.primary, None)}"


def beside_board(checked: CheckedRow, results: Results | None) -> str:
    """What the board holds now for the row's track and suite: its top entries, this entry's current place if it
    is on it, and where the checked public score would fall among the public scores (never a rank)."""
    if results is None:
        return "no `leaderboard/results.json` to compare with"
    if checked.track is None or not checked.suite:
        return "—"
    board: Board | None = next((b for b in results.boards if (b.track, b.suite) == (checked.track, checked.suite)),
                               None)
    if board is None:
        return f"no {checked.track} board on `{checked.suite}` yet"
    ranked = [r for r in board.rows if r.rank is not None]
    source = f"blind round `{board.blind_round}`" if board.blind_round else "public scores"
    out = [f"top (ranks from {source}): " + "; ".join(_entry(r, board.blind_round is not None) for r in ranked[:TOP])]
    own = next((r for r in board.rows if r.name == checked.name), None)
    if own is not None:
        out.append(f"now on the board: rank {own.rank if own.rank is not None else '–'}, {own.status}, public "
                   f"{format_interval(own.primary, None)}")
    if checked.primary is not None:
        others = [r.primary for r in board.rows if r.status == "complete" and r.primary is not None
                  and r.name != checked.name]
        above = sum(p > checked.primary for p in others)
        out.append(f"by public score it would sit #{above + 1} of {len(others) + 1}")
    return "\n".join(out)


def check_report(ref: str, rows: list[CheckedRow], results: Results | None) -> str:
    """The Markdown a pull request's bot comment shows: a summary line, one table, and how ranks are made."""
    folders = {r.folder for r in rows}
    bad = {r.folder for r in rows if r.outcome in ("failed", "invalid")}
    head = (f"**willitmerge submit check**: {len(folders)} submission folder{'s' * (len(folders) != 1)} changed "
            f"since `{ref}`: " + ("all pass." if not bad else f"{len(bad)} did not pass."))
    table = ["| submission | suite | check | its board now |", "|---|---|---|---|"]
    for r in rows:
        result = (f"**{r.outcome}**: primary {format_interval(r.primary, r.primary_ci)}; {r.detail}"
                  if r.primary is not None else f"**{r.outcome}**: {r.detail}")
        table.append(f"| {_cell(f'`{r.folder}`')} | {_cell(r.suite) or '—'} | {_cell(result)} | "
                     f"{_cell(beside_board(r, results))} |")
    note = ("Ranks never come from this check. On a board that a blind round ranks, an entry is ranked on the "
            "first round opened after its folder was committed, on experts and tasks it could not have seen, and is "
            "listed unranked with its public score until then; a board without a round ranks by paired comparisons "
            "of public scores (README: Blind rounds). The same check locally: "
            "`willitmerge submit check --changed-since upstream/main` (README: How to submit).")
    return "\n".join([head, "", *table, "", note]) + "\n"
