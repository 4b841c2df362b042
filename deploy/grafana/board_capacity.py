"""Capacity: concurrency, queues, token throughput, the gateway's own cost, the loaded configuration."""

from __future__ import annotations

from layout import BACKEND_VAR, TIER_VAR, dashboard
from panels import Json, Q, row, table, timeseries
from promql import RI, TB, TIER, or_zero, quantile, sum_rate

__all__ = ["capacity"]


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
        row("WebSockets (Responses API)"),
        timeseries(
            "WebSocket connections",
            [Q("sum(gateway_websocket_connections)", "open")],
            "short",
            "Responses API WebSocket connections open now (Codex keeps one per session); their turns "
            "are in the request rate above.",
            w=8,
        ),
        timeseries(
            "WebSocket upgrades and messages",
            [
                Q(or_zero(sum_rate("gateway_websocket_upgrades_total", by="result")), "upgrade {{result}}"),
                Q(or_zero(sum_rate("gateway_websocket_messages_total", by="type")), "message {{type}}"),
            ],
            "reqps",
            "Upgrades by result (refused: unauthorized, limited, disabled, draining) and client messages "
            "by type (unknown, invalid: clients sending what the socket does not take).",
            w=8,
        ),
        timeseries(
            "WebSocket closes by reason",
            [Q(or_zero(sum_rate("gateway_websocket_closed_total", by="reason")), "{{reason}}")],
            "reqps",
            "Why connections ended: the client, idle, the message limit, a stalled reader, the drain.",
            stack=True,
            w=8,
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
