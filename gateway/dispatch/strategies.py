"""Strategies: which candidate lists a request's walk runs, and how their answers combine.

A strategy is looked up by the name its plan carries. Ordered fallback runs the plan's candidates once,
in order; draft-and-verify (draft_verify.py, what the `cascade` policy plans) drafts, verifies and
escalates. A new strategy is one more class,
written against Walk.run and its modes without touching the walk.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol, TypeVar

from gateway.dispatch.draft_verify import DraftVerify

if TYPE_CHECKING:
    from gateway.dispatch.modes import Answer, Mode
    from gateway.dispatch.walk import Walk

__all__ = ["STRATEGIES", "DraftVerify", "Fallback", "Strategy"]

_T = TypeVar("_T")


class Strategy(Protocol):
    def run(self, walk: Walk, mode: Mode[_T]) -> Awaitable[Answer[_T]]: ...


class Fallback:
    """The plan's candidates in order; the first that answers is the answer."""

    def run(self, walk: Walk, mode: Mode[_T]) -> Awaitable[Answer[_T]]:
        # The walk's own coroutine, not one awaiting it: a frame less at each suspension.
        return walk.run(walk.candidates(walk.decision.plan), mode)


# Keyed by Plan.strategy: a dispatch word, never a routing policy's name.
STRATEGIES: Mapping[str, Strategy] = MappingProxyType({"fallback": Fallback(), "draft_verify": DraftVerify()})
