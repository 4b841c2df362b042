"""Gauges read from the live gateway when Prometheus scrapes: they cost nothing per request."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["BackendRow", "StateCollector"]

_BREAKER = {"closed": 0.0, "half_open": 1.0, "open": 2.0}


@dataclass(frozen=True, slots=True)
class BackendRow:
    tier: str
    backend: str
    up: bool
    breaker: str
    in_flight: int
    queued: int


class StateCollector(Collector):
    """Gauges read from the live gateway at scrape time."""

    def __init__(self, rows: Callable[[], Iterable[BackendRow]], config_sha: Callable[[], str]) -> None:
        self._rows = rows
        self._sha = config_sha

    def collect(self) -> Iterator[Metric]:
        labels = ["tier", "backend"]
        up = GaugeMetricFamily(
            "gateway_backend_up", "1 when the backend's health check passes", labels=labels
        )
        breaker = GaugeMetricFamily(
            "gateway_breaker_state", "Circuit breaker: 0 closed, 1 half-open, 2 open", labels=labels
        )
        in_flight = GaugeMetricFamily(
            "gateway_in_flight_requests", "Requests the gateway has in flight to the backend", labels=labels
        )
        queue = GaugeMetricFamily(
            "gateway_queue_depth",
            "Requests admitted by the backend's own queue (embedded model)",
            labels=labels,
        )
        for r in self._rows():
            key = [r.tier, r.backend]
            up.add_metric(key, 1.0 if r.up else 0.0)
            breaker.add_metric(key, _BREAKER.get(r.breaker, 2.0))
            in_flight.add_metric(key, float(r.in_flight))
            queue.add_metric(key, float(r.queued))
        info = GaugeMetricFamily("gateway_config_info", "The loaded routes.yaml, by hash", labels=["sha256"])
        info.add_metric([self._sha()], 1.0)
        yield from (up, breaker, in_flight, queue, info)
