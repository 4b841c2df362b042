"""The report as plain text for a terminal: the numbers of summary.py, whatif.py and retrain.py."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.offline.report.expect import Band
    from gateway.offline.report.retrain import Retrained
    from gateway.offline.report.summary import Summary
    from gateway.offline.report.whatif import WhatIf

__all__ = ["band", "period", "retrained_text", "summary_text", "what_if_text"]


def _usd(x: float) -> str:
    return f"${x:,.4f}" if abs(x) < 100 else f"${x:,.2f}"


def period(s: Summary) -> str:
    if s.first_ts is None or s.last_ts is None:
        return "no requests"
    fmt = "%Y-%m-%d %H:%M UTC"
    return f"{time.strftime(fmt, time.gmtime(s.first_ts))} to {time.strftime(fmt, time.gmtime(s.last_ts))}"


def band(b: Band | None, signed: bool = False) -> str:
    if b is None:
        return "n/a"
    f = "+.1%" if signed else ".1%"
    return f"{b.p:{f}} [{b.lo:{f}}, {b.hi:{f}}]"


def summary_text(s: Summary) -> str:
    out = [
        f"{s.requests:,} requests, {period(s)}; {s.lines:,} lines read from {', '.join(s.files)}",
        f"labels: {s.shadow_lines:,} shadow verdicts, {s.feedback_lines:,} ratings"
        f" ({s.orphan_labels:,} for requests not in these files)",
    ]
    if s.malformed:
        out.append(f"malformed lines skipped: {s.malformed:,} (first: {'; '.join(s.malformed_at)})")
    if s.unknown_kinds:
        out.append(
            "lines of unknown kind ignored: " + ", ".join(f"{k} {v}" for k, v in s.unknown_kinds.items())
        )
    if s.duplicates:
        out.append(f"request ids seen twice (skipped): {s.duplicates:,}")
    out.append("")
    out.append("tier mix, cost and quality kept (95% intervals):")
    out.append(f"  {'tier':<12} {'requests':>14} {'cost':>12}  {'quality kept (verdicts)':<34} rated good")
    for t in s.tiers:
        quality = "reference" if t.is_reference else str(t.kept)
        out.append(
            f"  {t.tier:<12} {t.requests:>7,} {t.share:>6.1%} {_usd(t.cost_usd):>12}  "
            f"{quality:<34} {t.rated_good}"
        )
    for t in s.tiers:
        if not t.is_reference and t.wrong.n:
            out.append(f"  {t.tier}: the reference tier's answer was better on {t.wrong}")
    saved = s.saved_share
    out.append("")
    out.append(
        f"cost: {_usd(s.cost_usd)} against {_usd(s.reference_usd)} had every request gone to the reference "
        f"tier ({', '.join(s.reference_tiers) or 'none logged'})"
        + (f": {saved:.1%} saved" if saved is not None else "")
    )
    out.append(
        "  (always-the-reference = Σ cost_usd + savings_usd: savings are counted against the reference)"
    )
    out.append(
        f"latency budget missed: {s.budget_missed} requests with a budget; "
        f"{s.planned_misses:,} planned (no capable tier was expected to fit)"
    )
    if s.cascade:
        out.append("cascade: " + ", ".join(f"{k} {v:,}" for k, v in s.cascade.items()))
    out.append(f"logged with features: {s.with_features:,}; with content: {s.with_content:,}")
    out += families_text(s)
    for tier, points in s.curves.items():
        out.append("")
        out.append(f"{tier}: quality kept against cost, lowering max_difficulty (log replay):")
        out.append(f"  {'max_difficulty':>14} {'kept on ' + tier:>16} {'cost':>8}  quality kept")
        step = max(1, len(points) // 10)
        for pt in [*points[::step][:-1], points[-1]]:
            cut = "(none)" if pt.threshold is None else f"{pt.threshold:.4f}"
            cost = "n/a" if pt.cost is None else f"{pt.cost:.1%}"
            now = "   <- now" if pt is points[-1] else ""
            out.append(
                f"  {cut:>14} {pt.kept:>16.1%} {cost:>8}  {pt.quality:.1%} [{pt.lo:.1%}, {pt.hi:.1%}]{now}"
            )
    return "\n".join(out)


def mix(tiers: dict[str, int], n: int) -> str:
    return ", ".join(f"{t} {c / n:.0%}" for t, c in sorted(tiers.items(), key=lambda kv: -kv[1]))


def families_text(s: Summary, top: int = 20) -> list[str]:
    """Each family's shortfall rate with its interval, and its tier mix as served against the prior's
    alone (what learning while serving moved)."""
    if not s.families:
        return []
    out = ["", "families (learning while serving; the cheaper tiers' labelled requests, 95% intervals):"]
    out.append(
        f"  {'family':<10} {'requests':>9}  {'fell short':<32} {'moved':>6}  tiers served / prior alone"
    )
    for f in s.families[:top]:
        n = max(f.requests, 1)
        tiers = mix(f.served, n) if not f.moved else f"{mix(f.served, n)} / {mix(f.prior, n)}"
        out.append(f"  {f.family:<10} {f.requests:>9,}  {f.fell_short!s:<32} {f.moved:>6,}  {tiers}")
    if len(s.families) > top:
        out.append(f"  ... and {len(s.families) - top} more families")
    return out


def what_if_text(w: WhatIf) -> str:
    n = max(w.requests, 1)
    out = [f"what if: {w.requests:,} logged requests decided again under {w.source}", ""]
    out.append(f"  {'tier':<12} {'now':>16} {'then':>16}")
    for t in sorted(set(w.old_mix) | set(w.new_mix)):
        old, new = w.old_mix.get(t, 0.0), w.new_mix.get(t, 0.0)
        out.append(f"  {t:<12} {old:>8,.0f} {old / n:>6.1%} {new:>8,.0f} {new / n:>6.1%}")
    served = sum(w.not_served.values())
    if served:
        out.append("  not served: " + ", ".join(f"{k} {v:,}" for k, v in w.not_served.items()))
    out.append("")
    out.append(f"requests changing tier: {w.changed:.1%}")
    for (a, b), v in sorted(w.moves.items(), key=lambda kv: -kv[1])[:8]:
        out.append(f"  {a} -> {b}: {v:,.0f}")
    delta = w.cost_new - w.cost_old
    rel = f" ({delta / w.cost_old:+.1%})" if w.cost_old > 0 else ""
    out.append(
        f"cost: {_usd(w.cost_old)} -> {_usd(w.cost_new)}, {'+' if delta >= 0 else '-'}{_usd(abs(delta))}{rel}"
    )
    if w.reference_new > 0:
        out.append(f"  always the reference under the new prices: {_usd(w.reference_new)}")
    out.append(
        f"expected quality kept: {band(w.quality_old)} -> {band(w.quality_new)}, "
        f"change {band(w.quality_delta, signed=True)}"
    )
    out.append(
        "  (each tier's quality kept from the log's verdicts: "
        + ", ".join(f"{t} {r.p:.1%}" for t, r in sorted(w.quality_of.items()) if r.n)
        + ")"
    )
    out += [f"note: {note}" for note in w.notes]
    return "\n".join(out)


def retrained_text(r: Retrained, out: str) -> str:
    rows = r.rows
    lines = [
        f"{out}: fitted on {r.train_rows:,} labelled log rows"
        + (f" and {r.shared_rows:,} shipped examples" if r.shared_rows else "")
        + f"; {len(rows.labels) - r.train_rows:,} held out",
        "  labels: "
        + ", ".join(f"{k} {v:,}" for k, v in rows.sources.items())
        + f" (verdict and feedback disagreed on {rows.conflicts:,}: verdict kept); "
        + f"tiers: {', '.join(r.tiers)}",
    ]
    if rows.rebuilt:
        lines.append(f"  inputs rebuilt from the logged prompt (no logged features): {rows.rebuilt:,}")
    if rows.skipped:
        lines.append("  skipped: " + "; ".join(f"{k}: {v:,}" for k, v in rows.skipped.items()))
    c = r.comparison
    if c is None:
        lines.append("held-out comparison: n/a (held-out rows need a logged score and both outcomes)")
    else:
        lines.append(f"held-out comparison on {c.rows:,} requests ({c.positives:,} fell short):")
        lines.append(
            f"  AUC  new {c.auc_new:.3f} [{c.auc_new_ci[0]:.3f}, {c.auc_new_ci[1]:.3f}]  "
            f"in force {c.auc_old:.3f} [{c.auc_old_ci[0]:.3f}, {c.auc_old_ci[1]:.3f}]  "
            f"gain [{c.auc_gain_ci[0]:+.3f}, {c.auc_gain_ci[1]:+.3f}]"
        )
        lines.append(
            f"  APGR new {c.apgr_new:.3f}  in force {c.apgr_old:.3f}  "
            f"gain [{c.apgr_gain_ci[0]:+.3f}, {c.apgr_gain_ci[1]:+.3f}]"
        )
    s = r.suggestion
    if s is not None:
        q = s.quality
        lines.append(
            f"suggested for {', '.join(r.tiers)}, quality kept >= {s.target:.0%}: "
            f"max_difficulty {s.max_difficulty:g} "
            f"(held out: {q.p:.1%} [{q.lo:.1%}, {q.hi:.1%}], {s.kept:.0%} kept on the cheaper tier)"
            + (f", or share {s.share:.2f} of scored traffic" if s.share is not None else "")
        )
        lines.append(
            f"  routes.yaml: classifier: {{weights: {out}}}, "
            f"and the tier's max_difficulty: {s.max_difficulty:g}"
        )
    return "\n".join(lines)
