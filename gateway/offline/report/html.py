"""The report as one self-contained HTML file: a few tables and each cheaper tier's quality/cost plot
inline (svg.py). No script, no external asset; written as well-formed XML too, so a test (or any XML
tool) can read it back."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from gateway.offline.report.svg import Series, line_plot
from gateway.offline.report.text import band, mix, period

if TYPE_CHECKING:
    from gateway.offline.report.curve import Point
    from gateway.offline.report.summary import Summary
    from gateway.offline.report.whatif import WhatIf

__all__ = ["page", "plot"]

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.note { color: #555; font-size: 0.9em; }
"""


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows]
    out.append("</table>")
    return "\n".join(out)


def plot(tier: str, points: Sequence[Point]) -> str:
    """Expected quality kept against cost (or, with a free reference, the share sent to it)."""
    by_cost = all(p.cost is not None for p in points)
    xs = [p.cost if p.cost is not None else 1 - p.kept for p in points]
    now = points[-1]
    series = Series(
        tier,
        [(x, p.quality) for x, p in zip(xs, points, strict=True)],
        band=[(x, p.lo, p.hi) for x, p in zip(xs, points, strict=True)],
        mark=(xs[-1], now.quality),
        mark_label=f"now: {now.quality:.1%}",
    )
    low = min(p.lo for p in points)
    return line_plot(
        [series],
        title=f"{tier}: quality kept against cost, thresholds the log can replay",
        x_label="cost, share of always-the-reference" if by_cost else "share sent to the reference tier",
        y_label="expected quality kept",
        x_range=(0.0, 1.0),
        y_range=(max(0.0, low - 0.02), 1.0),
    )


def _summary(s: Summary) -> list[str]:
    saved = s.saved_share
    out = [
        "<h1>Routing quality</h1>",
        f"<p>{s.requests:,} requests, {escape(period(s))}; {s.lines:,} lines from "
        f"{escape(', '.join(s.files))}; {s.malformed:,} malformed, "
        f"{sum(s.unknown_kinds.values()):,} of unknown kind.</p>",
        "<h2>Tier mix, cost and quality kept</h2>",
        _table(
            [
                "tier",
                "requests",
                "share",
                "cost (USD)",
                "quality kept (verdicts)",
                "reference better",
                "rated good",
                "budget missed",
                "p50 ms",
                "p95 ms",
            ],
            [
                [
                    t.tier,
                    f"{t.requests:,}",
                    f"{t.share:.1%}",
                    f"{t.cost_usd:.4f}",
                    "reference" if t.is_reference else str(t.kept),
                    "" if t.is_reference else str(t.wrong),
                    str(t.rated_good),
                    str(t.budget_missed),
                    "" if t.latency_p50_ms is None else f"{t.latency_p50_ms:.0f}",
                    "" if t.latency_p95_ms is None else f"{t.latency_p95_ms:.0f}",
                ]
                for t in s.tiers
            ],
        ),
        f"<p>Cost {s.cost_usd:.4f} USD against {s.reference_usd:.4f} USD had every request gone to the "
        f"reference tier ({escape(', '.join(s.reference_tiers) or 'none logged')})"
        + (f": <b>{saved:.1%} saved</b>" if saved is not None else "")
        + ".</p>",
        '<p class="note">Always-the-reference = Σ (cost_usd + savings_usd): savings are what the same '
        "tokens would have cost on the reference tier, less what was spent. Quality kept = share of a "
        "tier's judged requests whose shadow verdict is cheaper_as_good or tie; intervals are 95% Wilson "
        "intervals.</p>",
        f"<p>Latency budget missed: {escape(str(s.budget_missed))} requests with a budget; "
        f"{s.planned_misses:,} planned misses.</p>",
    ]
    if s.malformed_at:
        out.append('<p class="note">Malformed: ' + escape("; ".join(s.malformed_at)) + "</p>")
    for tier, points in s.curves.items():
        out.append(f"<h2>{escape(tier)}: quality kept against cost</h2>")
        out.append(
            '<p class="note">Requests this tier answered that have a score and a verdict: a lower '
            "max_difficulty keeps those scored at or below it here and sends the rest to the reference "
            "(quality 1). The marked point is the threshold in force; higher ones cannot be replayed.</p>"
        )
        out.append(plot(tier, points))
        step = max(1, len(points) // 10)
        rows = [
            [
                "(none)" if p.threshold is None else f"{p.threshold:.4f}",
                f"{p.kept:.1%}",
                "n/a" if p.cost is None else f"{p.cost:.1%}",
                f"{p.quality:.1%} [{p.lo:.1%}, {p.hi:.1%}]",
            ]
            for p in [*points[::step][:-1], points[-1]]
        ]
        out.append(_table(["max_difficulty", "kept", "cost", "quality kept"], rows))
    if s.families:
        out.append("<h2>Families</h2>")
        out.append(
            '<p class="note">Each request family of the weights: how often a cheaper tier fell short '
            "there (verdicts, else ratings), and its tier mix as served against the prior alone: "
            "requests moved are those counts learned while serving sent to another tier.</p>"
        )
        fam_rows: list[list[object]] = [
            [
                f.family,
                f.requests,
                str(f.fell_short),
                f.moved,
                mix(f.served, f.requests),
                mix(f.prior, f.requests),
            ]
            for f in s.families
        ]
        out.append(_table(["family", "requests", "fell short", "moved", "served", "prior alone"], fam_rows))
    return out


def _what_if(w: WhatIf) -> list[str]:
    n = max(w.requests, 1)
    tiers = sorted(set(w.old_mix) | set(w.new_mix))
    rows = [
        [
            t,
            f"{w.old_mix.get(t, 0):,.0f}",
            f"{w.old_mix.get(t, 0) / n:.1%}",
            f"{w.new_mix.get(t, 0):,.0f}",
            f"{w.new_mix.get(t, 0) / n:.1%}",
        ]
        for t in tiers
    ]
    out = [
        f"<h2>What if: {escape(w.source)}</h2>",
        _table(["tier", "now", "share", "under the new rules", "share"], rows),
        f"<p>Requests changing tier: <b>{w.changed:.1%}</b>. Cost {w.cost_old:.4f} → {w.cost_new:.4f} USD. "
        f"Expected quality kept {escape(band(w.quality_old))} → {escape(band(w.quality_new))} "
        f"(change {escape(band(w.quality_delta, signed=True))}).</p>",
    ]
    if w.moves:
        moves = sorted(w.moves.items(), key=lambda kv: -kv[1])
        out.append(_table(["from", "to", "requests"], [[a, b, f"{v:,.0f}"] for (a, b), v in moves]))
    out += [f'<p class="note">{escape(note)}</p>' for note in w.notes]
    return out


def page(s: Summary, w: WhatIf | None = None) -> str:
    body = _summary(s) + (_what_if(w) if w is not None else [])
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"/><title>Routing quality</title>',
            f"<style>{_STYLE}</style></head><body>",
            *body,
            "</body></html>",
            "",
        ]
    )
