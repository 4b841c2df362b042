"""Runs a request's plan: one candidate walk (walk.py), driven by a strategy (strategies.py)."""

from gateway.dispatch.dispatcher import Counted, Dispatcher, Served, StreamServed
from gateway.dispatch.snapshot import Admitted, Snapshot

__all__ = ["Admitted", "Counted", "Dispatcher", "Served", "Snapshot", "StreamServed"]
