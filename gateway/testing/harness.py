"""A dispatcher assembled in-process around fake backends: the routing, walk, strategies and recorder
are the real ones; only the backends and the clock are the test's."""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.classify.loader import scorer_for, verifier_for
from gateway.dispatch import Admitted, Dispatcher, Snapshot
from gateway.dispatch.shadow import Shadow
from gateway.observability.decision_log import DecisionLog
from gateway.observability.journal import Journal
from gateway.observability.metrics import Metrics
from gateway.observability.recorder import Recorder
from gateway.protocol import Call, chat_view
from gateway.resilience.guard import Guard
from gateway.routing.decision import Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.quantiles import RollingQuantile
from gateway.rules import load_routes
from gateway.tenancy.ledger import TenantLedger
from gateway.tenancy.limits import TenantLimits
from gateway.tenancy.shadow_budget import MemoryShadowBudget
from gateway.testing.fake_backend import FakeBackend

__all__ = ["Harness", "chat_call"]


_ids = itertools.count(1)


def chat_call(model: str = "auto", text: str = "hello", *, stream: bool = False, **extra: Any) -> Call:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream, **extra}
    size = len(json.dumps(body))
    return Call(
        chat_view(body, size), body, received=time.monotonic(), response_id=f"chatcmpl-test{next(_ids)}"
    )


@dataclass
class Harness:
    dispatcher: Dispatcher
    metrics: Metrics
    snapshot: Snapshot
    backends: Mapping[str, FakeBackend]
    limits: TenantLimits

    @classmethod
    def build(
        cls,
        routes: str,
        backends: Mapping[str, FakeBackend],
        *,
        request_timeout_s: float = 10.0,
        first_token_timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        decisions: DecisionLog | None = None,
    ) -> Harness:
        table = load_routes(Path("<test>/routes.yaml"), routes)
        metrics = Metrics(CollectorRegistry())
        metrics.prepare_hedges((t, b.name) for t, tier in table.spec.tiers.items() for b in tier.backends)
        guard = Guard.from_spec(table.spec, backends, observer=metrics)
        snap = Snapshot.build(
            table,
            backends,
            guard,
            scorer_for(table),
            verifier_for(table),
            LatencyBook(),
            RollingQuantile(),
            first_token_timeout_s=first_token_timeout_s,
        )
        limits = TenantLimits(clock=clock)
        if decisions is not None:
            decisions.count_drops(metrics.decision_log_dropped)
        recorder = Recorder(metrics, clock, ledger=TenantLedger(None, limits), journal=Journal(decisions))
        shadow = Shadow(
            metrics,
            MemoryShadowBudget(),
            lambda: decisions,
            wall=time.time,
            rng=random.Random(7),  # noqa: S311
        )
        dispatcher = Dispatcher(
            lambda: snap, recorder, request_timeout_s=request_timeout_s, clock=clock, shadow=shadow
        )
        return cls(dispatcher, metrics, snap, backends, limits)

    def admitted(self, hints: Hints | None = None, tenant: str | None = None) -> Admitted:
        """A request let in by this harness's rules (what admission hands serving)."""
        return Admitted(self.snapshot, hints or Hints(), tenant)

    def sample(self, name: str, **labels: str) -> float:
        """One sample's value from this harness's own registry (0 when it does not exist)."""
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value
