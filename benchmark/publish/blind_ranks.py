"""A board with a blind round ranks on the round; the public score stays beside it.

The public ground truth is for research: anything can be fitted to it, a lookup table included. So on a
board whose suite has a scored round, the ranks are the round's (paired comparisons on the round's
pairs, `benchmark.blind.figures`), an entry first committed after the round opened is listed unranked
with its public score until the next round, and an entry whose public score lies above its blind
interval by more than the board's typical gap is flagged.
"""

from __future__ import annotations

import statistics

from ..blind.figures import BlindBoard
from .results import BlindResult, Board, Row


def _blind(row: Row, round_name: str, got) -> BlindResult:
    gap = None if row.primary is None or got.primary is None else round(row.primary - got.primary, 6)
    return BlindResult(round=round_name, status=got.status, primary=got.primary, primary_ci=got.primary_ci, gap=gap,
                       flagged=False)


def rank_on_round(board: Board, round_name: str, blind: BlindBoard) -> Board:
    """The board re-ranked by the round's ranks, each row carrying its blind figures and flag."""
    scored = {r.name: r for r in blind.rows}
    rows = []
    for row in board.rows:
        got = scored.get(row.name)
        if got is None:
            rows.append(row.model_copy(update={
                "rank": None, "beaten_by": [], "to_above": None,
                "reason": row.reason or f"waiting for the next blind round: first committed after {round_name} opened"}))
            continue
        reason = row.reason if got.rank is not None else f"on {round_name}: {got.reason or got.status}"
        rows.append(row.model_copy(update={"rank": got.rank, "beaten_by": got.beaten_by, "to_above": None,
                                           "reason": reason, "blind": _blind(row, round_name, got)}))
    gaps = [r.blind.gap for r in rows if r.blind is not None and r.rank is not None and r.blind.gap is not None]
    typical = round(statistics.median(gaps), 6) if gaps else None
    for row in rows:
        b = row.blind
        if b is not None and typical is not None and b.primary_ci is not None and row.primary is not None:
            b.flagged = row.primary - b.primary_ci[1] > max(typical, 0.0)
    order = {r.name: i for i, r in enumerate(blind.rows)}
    rows.sort(key=lambda r: (r.rank is None, r.rank or 0, order.get(r.name, len(order)), r.name))
    return board.model_copy(update={"rows": rows, "blind_round": round_name, "typical_gap": typical,
                                    "comparisons": []})
