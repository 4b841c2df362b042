"""Whether one backend may be called now, as a value others read without asking.

The breaker and the health checks keep it current as they change their minds; the planner reads it
for every candidate it ranks, and dispatch before it sends an attempt, without a call into
resilience: two attribute reads. `until` is when the breaker lets calls through: -inf while it is
closed; the end of its ejection while open, and still once half-open with its probe free (a time
passed, but not -inf: an attempt sent there tells the guard, which takes the probe); inf while its one
probe is out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Gate"]


@dataclass(slots=True)
class Gate:
    up: bool = True  # the health checks' verdict (innocent until a probe says otherwise)
    until: float = -math.inf

    def open(self, now: float) -> bool:
        return self.up and now >= self.until
