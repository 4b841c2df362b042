"""The WebSocket mode's own metrics: connections, client messages and why connections closed.

Each `response.create` on a socket is a request like any other (gateway_requests_total and the rest,
endpoint `responses`); these count what only a socket has. Labels are fixed code lists.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

__all__ = ["CLOSE_REASONS", "MESSAGE_TYPES", "UPGRADE_RESULTS", "SocketMetrics"]

# Upgrades: accepted, or refused (no or bad key, a bad header, the key's sockets used up, WebSocket mode
# off, draining).
UPGRADE_RESULTS = ("accepted", "unauthorized", "invalid", "limited", "disabled", "draining")
# Client messages, by type; anything else is `unknown`, and what is not a JSON object `invalid`.
MESSAGE_TYPES = ("response.create", "warmup", "response.steer", "unknown", "invalid")
# Why a connection ended: the client closed it, it idled, it reached its message limit, a message was
# over the size limit, the client stopped reading, the gateway drained it on shutdown.
CLOSE_REASONS = ("client", "idle", "message_limit", "too_large", "stalled", "drained")


class SocketMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.open = Gauge("gateway_websocket_connections", "WebSocket connections open now", registry=r)
        self.upgrades = Counter(
            "gateway_websocket_upgrades", "WebSocket upgrade requests, by result", ["result"], registry=r
        )
        self.messages = Counter(
            "gateway_websocket_messages",
            "Client messages on WebSocket connections, by type",
            ["type"],
            registry=r,
        )
        self.closed = Counter(
            "gateway_websocket_closed", "WebSocket connections ended, by why", ["reason"], registry=r
        )
        self._upgrades = {k: self.upgrades.labels(k) for k in UPGRADE_RESULTS}
        self._messages = {k: self.messages.labels(k) for k in MESSAGE_TYPES}
        self._closed = {k: self.closed.labels(k) for k in CLOSE_REASONS}

    def upgrade(self, result: str) -> None:
        self._upgrades[result].inc()
        if result == "accepted":
            self.open.inc()

    def message(self, kind: str) -> None:
        self._messages[kind if kind in self._messages else "unknown"].inc()

    def ended(self, reason: str) -> None:
        self.open.dec()
        self._closed[reason].inc()
