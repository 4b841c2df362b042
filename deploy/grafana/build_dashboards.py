#!/usr/bin/env python3
"""The gateway's Grafana dashboards, as code.

    python deploy/grafana/build_dashboards.py           # (re)writes deploy/grafana/dashboards/*.json
    python deploy/grafana/build_dashboards.py --check   # exit 1 if a committed file differs

Dependency-free on purpose (standard library only): a few helpers build panels, `layout` places them
on Grafana's 24-column grid and numbers them, `dashboard` wraps them. The output is stable (sorted keys,
ids in layout order, indent 2, trailing newline), so a regenerated file diffs cleanly.

Every query reads the metrics of gateway/metrics.py (docs/metrics.md). Rules for the expressions:
only the macros `$__rate_interval`, `$tier` and `$backend` (as `tier=~"$tier"`, `backend=~"$backend"`);
each returns data once the gateway has served a little traffic, so sums over series that exist only
after something went wrong (fallbacks, retries, budgets) end in `or on() vector(0)`, and quantiles of
histograms that only some requests feed (streams, auto-routed requests) in `or on() vector(NaN)`:
"no observation", drawn as a gap, never as a misleading 0 s.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Json = dict[str, Any]

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "dashboards"

DATASOURCE: Json = {"type": "prometheus", "uid": "prometheus"}
TAG = "llm-gateway"
RI = "$__rate_interval"
TIER = 'tier=~"$tier"'
BACKEND = 'backend=~"$backend"'
TB = f"{TIER}, {BACKEND}"
# Failures the gateway or its upstreams are responsible for: not the client's own mistakes, not
# clients that went away.
ERRORS = 'outcome=~"upstream_error|timeout|unavailable|stream_error"'
GRID_WIDTH = 24


# --------------------------------------------------------------------------- PromQL helpers


def sel(metric: str, matchers: str = "") -> str:
    return f"{metric}{{{matchers}}}" if matchers else metric


def rate(metric: str, matchers: str = "") -> str:
    return f"rate({sel(metric, matchers)}[{RI}])"


def sum_rate(metric: str, matchers: str = "", by: str = "") -> str:
    grouping = f" by ({by})" if by else ""
    return f"sum{grouping} ({rate(metric, matchers)})"


def quantile(q: float, histogram: str, matchers: str = "", by: str = "") -> str:
    """`histogram_quantile` over a histogram's `_bucket` series, grouped by `le` and `by`."""
    grouping = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({grouping}) ({rate(histogram + '_bucket', matchers)}))"


def or_zero(expr: str) -> str:
    """Data even when nothing matched: a rate of nothing is 0. `on()` keeps the 0 out when any series
    exists (a plain `or` would add it next to every labelled series)."""
    return f"{expr} or on() vector(0)"


def or_nan(expr: str) -> str:
    """A quantile of no observations is undefined: NaN, which Grafana draws as a gap."""
    return f"{expr} or on() vector(NaN)"


# --------------------------------------------------------------------------- panel helpers


@dataclass(frozen=True, slots=True)
class Q:
    """One query of a panel."""

    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


def _targets(queries: list[Q]) -> list[Json]:
    out: list[Json] = []
    for i, q in enumerate(queries):
        t: Json = {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "range": not q.instant,
            "instant": q.instant,
            "refId": chr(ord("A") + i),
        }
        if q.heatmap:
            t["format"] = "heatmap"
        out.append(t)
    return out


def _size(panel: Json, w: int, h: int) -> Json:
    panel["gridPos"] = {"h": h, "w": w, "x": 0, "y": 0}  # x, y and id are set by layout()
    return panel


def _thresholds(steps: list[tuple[float | None, str]]) -> Json:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def _value_map(names: dict[int, tuple[str, str]]) -> list[Json]:
    options = {
        str(k): {"color": color, "index": i, "text": text}
        for i, (k, (text, color)) in enumerate(sorted(names.items()))
    }
    return [{"options": options, "type": "value"}]


def timeseries(
    title: str,
    queries: list[Q],
    unit: str = "short",
    description: str = "",
    *,
    stack: bool = False,
    minimum: float | None = 0,
    maximum: float | None = None,
    w: int = 12,
    h: int = 8,
) -> Json:
    defaults: Json = {
        "color": {"mode": "palette-classic"},
        "custom": {
            "drawStyle": "line",
            "fillOpacity": 25 if stack else 8,
            "lineWidth": 1,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"group": "A", "mode": "normal" if stack else "none"},
        },
        "unit": unit,
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {
                "calcs": ["mean", "max", "lastNotNull"],
                "displayMode": "table",
                "placement": "bottom",
                "showLegend": True,
            },
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": _targets(queries),
        "title": title,
        "type": "timeseries",
    }
    return _size(panel, w, h)


def stat(
    title: str,
    queries: list[Q],
    unit: str = "short",
    description: str = "",
    *,
    thresholds: list[tuple[float | None, str]] | None = None,
    mappings: list[Json] | None = None,
    decimals: int | None = None,
    w: int = 4,
    h: int = 4,
) -> Json:
    defaults: Json = {
        "color": {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": _thresholds(thresholds or [(None, "green")]),
        "unit": unit,
    }
    if decimals is not None:
        defaults["decimals"] = decimals
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "auto",
        },
        "targets": _targets(queries),
        "title": title,
        "type": "stat",
    }
    return _size(panel, w, h)


def state_timeline(
    title: str,
    queries: list[Q],
    description: str = "",
    *,
    mappings: list[Json],
    thresholds: list[tuple[float | None, str]],
    w: int = 12,
    h: int = 8,
) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {
            "defaults": {
                "color": {"mode": "thresholds"},
                "custom": {"fillOpacity": 70, "lineWidth": 0},
                "mappings": mappings,
                "thresholds": _thresholds(thresholds),
            },
            "overrides": [],
        },
        "options": {
            "alignValue": "left",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "auto",
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": _targets(queries),
        "title": title,
        "type": "state-timeline",
    }
    return _size(panel, w, h)


def heatmap(
    title: str, query: Q, unit: str = "short", description: str = "", *, w: int = 12, h: int = 8
) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {"custom": {"scaleDistribution": {"type": "linear"}}}, "overrides": []},
        "options": {
            "calculate": False,
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "yHistogram": True},
            "yAxis": {"axisPlacement": "left", "unit": unit},
        },
        "targets": _targets([Q(query.expr, query.legend or "{{le}}", heatmap=True)]),
        "title": title,
        "type": "heatmap",
    }
    return _size(panel, w, h)


def table(title: str, queries: list[Q], description: str = "", *, w: int = 12, h: int = 6) -> Json:
    panel: Json = {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"cellHeight": "sm", "showHeader": True},
        "targets": _targets([Q(q.expr, q.legend, instant=True) for q in queries]),
        "title": title,
        "transformations": [
            {"id": "labelsToFields", "options": {"mode": "columns"}},
            {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}},
        ],
        "type": "table",
    }
    return _size(panel, w, h)


def row(title: str) -> Json:
    return {
        "collapsed": False,
        "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": 0},
        "panels": [],
        "title": title,
        "type": "row",
    }


def layout(items: list[Json]) -> list[Json]:
    """Left to right, wrapping at 24 columns; a row starts a new line. Ids follow the order."""
    x = y = line_h = 0
    out: list[Json] = []
    for pid, item in enumerate(items, start=1):
        pos = item["gridPos"]
        if item["type"] == "row" or x + pos["w"] > GRID_WIDTH:
            y += line_h
            x = line_h = 0
        pos["x"], pos["y"] = x, y
        item["id"] = pid
        x += pos["w"]
        line_h = max(line_h, pos["h"])
        if item["type"] == "row":
            x, y, line_h = 0, y + pos["h"], 0
        out.append(item)
    return out


def _variable(name: str, label: str, query: str) -> Json:
    return {
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": {"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


TIER_VAR = _variable("tier", "Tier", "label_values(gateway_backend_up, tier)")
BACKEND_VAR = _variable("backend", "Backend", 'label_values(gateway_backend_up{tier=~"$tier"}, backend)')


def dashboard(uid: str, title: str, description: str, items: list[Json], variables: list[Json]) -> Json:
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "links": [
            {
                "asDropdown": False,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": [TAG],
                "targetBlank": False,
                "title": "Gateway dashboards",
                "type": "dashboards",
            }
        ],
        "panels": layout(items),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": [TAG],
        "templating": {"list": variables},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# --------------------------------------------------------------------------- the dashboards

ALL_REQ = sum_rate("gateway_requests_total", TIER)
ERR_REQ = sum_rate("gateway_requests_total", f"{ERRORS}, {TIER}")
ERROR_RATIO = f"{ERR_REQ} / {ALL_REQ}"
LATENCY = "gateway_request_duration_seconds"
TTFT = "gateway_time_to_first_token_seconds"
TPOT = "gateway_time_per_output_token_seconds"
USD_PER_H = "3600 * "
BREAKER_MAP = _value_map({0: ("closed", "green"), 1: ("half-open", "orange"), 2: ("open", "red")})
UP_MAP = _value_map({0: ("down", "red"), 1: ("up", "green")})


def overview() -> Json:
    items = [
        row("Now"),
        stat("Requests/s", [Q(or_zero(ALL_REQ))], "reqps", "All answered requests, every outcome."),
        stat(
            "Error ratio",
            [Q(ERROR_RATIO)],
            "percentunit",
            "upstream_error + timeout + unavailable + stream_error over all requests "
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


def routing() -> Json:
    diff = "gateway_difficulty"
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


def backends() -> Json:
    items = [
        row("Health and breakers"),
        state_timeline(
            "Health",
            [Q(f"max by (tier, backend) (gateway_backend_up{{{TB}}})", "{{tier}}/{{backend}}")],
            "Active health check per backend: up (1) or down (0). Alert GatewayTierDown: every backend of "
            "a tier down for 1 min.",
            mappings=UP_MAP,
            thresholds=[(None, "red"), (1, "green")],
        ),
        state_timeline(
            "Circuit breaker",
            [Q(f"max by (tier, backend) (gateway_breaker_state{{{TB}}})", "{{tier}}/{{backend}}")],
            "closed: traffic flows; open: the backend failed too often and gets none; half-open: one probe "
            "is testing it.",
            mappings=BREAKER_MAP,
            thresholds=[(None, "green"), (1, "orange"), (2, "red")],
        ),
        row("Load"),
        timeseries(
            "In flight",
            [Q(f"sum by (backend) (gateway_in_flight_requests{{{TB}}})", "{{backend}}")],
            "short",
            "Requests the gateway has outstanding at each backend.",
        ),
        timeseries(
            "Queue depth",
            [Q(f"sum by (backend) (gateway_queue_depth{{{TB}}})", "{{backend}}")],
            "short",
            "Requests waiting in a backend's own queue (the embedded model); 0 for remote backends.",
        ),
        timeseries(
            "Request rate by backend",
            [Q(sum_rate("gateway_requests_total", TB, by="backend"), "{{backend}}")],
            "reqps",
            "Answered requests per second, every outcome.",
            stack=True,
        ),
        timeseries(
            "Errors by backend",
            [
                Q(
                    sum_rate("gateway_requests_total", f"{ERRORS}, {TB}", by="backend, outcome"),
                    "{{backend}} {{outcome}}",
                )
            ],
            "reqps",
            "Failed requests per second by the backend that answered last and the outcome "
            "(backend `none`: failed before any backend answered).",
            stack=True,
        ),
        row("Speed"),
        timeseries(
            "Time to first token p95",
            [Q(or_nan(quantile(0.95, TTFT, TB, by="backend")), "{{backend}}")],
            "s",
            "Streams only: upstream call to its first chunk. A gap means no stream in the window.",
        ),
        timeseries(
            "Time per output token p50",
            [Q(or_nan(quantile(0.5, TPOT, TB, by="backend")), "{{backend}}")],
            "s",
            "Streams only: (last chunk - first chunk) / chunks, the decode speed a client sees.",
        ),
        row("Retries"),
        timeseries(
            "Retries by cause",
            [
                Q(
                    or_zero(sum_rate("gateway_retries_total", BACKEND, by="backend, cause")),
                    "{{backend}} {{cause}}",
                )
            ],
            "reqps",
            "Retries made at a backend, by the failure that caused them.",
            stack=True,
        ),
        timeseries(
            "Retries denied",
            [Q(or_zero(sum_rate("gateway_retries_denied_total", BACKEND, by="backend")), "{{backend}}")],
            "reqps",
            "Retries the retry budget refused: a backend failing often enough that retrying would add load.",
            stack=True,
        ),
    ]
    return dashboard(
        "gateway-backends",
        "LLM gateway / Backends",
        "Per-backend health, circuit breakers, load, speed, retries and errors.",
        items,
        [TIER_VAR, BACKEND_VAR],
    )


def capacity() -> Json:
    overhead = "gateway_overhead_seconds"
    items = [
        row("Load"),
        timeseries(
            "In flight by backend",
            [Q(f"sum by (backend) (gateway_in_flight_requests{{{TB}}})", "{{backend}}")],
            "short",
            "Concurrent requests per backend, stacked: the total is the gateway's concurrency.",
            stack=True,
        ),
        timeseries(
            "Queue depth by backend",
            [Q(f"sum by (backend) (gateway_queue_depth{{{TB}}})", "{{backend}}")],
            "short",
            "Requests waiting in the embedded model's queue; at its queue_size the backend answers 503.",
            stack=True,
        ),
        timeseries(
            "Request rate by tier",
            [Q(sum_rate("gateway_requests_total", TIER, by="tier"), "{{tier}}")],
            "reqps",
            "Answered requests per second per tier.",
            stack=True,
        ),
        timeseries(
            "Tokens/s by tier",
            [Q(or_zero(sum_rate("gateway_tokens_total", TIER, by="tier, type")), "{{tier}} {{type}}")],
            "short",
            "Input (prompt) and output (completion) tokens per second: the throughput each tier serves.",
        ),
        row("Gateway"),
        timeseries(
            "Gateway overhead",
            [Q(quantile(q, overhead), f"p{round(q * 100)}") for q in (0.5, 0.99)],
            "s",
            "Time spent inside the gateway itself (parsing, routing, classifying, accounting), the "
            "upstream excluded.",
        ),
        timeseries(
            "Gateway process",
            [
                Q(f"sum(rate(process_cpu_seconds_total[{RI}]))", "CPU (cores)"),
            ],
            "short",
            "CPU the gateway processes use, in cores.",
            w=6,
        ),
        timeseries(
            "Gateway memory",
            [Q("sum(process_resident_memory_bytes)", "resident")],
            "bytes",
            "Resident memory of the gateway processes (the embedded model included).",
            w=6,
        ),
        row("Configuration"),
        table(
            "Loaded routes.yaml",
            [Q("max by (instance, sha256) (gateway_config_info)", "{{sha256}}")],
            "The sha256 of the routes file each gateway instance runs: differing hashes mean instances "
            "disagree.",
        ),
        timeseries(
            "Config reloads",
            [Q(f"sum by (result) (increase(gateway_config_reloads_total[{RI}]))", "{{result}}")],
            "short",
            "routes.yaml loads, ok and failed. Alert GatewayConfigReloadFailed: any failure in 15 min.",
        ),
    ]
    return dashboard(
        "gateway-capacity",
        "LLM gateway / Capacity",
        "Concurrency, queues, token throughput, gateway overhead and configuration.",
        items,
        [TIER_VAR, BACKEND_VAR],
    )


DASHBOARDS = {
    "gateway-overview.json": overview,
    "gateway-routing.json": routing,
    "gateway-backends.json": backends,
    "gateway-capacity.json": capacity,
}


def render() -> dict[str, str]:
    """File name -> the exact text to write."""
    return {name: json.dumps(build(), indent=2, sort_keys=True) + "\n" for name, build in DASHBOARDS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file differs; write nothing")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default: %(default)s)")
    args = parser.parse_args(argv)
    files = render()
    if args.check:
        stale = [name for name, text in files.items() if _read(args.out / name) != text]
        for name in stale:
            print(f"{args.out / name} is out of date: run python {Path(__file__).name}", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    return 0


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


if __name__ == "__main__":
    sys.exit(main())
