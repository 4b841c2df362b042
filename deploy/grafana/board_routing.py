"""Routing: how the router decides (difficulty, reasons, route mix, latency budgets, fallbacks)."""

from __future__ import annotations

from layout import TIER_VAR, dashboard
from panels import Json, Q, heatmap, row, timeseries
from promql import RI, TIER, or_nan, or_zero, quantile, rate, sum_rate

__all__ = ["routing"]


def routing() -> Json:
    diff = "gateway_difficulty"
    result_escalated = 'result="escalated"'
    judged = sum_rate("gateway_shadow_verdicts_total", by="tier")
    kept = sum_rate("gateway_shadow_verdicts_total", 'verdict=~"cheaper_as_good|tie"', by="tier")
    wrong = rate("gateway_shadow_verdicts_total", 'verdict="reference_better"')
    budget_ratio = (
        f"({or_zero(sum_rate('gateway_latency_budget_misses_total'))}) / "
        f"clamp_min({or_zero(sum_rate('gateway_latency_budget_requests_total'))}, 1e-9)"
    )
    items = [
        row("Difficulty"),
        timeseries(
            "Difficulty quantiles (auto-routed)",
            [Q(or_nan(quantile(q, diff)), f"p{round(q * 100)}") for q in (0.5, 0.9, 0.99)],
            "none",
            "Classifier scores of requests routed with `model: auto`, 0 (easy) to 1 (hard). A gap means "
            "no auto-routed request in the window.",
            maximum=1,
        ),
        heatmap(
            "Difficulty distribution",
            Q(or_zero(f"sum by (le) (increase({diff}_bucket[{RI}]))"), "{{le}}"),
            "short",
            "Auto-routed requests per difficulty bucket (0.05 wide) over time: where the mass sits decides "
            "which tier answers.",
        ),
        row("Decisions"),
        timeseries(
            "Decisions by reason",
            [Q(or_zero(sum_rate("gateway_routing_decisions_total", TIER, by="reason")), "{{reason}}")],
            "reqps",
            "Why each request went where it did: pinned (the route names a tier), cheapest_capable, "
            "cheapest_capable_in_budget, or one of the budget_miss_* outcomes.",
            stack=True,
        ),
        timeseries(
            "Decisions by tier",
            [Q(or_zero(sum_rate("gateway_routing_decisions_total", TIER, by="tier")), "{{tier}}")],
            "reqps",
            "Tier chosen by the router (before fallbacks).",
            stack=True,
        ),
        timeseries(
            "Route mix",
            [Q(sum_rate("gateway_requests_total", by="route"), "{{route}}")],
            "reqps",
            "Requests per route (the client's `model`). `unknown`: a model no route serves; `none`: "
            "unparseable requests.",
            stack=True,
        ),
        timeseries(
            "Fallbacks by cause",
            [Q(or_zero(sum_rate("gateway_fallbacks_total", by="cause")), "{{cause}}")],
            "reqps",
            "A candidate failed and the request moved to the next one; cause is the failure's code.",
            stack=True,
        ),
        timeseries(
            "Hosted tools dropped",
            [Q(or_zero(sum_rate("gateway_dropped_tools_total", by="tool")), "{{tool}}")],
            "reqps",
            "Hosted (server) tools a request offered that a chat backend answered without (web search, "
            "file search, ...): the tool rule in docs/responses.md. A native backend runs them instead.",
            stack=True,
        ),
        row("Cascade"),
        timeseries(
            "Cascade results",
            [Q(or_zero(sum_rate("gateway_cascade_total", by="result")), "{{result}}")],
            "reqps",
            "Requests of cascade routes: the draft accepted, escalated to the next tier, or skipped "
            "(structured request, too hard, no room in the latency budget).",
            stack=True,
            w=6,
        ),
        timeseries(
            "Draft confidence",
            [
                Q(or_nan(quantile(q, "gateway_cascade_confidence")), f"p{round(q * 100)}")
                for q in (0.1, 0.5, 0.9)
            ],
            "none",
            "The verifier's confidence in the drafts it judged (a probability that the draft is right); "
            "drafts below the route's min_confidence escalate.",
            maximum=1,
            w=6,
        ),
        timeseries(
            "Escalated share",
            [
                Q(
                    f"({or_zero(sum_rate('gateway_cascade_total', result_escalated))}) / "
                    f"clamp_min({or_zero(sum_rate('gateway_cascade_total'))}, 1e-9)",
                    "escalated",
                )
            ],
            "percentunit",
            "Of the cascade requests, the share whose draft was rejected (or failed) and escalated.",
            w=6,
        ),
        timeseries(
            "Draft cost",
            [
                Q(
                    f"({or_zero(sum_rate('gateway_cascade_draft_cost_usd_total', by='route'))}) * 3600",
                    "{{route}}",
                )
            ],
            "currencyUSD",
            "What drafts cost per hour, accepted or not (already included in the cost panels).",
            w=6,
        ),
        row("Routing quality (shadow judging and feedback)"),
        timeseries(
            "Quality kept per tier",
            [Q(or_nan(f"({kept}) / ({judged})"), "{{tier}}")],
            "percentunit",
            "Of the cheaper tiers' answers a shadow judge compared with the reference tier's, the share "
            "as good or tied (docs/quality.md). A gap: nothing judged in the window.",
            maximum=1,
            w=6,
        ),
        timeseries(
            "Router wrong",
            [Q(or_nan(f"sum({wrong}) / sum({judged})"), "reference better")],
            "percentunit",
            "Share of judged answers where the reference tier's was better: the router sent them too low.",
            maximum=1,
            w=6,
        ),
        timeseries(
            "Savings and shadow spend",
            [
                Q(f"({or_zero(sum_rate('gateway_savings_usd_total'))}) * 3600", "saved USD/h"),
                Q(f"({or_zero(sum_rate('gateway_shadow_cost_usd_total'))}) * 3600", "shadow USD/h"),
            ],
            "currencyUSD",
            "What routing saves against always the reference tier, next to what measuring it costs.",
            w=6,
        ),
        timeseries(
            "Feedback by label",
            [Q(or_zero(sum_rate("gateway_feedback_total", by="label")), "{{label}}")],
            "reqps",
            "Clients' ratings of their answers (POST /v1/feedback).",
            stack=True,
            w=6,
        ),
        row("Learning while serving"),
        timeseries(
            "Labels learned, by family",
            [
                Q(
                    or_zero(sum_rate("gateway_learning_labels_total", 'result="counted"', by="family")),
                    "{{family}}",
                )
            ],
            "reqps",
            "Shadow verdicts and ratings counted into a request family's learned counts "
            "(docs/quality.md, section 7). Labels capped by a tenant's cap, dropped or lost show apart.",
            stack=True,
            w=8,
        ),
        timeseries(
            "Families learning moved",
            [
                Q("sum(gateway_learning_family_in_force) or vector(0)", "families in force"),
                Q(
                    or_zero(sum_rate("gateway_learning_moved_total", by="route")),
                    "{{route}} requests moved/s",
                ),
                Q(
                    "sum by (result) (increase(gateway_learning_refits_total[1h]))",
                    "refits {{result}} /h",
                ),
            ],
            "short",
            "Families whose learned labels move routing (past a tier threshold their prior is not past, "
            "on enough labels), the requests they send to another tier than the prior alone would, and "
            "the scorer's refits on the decision log (GATEWAY_REFIT_LABELS): adopted, nothing to fit, "
            "failed, set aside.",
            w=8,
        ),
        timeseries(
            "Labels not counted",
            [
                Q(
                    or_zero(sum_rate("gateway_learning_labels_total", 'result!="counted"', by="result")),
                    "{{result}}",
                )
            ],
            "reqps",
            "Labels refused: capped (a tenant's ratings past its cap), dropped (the queue was full), lost "
            "(the store unreachable), stale (another weights file's families), off (learn: off).",
            stack=True,
            w=8,
        ),
        row("Latency budgets and classifier"),
        timeseries(
            "Latency-budget misses",
            [
                Q(budget_ratio, "miss ratio"),
            ],
            "percentunit",
            "Of the requests that carried a latency budget (header or route default), the share that took "
            "longer. 0 when no request carried one. Alert GatewayLatencyBudgetMisses: > 10% for 10 min.",
            w=8,
        ),
        timeseries(
            "Budgeted requests and misses by route",
            [
                Q(
                    or_zero(sum_rate("gateway_latency_budget_requests_total", by="route")),
                    "{{route}} budgeted",
                ),
                Q(or_zero(sum_rate("gateway_latency_budget_misses_total", by="route")), "{{route}} missed"),
            ],
            "reqps",
            "Requests per second that carried a budget, and those over it.",
            w=8,
        ),
        timeseries(
            "Classifier latency",
            [
                Q(quantile(q, "gateway_classifier_duration_seconds"), f"p{round(q * 100)}")
                for q in (0.5, 0.99)
            ],
            "s",
            "Time to score one request's difficulty (auto routes only). A gap means no auto-routed request.",
            w=8,
        ),
    ]
    return dashboard(
        "gateway-routing",
        "LLM gateway / Routing",
        "How the router decides: difficulty, reasons, route mix, latency budgets and fallbacks.",
        items,
        [TIER_VAR],
    )
