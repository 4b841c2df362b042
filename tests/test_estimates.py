"""Latency estimates with an injected clock: outliers damped, trends followed, stale values decay."""

from __future__ import annotations

import pytest

from gateway.routing.estimates import LatencyBook, LatencyStats


def stats() -> LatencyStats:
    return LatencyStats(0.1, 0.01, alpha=0.5, half_life_s=10.0)


def test_starts_at_the_prior() -> None:
    assert stats().view(0.0) == (0.1, 0.01)


def test_follows_samples() -> None:
    s = stats()
    s.observe(1.0, ttft_s=0.2, tpot_s=0.02)
    assert s.view(1.0) == pytest.approx((0.15, 0.015))


def test_a_lone_outlier_is_damped_a_second_one_counts() -> None:
    s = stats()
    s.observe(0.0, ttft_s=10.0)  # 100x the estimate: clipped to 4x
    assert s.view(0.0)[0] == pytest.approx(0.1 + 0.5 * (0.4 - 0.1))
    s.observe(0.0, ttft_s=0.1)  # back to normal: it was noise
    assert s.view(0.0)[0] < 0.2
    s.observe(0.0, ttft_s=10.0)
    s.observe(0.0, ttft_s=10.0)  # twice in a row: a real slowdown
    assert s.view(0.0)[0] > 4.0


def test_unrefreshed_estimates_decay_to_the_prior() -> None:
    s = stats()
    s.observe(0.0, ttft_s=0.4)
    s.observe(0.0, ttft_s=0.4)
    high = s.view(0.0)[0]
    assert s.view(10.0)[0] == pytest.approx(0.1 + (high - 0.1) / 2)  # one half-life
    assert s.view(100.0)[0] == pytest.approx(0.1, abs=1e-3)


def test_book_keeps_stats_per_backend_and_updates_settings() -> None:
    book = LatencyBook()
    a = book.get("a", 0.1, 0.01, alpha=0.3, half_life_s=5)
    assert book.get("a", 9, 9, alpha=0.5, half_life_s=1) is a
    assert (a.alpha, a.half_life_s) == (0.5, 1)
    assert book.get("b", 0.2, 0.02, alpha=0.3, half_life_s=5) is not a
