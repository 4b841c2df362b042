"""Breakers, retries and vLLM load parsing, with injected clocks and scripted calls: no sleeping."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.backends.sglang import SGLANG_METRICS
from gateway.backends.vllm import parse_metrics
from gateway.errors import GatewayError, UpstreamError, UpstreamRejected, UpstreamTimeout, UpstreamUnavailable
from gateway.resilience.breaker import Breaker, BreakerBoard, BreakerPolicy, State
from gateway.resilience.retry import RetryBudget, retry_failed

POLICY = BreakerPolicy(
    consecutive=3,
    failure_rate=0.5,
    min_requests=6,
    window_s=10,
    base_ejection_s=5,
    max_ejection_s=12,
    max_ejected_share=0.5,
)


def test_consecutive_failures_eject_then_half_open_probe_recovers() -> None:
    b = Breaker(POLICY)
    assert not b.failure(0, may_eject=True)
    assert not b.failure(1, may_eject=True)
    assert b.failure(2, may_eject=True)  # third in a row
    assert b.current(2) is State.OPEN and not b.allows(6.9)
    assert b.allows(7.0)  # 5 s later: half-open, one probe
    b.start(7.0)
    assert not b.allows(7.0)  # only one probe at a time
    b.success(7.5)
    assert b.current(7.5) is State.CLOSED and b.allows(7.5)


def test_an_abandoned_probe_frees_the_slot() -> None:
    b = Breaker(POLICY)
    for t in range(3):
        b.failure(t, may_eject=True)
    b.start(7)
    assert not b.allows(7)
    b.abandon()  # the probing client went away before any verdict
    assert b.allows(7) and b.current(7) is State.HALF_OPEN


def test_failed_probes_double_the_ejection_up_to_the_cap() -> None:
    b = Breaker(POLICY)
    for t in range(3):
        b.failure(t, may_eject=True)
    assert b.open_until == 2 + 5
    b.start(7)
    b.failure(7, may_eject=True)
    assert b.open_until == 7 + 10
    b.start(17)
    b.failure(17, may_eject=True)
    assert b.open_until == 17 + 12  # capped
    b.start(29)
    b.success(29)  # closed; failing again soon keeps the long ejection
    for t in (30, 31, 32):
        b.failure(t, may_eject=True)
    assert b.open_until == 32 + 12
    b.start(44)
    b.success(44)
    for t in (60, 61, 62):  # healthy for longer than max_ejection_s: a fresh start
        b.failure(t, may_eject=True)
    assert b.open_until == 62 + 5


def test_failure_rate_ejects() -> None:
    b = Breaker(POLICY)
    for t, ok in enumerate([True, False, True, False, True, False]):
        (b.success if ok else lambda now: b.failure(now, may_eject=True))(t)
    assert b.current(6) is State.OPEN


def test_old_calls_leave_the_window() -> None:
    b = Breaker(POLICY)
    for t in range(5):
        b.failure(t * 0.1, may_eject=False)
    b.success(30)
    assert len(b.calls) == 1


def test_never_more_than_the_share_of_a_tier_is_ejected() -> None:
    board = BreakerBoard(POLICY, {"medium": ["a", "b", "c", "d"], "large": ["x"]})
    for name in ("a", "b", "c"):
        for t in range(3):
            board.failure(name, t)
    assert [board.state(n, 3) for n in "abcd"] == [State.OPEN, State.OPEN, State.CLOSED, State.CLOSED]
    for t in range(3):
        board.failure("x", t)
    assert board.state("x", 3) is State.OPEN  # a tier's only backend may go: other tiers are behind it


def test_retry_after_hold() -> None:
    b = Breaker(POLICY)
    b.hold(0, 30)
    assert not b.allows(29) and b.allows(30)


class Script:
    def __init__(self, *outcomes: Exception | str) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        out = self.outcomes.pop(0)
        if isinstance(out, Exception):
            raise out
        return out


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


async def call_with_retries(fn: Script, **bounds: Any) -> str:
    """A first attempt as the guard makes it (bare), then retry_failed."""
    try:
        return await fn()
    except GatewayError as first:
        return await retry_failed(fn, first, **bounds)


async def retry(
    script: Script,
    *,
    attempts: int = 3,
    deadline: float = 100,
    budget: RetryBudget | None = None,
    clock: Clock | None = None,
) -> str:
    return await call_with_retries(
        script,
        attempts=attempts,
        deadline=deadline,
        budget=budget or RetryBudget(),
        clock=clock or Clock(),
        backoff_s=0.0,
    )


async def test_retries_retryable_failures_until_success() -> None:
    s = Script(UpstreamError("x"), UpstreamError("y"), "ok")
    assert await retry(s) == "ok" and s.calls == 3


async def test_never_retries_a_rejected_request() -> None:
    s = Script(UpstreamRejected("bad"), "ok")
    with pytest.raises(UpstreamRejected):
        await retry(s)
    assert s.calls == 1


async def test_attempts_bound() -> None:
    s = Script(UpstreamError("1"), UpstreamError("2"), "ok")
    with pytest.raises(UpstreamError, match="2"):
        await retry(s, attempts=2)


async def test_deadline_bound() -> None:
    clock = Clock()
    clock.t = 99.99
    s = Script(UpstreamError("1"), "ok")
    with pytest.raises(UpstreamError):
        await call_with_retries(
            s, attempts=3, deadline=100, budget=RetryBudget(), clock=clock, backoff_s=0.05
        )
    assert s.calls == 1


async def test_a_timeout_is_not_retried_where_the_caller_moves_on() -> None:
    s = Script(UpstreamTimeout("slow"), "ok")
    with pytest.raises(UpstreamTimeout):
        await call_with_retries(
            s, attempts=3, deadline=100, budget=RetryBudget(), clock=Clock(), backoff_s=0, timeouts=False
        )
    assert s.calls == 1
    s = Script(UpstreamError("x"), UpstreamTimeout("slow"), "ok")  # retried until it timed out
    with pytest.raises(UpstreamTimeout):
        await call_with_retries(
            s, attempts=3, deadline=100, budget=RetryBudget(), clock=Clock(), backoff_s=0, timeouts=False
        )
    assert s.calls == 2
    s = Script(UpstreamTimeout("slow"), "ok")
    assert await retry(s) == "ok" and s.calls == 2  # by default a timeout is retried


async def test_long_retry_after_is_not_waited_for() -> None:
    s = Script(UpstreamUnavailable("busy", headers={"retry-after": "30"}), "ok")
    with pytest.raises(UpstreamUnavailable):
        await retry(s)
    assert s.calls == 1


async def test_short_retry_after_is_honoured() -> None:
    s = Script(UpstreamUnavailable("busy", headers={"retry-after": "0.01"}), "ok")
    assert await retry(s) == "ok"


async def test_budget_bounds_retries_across_requests_once_a_few_are_in_flight() -> None:
    budget = RetryBudget(ratio=0.1, window_s=10, floor=2)
    for _ in range(10):
        budget.request(0)
    assert budget.acquire(0) and budget.acquire(0)  # the floor: two in flight at once
    assert budget.in_flight == 2
    assert not budget.acquire(0)  # 2 retries in the window is not under 10% of 10 requests
    calls = 0
    for _ in range(5):  # requests that fail while those two still run: one attempt each
        s = Script(UpstreamError("x"), UpstreamError("x"), UpstreamError("x"))
        with pytest.raises(UpstreamError):
            await retry(s, budget=budget)
        calls += s.calls
    assert calls == 5 and budget.denied == 6
    for _ in range(90):
        budget.request(1)
    assert budget.acquire(1)  # 10% of 100 requests: the share allows more beside the floor
    assert budget.in_flight == 3


async def test_retries_one_at_a_time_are_not_bounded_by_a_count_per_window() -> None:
    """Light traffic: each retry ended before the next was asked for. A floor counted per window
    refused the fourth in 10 s, which left a request on a hung backend until its deadline."""
    budget = RetryBudget(ratio=0.1, window_s=10, floor=2)
    for _ in range(10):
        s = Script(UpstreamError("x"), "ok")
        assert await retry(s, budget=budget) == "ok"
        budget.request(0)
    assert budget.granted == 10 and budget.denied == 0
    assert budget.in_flight == 0  # each retry gave its slot back, answered or not
    s = Script(UpstreamError("x"), UpstreamError("x"), UpstreamError("x"))
    with pytest.raises(UpstreamError):
        await retry(s, budget=budget)
    assert s.calls == 3 and budget.in_flight == 0


async def test_a_retry_cancelled_while_it_waits_gives_its_slot_back() -> None:
    budget = RetryBudget(floor=1)
    s = Script(UpstreamError("x"), "ok")
    task = asyncio.ensure_future(
        call_with_retries(s, attempts=3, deadline=100, budget=budget, clock=Clock(), backoff_s=1)
    )
    await asyncio.sleep(0)  # the first attempt failed; the retry was granted and now waits
    assert budget.in_flight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.in_flight == 0 and s.calls == 1


def test_a_retry_never_given_back_stops_counting_after_the_window() -> None:
    budget = RetryBudget(ratio=0.0, window_s=10, floor=1)
    assert budget.acquire(0)
    assert not budget.acquire(5)
    assert budget.acquire(10.5)  # the first was granted more than a window ago


def test_vllm_metrics_both_generations_of_names() -> None:
    text = """# HELP vllm:num_requests_waiting Number of requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 3.0
vllm:num_requests_waiting{engine="1",model_name="m"} 2.0
vllm:num_requests_running{engine="0",model_name="m"} 7.0
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.97
vllm:prompt_tokens_total{model_name="m"} 12345.0
"""
    load = parse_metrics(text, at=1.0)
    assert load is not None
    assert (load.waiting, load.running, load.kv_cache) == (5.0, 7.0, 0.97)
    assert load.tokens == 12345.0  # the counters read and written tokens: the engine's progress
    old = parse_metrics(
        'vllm:num_requests_waiting{model_name="m"} 1\nvllm:gpu_cache_usage_perc{model_name="m"} 0.25\n', 0
    )
    assert old is not None and old.kv_cache == 0.25 and old.tokens is None
    assert parse_metrics("process_cpu_seconds_total 12\n", 0) is None


def test_sglang_metrics_read_by_their_own_names() -> None:
    """SGLang's names as its scheduler and tokenizer export them (two tensor-parallel ranks); vLLM's
    names are not SGLang's, and SGLang's are not read as vLLM's."""
    labels = 'model_name="m",engine_type="unified"'
    text = f"""# TYPE sglang:num_queue_reqs gauge
sglang:num_queue_reqs{{{labels},tp_rank="0"}} 4.0
sglang:num_running_reqs{{{labels},tp_rank="0"}} 9.0
sglang:token_usage{{{labels},tp_rank="0"}} 0.41
sglang:token_usage{{{labels},tp_rank="1"}} 0.43
sglang:num_used_tokens{{{labels},tp_rank="0"}} 5120.0
sglang:realtime_tokens_total{{{labels},tp_rank="0",mode="prefill_compute"}} 300.0
sglang:realtime_tokens_total{{{labels},tp_rank="0",mode="decode"}} 1200.0
sglang:generation_tokens_total{{{labels}}} 1000.0
sglang:gen_throughput{{{labels},tp_rank="0"}} 88.5
"""
    load = parse_metrics(text, 1.0, SGLANG_METRICS)
    assert load is not None
    assert (load.waiting, load.running, load.kv_cache, load.tokens) == (4.0, 9.0, 0.43, 2500.0)
    assert parse_metrics(text, 1.0) is None  # read as vLLM's: nothing it knows
    assert parse_metrics('vllm:num_requests_waiting{model_name="m"} 1\n', 0, SGLANG_METRICS) is None
