"""Rolling quantile of recent scores: cold start, the window, shares, bounds."""

from __future__ import annotations

import random

import pytest

from gateway.routing.quantiles import RollingQuantile


def test_no_threshold_before_min_count() -> None:
    q = RollingQuantile(window=100, min_count=10, refresh=1)
    for i in range(9):
        q.add(i / 10)
        assert q.threshold(0.5) is None
    q.add(0.9)
    assert q.threshold(0.5) == pytest.approx(0.4)


def test_share_means_the_easiest_share_lies_at_or_below() -> None:
    q = RollingQuantile(window=1000, min_count=1, refresh=1)
    values = [i / 100 for i in range(100)]
    random.Random(1).shuffle(values)
    for v in values:
        q.add(v)
    t = q.threshold(0.7)
    assert t == pytest.approx(0.69)
    assert sum(v <= t for v in values) == 70
    assert q.threshold(1.0) == pytest.approx(0.99)
    assert q.threshold(0.001) == pytest.approx(0.0)


def test_the_window_forgets_old_scores_and_memory_is_bounded() -> None:
    q = RollingQuantile(window=50, min_count=10, refresh=1)
    for _ in range(500):
        q.add(0.9)
    for _ in range(50):
        q.add(0.1)
    assert len(q) == 50
    assert q.added == 550
    assert q.threshold(0.99) == pytest.approx(0.1)


def test_refresh_bounds_staleness() -> None:
    q = RollingQuantile(window=100, min_count=10, refresh=20)
    for _ in range(100):
        q.add(0.2)
    assert q.threshold(0.5) == pytest.approx(0.2)
    for _ in range(19):
        q.add(0.8)
    assert q.threshold(0.5) == pytest.approx(0.2)  # the sorted copy is at most 19 additions old
    q.add(0.8)
    q.add(0.8)
    assert q.threshold(0.9) == pytest.approx(0.8)


def test_nan_is_ignored() -> None:
    q = RollingQuantile(window=10, min_count=1)
    q.add(float("nan"))
    assert len(q) == 0
    assert q.threshold(0.5) is None


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": 10, "min_count": 11}, {"refresh": 0}])
def test_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must"):
        RollingQuantile(**kwargs)


@pytest.mark.parametrize("share", [0.0, -0.1, 1.5])
def test_bad_share(share: float) -> None:
    q = RollingQuantile(window=10, min_count=1)
    q.add(0.5)
    with pytest.raises(ValueError, match="share"):
        q.threshold(share)
