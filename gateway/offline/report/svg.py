"""A line plot as SVG text: axes with round ticks, one polyline per series, an optional shaded interval
band and a marked point. Pure string building, no plotting library: the report's HTML file inlines it
and stays one self-contained file."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["Series", "line_plot", "ticks"]

_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_MARGIN = (56, 20, 28, 48)  # left, right, top, bottom


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]
    band: Sequence[tuple[float, float, float]] = ()  # (x, low, high)
    mark: tuple[float, float] | None = None  # e.g. the current operating point
    mark_label: str = ""


def ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round numbers (1, 2 or 5 times a power of ten apart) covering [lo, hi], about `count` of them."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9)
    out = []
    k = first
    while k * step <= hi + step * 1e-9:
        out.append(round(k * step, 12))
        k += 1
    return out


def _fmt(v: float, percent: bool) -> str:
    return f"{v:.0%}" if percent else f"{v:g}"


def _span(values: list[float], given: tuple[float, float] | None) -> tuple[float, float]:
    if given is not None:
        return given
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi


def line_plot(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    percent: tuple[bool, bool] = (True, True),
    width: int = 640,
    height: int = 400,
) -> str:
    left, right, top, bottom = _MARGIN
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points] + [
        v for s in series for _, lo, hi in s.band for v in (lo, hi)
    ]
    x0, x1 = _span(xs, x_range)
    y0, y1 = _span(ys, y_range)
    pw, ph = width - left - right, height - top - bottom

    def px(x: float) -> float:
        return round(left + (x - x0) / (x1 - x0) * pw, 2)

    def py(y: float) -> float:
        return round(top + (1 - (y - y0) / (y1 - y0)) * ph, 2)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>',
    ]
    for t in ticks(x0, x1):
        out.append(f'<line x1="{px(t)}" y1="{top}" x2="{px(t)}" y2="{top + ph}" stroke="#eee"/>')
        out.append(f'<text x="{px(t)}" y="{top + ph + 16}" text-anchor="middle">{_fmt(t, percent[0])}</text>')
    for t in ticks(y0, y1):
        out.append(f'<line x1="{left}" y1="{py(t)}" x2="{left + pw}" y2="{py(t)}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{py(t) + 4}" text-anchor="end">{_fmt(t, percent[1])}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 10}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(
        f'<text x="14" y="{top + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {top + ph / 2})">{escape(y_label)}</text>'
    )
    for i, s in enumerate(series):
        color = _PALETTE[i % len(_PALETTE)]
        if s.band:
            ring = [(px(x), py(hi)) for x, _, hi in s.band] + [
                (px(x), py(lo)) for x, lo, _ in reversed(s.band)
            ]
            pts = " ".join(f"{a},{b}" for a, b in ring)
            out.append(f'<polygon points="{pts}" fill="{color}" fill-opacity="0.15" stroke="none"/>')
        pts = " ".join(f"{px(x)},{py(y)}" for x, y in s.points)
        out.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        if s.mark is not None:
            mx, my = px(s.mark[0]), py(s.mark[1])
            out.append(f'<circle cx="{mx}" cy="{my}" r="5" fill="{color}" stroke="#000"/>')
            if s.mark_label:
                out.append(f'<text x="{mx + 8}" y="{my - 8}">{escape(s.mark_label)}</text>')
        ly = top + ph - 10 - 16 * (len(series) - 1 - i)  # bottom right: where a rising curve is not
        out.append(
            f'<line x1="{left + pw - 150}" y1="{ly - 4}" x2="{left + pw - 130}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"/>'
        )
        out.append(f'<text x="{left + pw - 124}" y="{ly}">{escape(s.name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
