"""Routing policies by name: what a route's `policy:` runs. Each turns a Situation into a Decision.

rules/schema.py lists the names a routes file may use; the Planner refuses to start when one of them
has no implementation here, so a policy cannot silently fall back to pinning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from gateway.routing.auto import auto
from gateway.routing.cascade import cascade
from gateway.routing.decision import Decision
from gateway.routing.situation import Situation

__all__ = ["POLICIES", "Policy"]

Policy = Callable[[Situation], Decision]

POLICIES: Mapping[str, Policy] = MappingProxyType({"auto": auto, "cascade": cascade})
