"""One column spec per board, which every view renders from: the Markdown tables, the HTML page's sortable
tables and entry details, and `submit check`'s tables. A column says its header, its text, the value it
sorts by, its alignment, and the views that show it; `results.json` carries the typed records the
columns read (`benchmark.scoring.records`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..scoring.records import LotoRecord
from .boards import BOARDS

View = Literal["markdown", "html", "cli"]
EVERY_VIEW: frozenset[View] = frozenset({"markdown", "html", "cli"})
BOARD_VIEWS: frozenset[View] = frozenset({"markdown", "html"})  # rank and neighbours exist on a board only


@dataclass(frozen=True)
class Column:
    header: str | Callable[[str], str]  # a callable gets the board's (test) suite name
    text: Callable[[object], str]
    value: Callable[[object], object] = lambda row: None  # what the HTML table sorts by
    align: Literal["left", "right"] = "left"
    views: frozenset[View] = EVERY_VIEW
    html_header: str | None = None
    names_entry: bool = False  # the entry's name: a link to its detail on the page, a plain cell elsewhere
    css: str = ""  # the HTML cell's class ("name": text, left-aligned, not a number)
    blind_only: bool = False  # shown only on a board ranked by a blind round

    def title(self, view: View, suite: str = "") -> str:
        header = self.html_header if view == "html" and self.html_header else self.header
        return header(suite) if callable(header) else header


def columns(spec: list[Column], view: View, blind: bool = False) -> list[Column]:
    """The spec's columns of `view`; those of blind rounds only when the board has one."""
    return [c for c in spec if view in c.views and (blind or not c.blind_only)]


def format_interval(value, ci) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def format_number(value, fmt: str = ".3f") -> str:
    return "—" if value is None else format(value, fmt)


def format_to_above(row) -> str:
    """The row's difference to the entry above it with its paired interval, `*` when significant."""
    c = row.to_above
    if not c:
        return "—"
    low, high = c.ci
    return f"{c.difference:+.3f} [{low:+.3f}, {high:+.3f}]{'*' if c.significant else ''}"


def format_blind(row) -> str:
    """The entry's blind score with its interval, and a flag when its public score sits far above it."""
    b = row.blind
    if b is None or b.primary is None:
        return "—"
    return format_interval(b.primary, b.primary_ci) + (" ⚑ public far above blind" if b.flagged else "")


def format_tuned(tuned) -> str:
    """How often dev tuning chose each value, e.g. `alpha: 0.3×40, 1.0×72`."""
    if not tuned:
        return "—"
    parts = []
    for name, values in tuned.search_space.items():
        counts = [sum(c[name] == v for c in tuned.chosen.values()) for v in values]
        parts.append(f"{name}: " + ", ".join(f"{v}×{n}" for v, n in zip(values, counts) if n))
    return "; ".join(parts)


def format_status(row) -> str:
    return row.status if not row.reason else f"{row.status}: {row.reason}"


def _score(row, field: str):
    return None if row.scores is None else getattr(row.scores, field)


def _wtl(row):
    return None if row.scores is None else row.scores.vs_weight_avg


def _average(row, target: str, field: str):
    loto = None if row.scores is None else row.scores.averages.get(target)
    return None if loto is None else getattr(loto, field)


def _updates_s_na(row):
    updates = None if row.scores is None else row.scores.updates
    return None if updates is None else updates.average.get("s_na")


def _within(row, field: str):
    """The transfer row's predictor on the test suite's own board."""
    return None if row.within_suite is None else getattr(row.within_suite, field)


RANK = Column("rank", lambda r: str(r.rank if r.rank is not None else "—"), lambda r: r.rank, "right", BOARD_VIEWS)
TO_ABOVE = Column("Δ to above [95% CI]", format_to_above, lambda r: None if not r.to_above else r.to_above.difference,
                  views=BOARD_VIEWS)
STATUS = Column("status", format_status, lambda r: r.status, views=frozenset({"html", "cli"}), css="name")
BLIND = Column("blind [95% CI]", format_blind, lambda r: None if r.blind is None else r.blind.primary,
               views=BOARD_VIEWS, blind_only=True)

METHOD_COLUMNS = [
    RANK,
    Column("method", lambda r: r.name, lambda r: r.name, names_entry=True, css="name"),
    BLIND,
    Column("na [95% CI]", lambda r: format_interval(r.primary, r.primary_ci), lambda r: r.primary),
    TO_ABOVE,
    Column("raw acc", lambda r: format_number(_score(r, "raw")), lambda r: _score(r, "raw"), "right"),
    Column("share na ≥ 0.9", lambda r: format_number(_score(r, "share_na_at_least_0_9")),
           lambda r: _score(r, "share_na_at_least_0_9"), "right"),
    Column(f"vs {BOARDS.reference_label} W/T/L", html_header=f"wins vs {BOARDS.reference_label}",
           text=lambda r: "—" if not _wtl(r) else f"{_wtl(r).wins}/{_wtl(r).ties}/{_wtl(r).losses}",
           value=lambda r: None if not _wtl(r) else _wtl(r).wins),
    Column("tuned", lambda r: format_tuned(_score(r, "tuned")), views=frozenset({"markdown", "cli"})),
    Column("s / merge", lambda r: format_number(_score(r, "seconds_per_merge"), ".2f"),
           lambda r: _score(r, "seconds_per_merge"), "right"),
    Column("peak MB", lambda r: format_number(_score(r, "peak_memory_mb"), ".0f"),
           lambda r: _score(r, "peak_memory_mb"), "right"),
    STATUS,
]

PREDICTOR_COLUMNS = [
    RANK,
    Column("predictor", lambda r: r.name, lambda r: r.name, names_entry=True, css="name"),
    BLIND,
    Column("Spearman na [95% CI]", lambda r: format_interval(r.primary, r.primary_ci), lambda r: r.primary),
    TO_ABOVE,
    Column("Pearson na", lambda r: format_number(_average(r, "na", "mean_fold_pearson")),
           lambda r: _average(r, "na", "mean_fold_pearson"), "right"),
    Column("pooled Spearman na", lambda r: format_number(_average(r, "na", "pooled_spearman")),
           lambda r: _average(r, "na", "pooled_spearman"), "right"),
    Column("Spearman raw", lambda r: format_number(_average(r, "raw", "mean_fold_spearman")), align="right",
           views=frozenset({"markdown", "cli"})),
    Column("S(Δi) s_na", lambda r: format_number(_updates_s_na(r)), _updates_s_na, "right"),
    STATUS,
]

TRANSFER_COLUMNS = [
    Column("predictor", lambda r: r.name, lambda r: r.name, css="name"),
    Column("transfer Spearman na [95% CI]", lambda r: format_interval(r.spearman, r.spearman_ci), lambda r: r.spearman),
    Column(lambda test: f"within {test}: Spearman na [95% CI]",
           lambda r: format_interval(_within(r, "primary"), _within(r, "primary_ci")), lambda r: _within(r, "primary")),
    Column(lambda test: f"within {test}: pooled Spearman na", lambda r: format_number(_within(r, "pooled_spearman")),
           lambda r: _within(r, "pooled_spearman"), "right"),
    Column("metrics shared", lambda r: str(_score(r, "features") if r.scores else "—"),
           lambda r: _score(r, "features"), "right"),
    Column("methods", lambda r: str(len(r.scores.methods) if r.scores else 0),
           lambda r: len(r.scores.methods) if r.scores else 0, "right"),
    STATUS,
]

BOARD_COLUMNS = {"methods": METHOD_COLUMNS, "predictors": PREDICTOR_COLUMNS, "transfer": TRANSFER_COLUMNS}

# A predictor's per-merge-method figures on `na` (and raw): its entry's detail on the page, and `submit check`.
PerMethod = tuple[str, dict[str, LotoRecord]]
PER_METHOD_COLUMNS = [
    Column("merge method", lambda m: m[0]),
    Column("Spearman na [95% CI]", lambda m: format_interval(m[1]["na"].mean_fold_spearman if "na" in m[1] else None,
                                                             m[1]["na"].mean_fold_spearman_ci if "na" in m[1] else None)),
    Column("Pearson na", lambda m: format_number(m[1]["na"].mean_fold_pearson if "na" in m[1] else None)),
    Column("pooled Spearman na [95% CI]", lambda m: format_interval(m[1]["na"].pooled_spearman if "na" in m[1] else None,
                                                                   m[1]["na"].pooled_spearman_ci if "na" in m[1] else None)),
    Column("Spearman raw", lambda m: format_number(m[1]["raw"].mean_fold_spearman if "raw" in m[1] else None)),
]
