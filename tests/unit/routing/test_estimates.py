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


def test_a_replica_faster_than_the_prior_stands_for_it() -> None:
    book = LatencyBook()
    a, b, c = (book.get(n, 0.1, 0.01, alpha=0.5, half_life_s=10.0) for n in "abc")
    book.replicas([["a", "b"]])
    b.observe(0.0, ttft_s=0.05, tpot_s=0.005)
    b.observe(0.0, ttft_s=0.05, tpot_s=0.005)
    fast = b.view(0.0)
    assert a.view(0.0) == fast  # never measured: starts where its replica is
    assert c.view(0.0) == (0.1, 0.01)  # no replica: its prior
    a.observe(0.0, ttft_s=0.4)
    a.observe(0.0, ttft_s=0.4)
    high = a.view(0.0)[0]
    assert a.view(10.0)[0] == pytest.approx(fast[0] + (high - fast[0]) / 2)  # drifts back to b's
    assert a.view(100.0)[0] == pytest.approx(fast[0], abs=1e-3)
    a.observe(100.0, ttft_s=fast[0])  # measured from where it stood: at b's speed, it stays there
    assert a.view(100.0)[0] == pytest.approx(fast[0], abs=1e-3)
    book.replicas([["a", "c"]])  # the table changed
    assert b.replicas == ()
    assert b.view(200.0) == pytest.approx((0.1, 0.01), abs=1e-4)  # back to its own prior
    a.observe(200.0, ttft_s=0.4)
    a.observe(200.0, ttft_s=0.4)
    assert c.view(200.0) == (0.1, 0.01)  # a replica slower than the prior changes nothing


def test_book_keeps_stats_per_backend_and_updates_settings() -> None:
    book = LatencyBook()
    a = book.get("a", 0.1, 0.01, alpha=0.3, half_life_s=5)
    assert book.get("a", 9, 9, alpha=0.5, half_life_s=1) is a
    assert (a.alpha, a.half_life_s) == (0.5, 1)
    assert book.get("b", 0.2, 0.02, alpha=0.3, half_life_s=5) is not a


def test_a_tail_starts_at_the_priors_tail() -> None:
    s = stats()  # ttft 0.1 s, tpot 0.01 s
    assert s.tail(0.0, first_chunk=True) == pytest.approx(0.2)
    assert s.tail(0.0, first_chunk=False) == pytest.approx(2 * (0.1 + 256 * 0.01))
    for i in range(4):  # too few to say anything yet
        s.observe_tail(0.0, 0.01 * i, first_chunk=True)
    assert s.tail(0.0, first_chunk=True) == pytest.approx(0.2)


def test_a_replica_with_too_few_answers_is_hedged_by_its_replicas_tail() -> None:
    book = LatencyBook()
    a, b, c, alone = (book.get(n, 0.1, 0.01, alpha=0.5, half_life_s=10.0) for n in "abcd")
    book.replicas([["a", "b", "c"]])
    prior = 2 * (0.1 + 256 * 0.01)  # the tail of a whole answer before anything was measured
    for i in range(1, 21):
        b.observe_tail(1.0, 0.01 * i, first_chunk=False)  # p95 0.19 s
        c.observe_tail(1.0, 0.005 * i, first_chunk=False)  # p95 0.095 s
    assert a.tail(1.0, first_chunk=False) == pytest.approx(0.19)  # the slowest of its warm replicas
    assert a.tail(1.0, first_chunk=True) == pytest.approx(0.2)  # none has first chunks: the prior's
    assert alone.tail(1.0, first_chunk=False) == pytest.approx(prior)  # no replica: the prior's
    assert a.tail(100.0, first_chunk=False) == pytest.approx(prior)  # theirs aged out (4 half-lives)
    for _ in range(5):
        a.observe_tail(100.0, 1.0, first_chunk=False)
    assert a.tail(100.0, first_chunk=False) == pytest.approx(1.0)  # enough of its own: its own


def test_a_tail_is_the_p95_of_recent_samples_for_each_kind() -> None:
    s = stats()
    for i in range(1, 21):
        s.observe_tail(1.0, 0.01 * i, first_chunk=True)
    assert s.tail(1.0, first_chunk=True) == pytest.approx(0.19)  # the 19th of 20
    assert s.tail(1.0, first_chunk=False) == pytest.approx(2 * 2.66)  # answers: still the prior's


def test_a_tail_follows_a_change_within_a_few_samples_and_keeps_bounded_memory() -> None:
    s = stats()
    for _ in range(1000):
        s.observe_tail(1.0, 0.01, first_chunk=False)
    assert s.tail(1.0, first_chunk=False) == pytest.approx(0.01)
    for _ in range(8):  # an eighth of the ring, slow: past the 5% the p95 ignores
        s.observe_tail(1.0, 0.5, first_chunk=False)
    assert s.tail(1.0, first_chunk=False) == pytest.approx(0.5)
    assert len(s._answer_tail._values) == 64


def test_an_unrefreshed_tail_ages_back_to_the_prior() -> None:
    s = stats()  # half-life 10 s: samples count for 40 s
    for _ in range(10):
        s.observe_tail(0.0, 0.01, first_chunk=True)
    assert s.tail(39.0, first_chunk=True) == pytest.approx(0.01)
    assert s.tail(41.0, first_chunk=True) == pytest.approx(0.2)
