"""The page's SVG plots, drawn here from plain numbers (no plotting library, nothing fetched).

Each axis spans its data with a margin rather than a fixed [0, 1], so points spread over the plot
instead of crowding one edge; ticks sit on round numbers. Text is placed so it does not overlap:
heatmap column labels are slanted, and a scatter's point labels move off each other. Every SVG has
a viewBox, so the page's CSS can shrink it to a narrow screen instead of letting it overflow.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

CHAR_PX = 6.2  # width of one character of 10 px sans-serif text (DejaVu Sans, the widest fallback), for layout
LINE_PX = 12  # height of one line of that text
SLANT = math.radians(45)  # heatmap column labels rise at this angle, so long task names do not collide


def _esc(text) -> str:
    return html.escape(str(text))


def text_width(text: str) -> float:
    return len(text) * CHAR_PX


@dataclass(frozen=True)
class Axis:
    """Maps data values in [lo, hi] onto pixels [start, end] (end < start for a y axis drawn upwards)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / ((self.hi - self.lo) or 1.0) * (self.end - self.start)


def padded(values: Sequence[float], share: float = 0.08) -> tuple[float, float]:
    """The data's range widened by `share` of its span on each side (a single value gets a span of its own),
    so no point sits on the frame."""
    lo, hi = min(values), max(values)
    span = (hi - lo) or max(abs(hi) * 0.1, 0.05)
    return lo - share * span, hi + share * span


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[tuple[float, str]]:
    """About `count` round values (steps of 1, 2, 2.5 or 5 times a power of ten, the first at least 0.7 of an
    even split) inside [lo, hi], as (value, label)."""
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw * 0.7)
    digits = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if round(step / power, 6) == 2.5 else 0)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    return [(k * step, f"{k * step:.{digits}f}") for k in range(first, last + 1)]


def log_ticks(lo: float, hi: float, unit: str) -> list[tuple[float, str]]:
    """Round values (1, 2, 5 times a power of ten; every integer multiple when that finds fewer than two; the
    ends when even that does) between 10**lo and 10**hi, as (log10 value, label)."""
    inside = [10 ** lo, 10 ** hi]
    for multiples in ((1, 2, 5), tuple(range(1, 10))):
        values = [m * 10.0 ** p for p in range(math.floor(lo) - 1, math.ceil(hi) + 2) for m in multiples]
        if len(found := sorted(v for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9)) >= 2:
            inside = found
            break
    return [(math.log10(v), f"{v:.3g} {unit}") for v in inside]


def _text(x: float, y: float, text: str, anchor: str = "middle", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text{klass} x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{_esc(text)}</text>'


def svg(width: float, height: float, label: str, body: str) -> str:
    """An SVG that keeps its drawn size where there is room and shrinks with its viewBox where there is not."""
    w, h = math.ceil(width), math.ceil(height)
    return (f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{_esc(label)}">'
            f"{body}</svg>")


def frame(x: Axis, y: Axis, xticks: list[tuple[float, str]], yticks: list[tuple[float, str]], xlabel: str,
          ylabel: str) -> str:
    """Both axes with their ticks, light grid lines at the y ticks, and the axis titles."""
    left, bottom, right, top = x.start, y.start, x.end, y.end
    parts = [f'<line x1="{left:.1f}" y1="{bottom:.1f}" x2="{right:.1f}" y2="{bottom:.1f}" stroke="#444"/>',
             f'<line x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{bottom:.1f}" stroke="#444"/>']
    for v, text in yticks:
        parts.append(f'<line x1="{left:.1f}" y1="{y(v):.1f}" x2="{right:.1f}" y2="{y(v):.1f}" stroke="#eee"/>'
                     + _text(left - 4, y(v) + 3, text, "end", "tick"))
    parts += [_text(x(v), bottom + LINE_PX, text, cls="tick") for v, text in xticks]
    mid = (top + bottom) / 2
    parts += [_text((left + right) / 2, bottom + 2.2 * LINE_PX, xlabel),
              _text(11, mid, ylabel, extra=f' transform="rotate(-90 11 {mid:.1f})"')]
    return "".join(parts)


def scatter(points: Sequence[Sequence[float]], xlabel: str, ylabel: str, label: str) -> str:
    """Many unlabelled points (a predictor's held-out predictions against measured na)."""
    w, h, left, bottom = 230, 210, 44, 36
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x, y = Axis(*padded(xs), left, w - 8), Axis(*padded(ys), h - bottom, 8)
    dots = "".join(f'<circle cx="{x(a):.1f}" cy="{y(b):.1f}" r="2" fill="#2b6cb0" fill-opacity=".5"/>'
                   for a, b in zip(xs, ys))
    body = frame(x, y, nice_ticks(x.lo, x.hi, 4), nice_ticks(y.lo, y.hi, 4), xlabel, ylabel) + dots
    return svg(w, h, label, body)


Box = tuple[float, float, float, float]  # x0, x1, y0, y1


def _label_box(px: float, side: str, width: float, base: float) -> Box:
    x0 = px + 7 if side == "start" else px - 7 - width
    return x0, x0 + width, base - LINE_PX + 3, base + 2


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _place_labels(points: list[tuple[float, float, str]], right_edge: float) -> list[tuple[float, float, float, float, str, str]]:
    """(point x, point y, label x, label baseline, anchor, text) for each point. A label goes beside its point,
    right or left (never past `right_edge`), at the height nearest its point where it covers no label placed
    before it and no other point; where there is none within 120 px it stays level with its point."""
    dots: list[Box] = [(px - 5, px + 5, py - 5, py + 5) for px, py, _ in points]
    labels: list[Box] = []
    out = []
    for px, py, text in sorted(points, key=lambda p: (p[1], p[0])):
        width, own = text_width(text), (px - 5, px + 5, py - 5, py + 5)
        sides = ["start", "end"] if px + 7 + width <= right_edge else ["end"]
        others = [b for b in dots if b != own] + labels
        spots = [(py + 3.5 + dy, side) for k in range(41) for dy in sorted({3 * k, -3 * k}, reverse=True)
                 for side in sides]
        base, side = next(((y, side) for y, side in spots
                           if not any(_overlaps(_label_box(px, side, width, y), b) for b in others)), (py + 3.5, sides[0]))
        labels.append(_label_box(px, side, width, base))
        out.append((px, py, px + 7 if side == "start" else px - 7, base, side, text))
    return out


def labelled_scatter(points: Sequence[tuple[float, float, str]], x: Axis, y: Axis, width: float,
                     ticks: tuple[list[tuple[float, str]], list[tuple[float, str]]], titles: tuple[str, str],
                     label: str, cls: str) -> str:
    """A few named points (x, y, name) on the given axes, each labelled without overlapping the others; `ticks`
    and `titles` are the x axis's then the y axis's."""
    labels = _place_labels([(x(a), y(b), name) for a, b, name in points], width - 4)
    body = [frame(x, y, *ticks, *titles)]
    for px, py, tx, ty, anchor, name in labels:
        body.append(f'<circle class="{cls}" cx="{px:.1f}" cy="{py:.1f}" r="4" fill="#c05621">'
                    f"<title>{_esc(name)}</title></circle>")
        if abs(ty - py - 3.5) > 2:  # moved off its point: a leader line says whose label it is
            body.append(f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{tx:.1f}" y2="{ty - 3.5:.1f}" stroke="#bbb"/>')
        body.append(_text(tx, ty, name, anchor, "point-label"))
    height = max([y.start + 2.2 * LINE_PX + 6] + [ty + 4 for *_, ty, _, _ in labels])
    return svg(width, height, label, "".join(body))


def heatmap(rows: Sequence[str], columns: Sequence[str], value: Callable[[str, str], float | None],
            colour: Callable[[float], str], describe: Callable[[str, str, float], str], label: str) -> str:
    """One cell per (row, column) holding a value, coloured and printed; column labels slanted."""
    cell = 44
    left = 10 + max(text_width(r) for r in rows)
    top = 14 + max(text_width(c) for c in columns) * math.sin(SLANT)
    centres = [left + i * cell + cell / 2 for i in range(len(columns))]
    width = max([left + cell * len(columns)] + [c + text_width(t) * math.cos(SLANT) for c, t in zip(centres, columns)]) + 8
    parts = [_text(c, top - 6, t, "start", "column-label", f' transform="rotate({-math.degrees(SLANT):g} {c:.1f} {top - 6:.1f})"')
             for c, t in zip(centres, columns)]
    for j, r in enumerate(rows):
        parts.append(_text(left - 6, top + j * cell + cell / 2 + 3, r, "end", "row-label"))
        for i, t in enumerate(columns):
            v = value(r, t)
            if v is None:
                continue
            x, y = left + i * cell, top + j * cell
            parts.append(f'<rect class="heat" x="{x:.1f}" y="{y:.1f}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{colour(v)}"><title>{_esc(describe(r, t, v))}</title></rect>'
                         + _text(x + cell / 2 - 1, y + cell / 2 + 3, f"{v:.2f}"))
    return svg(width, top + cell * len(rows) + 8, label, "".join(parts))
