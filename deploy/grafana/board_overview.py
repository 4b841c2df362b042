"""Overview: traffic, errors, latency, cost and tier mix, the first dashboard to open."""

from __future__ import annotations

from layout import TIER_VAR, dashboard
from panels import Json, Q, row, stat, timeseries
from promql import ERRORS, FAILURES, TIER, TTFT, or_nan, or_zero, quantile, sum_rate

__all__ = ["overview"]

ALL_REQ = sum_rate("gateway_requests_total", TIER)
ERR_REQ = sum_rate("gateway_requests_total", f"{ERRORS}, {TIER}")
ERROR_RATIO = f"{ERR_REQ} / {ALL_REQ}"
LATENCY = "gateway_request_duration_seconds"
USD_PER_H = "3600 * "


def overview() -> Json:
    items = [
        row("Now"),
        stat("Requests/s", [Q(or_zero(ALL_REQ))], "reqps", "All answered requests, every outcome."),
        stat(
            "Error ratio",
            [Q(ERROR_RATIO)],
            "percentunit",
            f"{' + '.join(FAILURES)} over all requests "
            "(client errors and cancellations are not the gateway's failures).",
            thresholds=[(None, "green"), (0.01, "orange"), (0.05, "red")],
            decimals=2,
        ),
        stat(
            "Latency p95",
            [Q(quantile(0.95, LATENCY, TIER))],
            "s",
            "End-to-end, arrival to last byte.",
            thresholds=[(None, "green"), (5, "orange"), (30, "red")],
        ),
        stat(
            "Spend",
            [Q(or_zero(USD_PER_H + sum_rate("gateway_cost_usd_total", TIER)))],
            "currencyUSD",
            "What the answers cost, per hour at the current rate.",
            decimals=2,
        ),
        stat(
            "Savings",
            [Q(or_zero(USD_PER_H + sum_rate("gateway_savings_usd_total", TIER)))],
            "currencyUSD",
            "Saved per hour against sending everything to the reference tier.",
            decimals=2,
        ),
        stat(
            "Backends up",
            [
                Q(f"sum(gateway_backend_up{{{TIER}}})", "up"),
                Q(f"count(gateway_backend_up{{{TIER}}})", "total"),
            ],
            "short",
            "Backends passing their health check, of all configured.",
        ),
        row("Traffic and latency"),
        timeseries(
            "Request rate by outcome",
            [Q(sum_rate("gateway_requests_total", TIER, by="outcome"), "{{outcome}}")],
            "reqps",
            "Answered requests per second, stacked by outcome.",
            stack=True,
        ),
        timeseries(
            "Error ratio",
            [Q(ERROR_RATIO, "error ratio")],
            "percentunit",
            "Share of requests that failed because of the gateway or an upstream. The alert "
            "GatewayHighErrorRatio fires above 5% for 5 minutes.",
        ),
        timeseries(
            "End-to-end latency",
            [Q(quantile(q, LATENCY, TIER), f"p{round(q * 100)}") for q in (0.5, 0.95, 0.99)],
            "s",
            "Quantiles of gateway_request_duration_seconds: arrival to the reply (or a stream's last byte).",
        ),
        timeseries(
            "Time to first token p95",
            [Q(or_nan(quantile(0.95, TTFT, TIER)), "p95")],
            "s",
            "Streams only: upstream call to its first chunk. A gap means no stream in the window.",
        ),
        row("Cost and tiers"),
        timeseries(
            "Cost and savings (USD/h)",
            [
                Q(or_zero(USD_PER_H + sum_rate("gateway_cost_usd_total", TIER)), "cost"),
                Q(or_zero(USD_PER_H + sum_rate("gateway_savings_usd_total", TIER)), "savings"),
                Q(or_zero(USD_PER_H + sum_rate("gateway_reference_cost_usd_total", TIER)), "reference cost"),
            ],
            "currencyUSD",
            "Spend per hour at the current rate, what the same tokens would cost at the reference tier, "
            "and the difference saved.",
        ),
        timeseries(
            "Tier mix",
            [
                Q(
                    f"{sum_rate('gateway_requests_total', TIER, by='tier')} / ignoring(tier) group_left "
                    f"{ALL_REQ}",
                    "{{tier}}",
                )
            ],
            "percentunit",
            "Share of requests answered by each tier (tier `none`: failed before any backend answered).",
            stack=True,
            maximum=1,
        ),
    ]
    return dashboard(
        "gateway-overview",
        "LLM gateway / Overview",
        "Traffic, errors, latency, cost and tier mix of the LLM routing gateway.",
        items,
        [TIER_VAR],
    )
