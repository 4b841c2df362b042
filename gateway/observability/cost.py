"""What an answer cost, and what it saved against a reference tier. Pure, apart from a throughput meter.

Hosted tiers are priced per million input and output tokens (cached input, and input written to the
upstream's cache, at their own prices when the upstream reports them). Self-hosted hardware is paid
by the hour whether busy or not, so its hour is spread over the tokens it serves: at a configured
capacity (`tokens_per_s`) or, without one, at the throughput the gateway measured over the last few
minutes, which charges an idle GPU's hours to the few requests it did serve, as the invoice would.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from gateway.frozen import fast_init
from gateway.protocol import Usage
from gateway.rules import Price, RoutesFile

__all__ = ["Bill", "CostModel", "Throughput"]

_M = 1_000_000


@fast_init
@dataclass(frozen=True, slots=True)
class Bill:
    cost_usd: float  # on the tier that answered
    reference_usd: float
    # Spent on other tiers for the same answer (a cascade's rejected draft): counted against savings.
    elsewhere_usd: float = 0.0

    @property
    def total_usd(self) -> float:
        return self.cost_usd + self.elsewhere_usd

    @property
    def savings_usd(self) -> float:
        # A tier dearer than the reference saves nothing; the extra spend shows in the cost itself.
        return max(0.0, self.reference_usd - self.total_usd)


class Throughput:
    """Tokens served per second over a sliding window (shorter while the meter is younger)."""

    def __init__(self, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._born = clock()
        self._events: deque[tuple[float, int]] = deque()
        self._sum = 0

    def add(self, tokens: int) -> None:
        now = self._clock()
        self._events.append((now, tokens))
        self._sum += tokens
        while self._events and self._events[0][0] < now - self.window_s:
            self._sum -= self._events.popleft()[1]

    def rate(self) -> float:
        span = min(self.window_s, max(1.0, self._clock() - self._born))
        return self._sum / span


def _token_usd(price: Price, rate: float | None) -> float:
    """USD per output-equivalent token for the hardware share (0 without an hourly cost)."""
    if price.usd_per_hour is None:
        return 0.0
    throughput = price.tokens_per_s or rate
    return price.usd_per_hour / 3600 / throughput if throughput else 0.0


def _priced(price: Price, usage: Usage, hardware_per_token: float) -> float:
    cached = min(usage.cached_tokens, usage.prompt_tokens) if price.cached_input_per_mtok is not None else 0
    prompt = usage.prompt_tokens - cached
    usd = (
        prompt * price.input_per_mtok
        + cached * (price.cached_input_per_mtok or 0.0)
        + usage.completion_tokens * price.output_per_mtok
    ) / _M
    write = price.cache_write_per_mtok
    if write is not None and usage.cache_written:  # billed as input above: the difference
        usd += min(usage.cache_written, prompt) * (write - price.input_per_mtok) / _M
    return usd + (usage.prompt_tokens + usage.completion_tokens) * hardware_per_token


class CostModel:
    def __init__(self, spec: RoutesFile, clock: Callable[[], float] = time.monotonic) -> None:
        self._prices = {name: t.price for name, t in spec.tiers.items()}
        ref = spec.cost.reference_tier or max(self._prices, key=lambda n: self._prices[n].per_mtok)
        self.reference_tier = ref
        self._meters = {
            name: Throughput(clock=clock)
            for name, p in self._prices.items()
            if p.usd_per_hour is not None and p.tokens_per_s is None
        }

    def bill(self, tier: str, usage: Usage) -> Bill:
        price = self._prices.get(tier)
        if price is None:
            return Bill(0.0, 0.0)
        meter = self._meters.get(tier)
        if meter is not None:
            meter.add(usage.prompt_tokens + usage.completion_tokens)
        cost = _priced(price, usage, _token_usd(price, meter.rate() if meter else None))
        ref_price = self._prices[self.reference_tier]
        ref_meter = self._meters.get(self.reference_tier)
        reference = _priced(ref_price, usage, _token_usd(ref_price, ref_meter.rate() if ref_meter else None))
        return Bill(cost, reference)
