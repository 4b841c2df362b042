"""Backends: per-backend health, circuit breakers, load, speed, retries, hedges and errors."""

from __future__ import annotations

from layout import BACKEND_VAR, TIER_VAR, dashboard
from panels import Json, Q, row, state_timeline, timeseries, value_map
from promql import BACKEND, ERRORS, TB, TTFT, or_nan, or_zero, quantile, sum_rate

__all__ = ["backends"]

TPOT = "gateway_time_per_output_token_seconds"
# The gauges' encoding, as docs/metrics.md documents it. A copy: the gateway keeps the breaker's in a
# private table of its metrics module, which the dashboards do not reach into.
BREAKER_MAP = value_map({0: ("closed", "green"), 1: ("half-open", "orange"), 2: ("open", "red")})
UP_MAP = value_map({0: ("down", "red"), 1: ("up", "green")})


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
        timeseries(
            "Hedges by result",
            [
                Q(
                    or_zero(sum_rate("gateway_hedges_total", TB, by="backend, result")),
                    "{{backend}} {{result}}",
                )
            ],
            "reqps",
            "A candidate slower than its p95 x the tier's factor got the next candidate beside it: the "
            "hedge answered first (won), the candidate did (lost), the hedge failed, or the retry budget "
            "refused it (denied). `backend` is the slow candidate; many wins point at a hung replica.",
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
