"""Rank groups that respect uncertainty.

Complete entries are sorted by their primary score (ties by name). The best remaining entry
leads a group; every remaining entry whose 95% interval overlaps the leader's joins it and
shares its rank, which is the leader's position in the sorted list (so ranks read 1, 1, 1, 4).
Repeat with what is left. Incomplete and failed entries get no rank.
"""

from __future__ import annotations


def overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def rank_groups(entries: list[dict]) -> list[dict]:
    """Entries (dicts with `name`, `status`, `primary`, `primary_ci`) in display order, each with `rank`."""
    complete = sorted((e for e in entries if e["status"] == "complete"), key=lambda e: (-e["primary"], e["name"]))
    position = {e["name"]: i + 1 for i, e in enumerate(complete)}
    remaining, ranked = list(complete), []
    while remaining:
        leader = remaining[0]
        group = [e for e in remaining if e is leader or overlaps(e["primary_ci"], leader["primary_ci"])]
        for e in group:
            ranked.append(e | {"rank": position[leader["name"]]})
        remaining = [e for e in remaining if all(e is not g for g in group)]
    unranked = sorted((e for e in entries if e["status"] != "complete"), key=lambda e: (e["status"], e["name"]))
    return ranked + [e | {"rank": None} for e in unranked]
