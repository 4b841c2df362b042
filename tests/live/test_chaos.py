"""Chaos: steady load through the official openai client while one backend misbehaves in turn.

Tiers: medium = two vLLM-like fakes (A and B, with /health and /metrics), large = one more fake.
Each fault hits A for a few seconds, then A recovers. For every fault: zero client-visible errors
(except the mid-stream cut, which must reach the client as an error, never a clean end), traffic
leaves A within a bounded number of requests and comes back after recovery, retries stay within the
budget, and no task or connection leaks. The figures are printed (pytest -s) for the release note.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, start_gateway, stop

WORKERS = 6
BASELINE = {"mode": "slow", "delay_ms": 20}  # every fake answers in ~20 ms when healthy
FAULT_S = 3.0
RECOVER_S = 5.0


@dataclass
class Outcome:
    t: float
    backend: str | None
    stream: bool
    error: str | None


@dataclass
class Load:
    url: str
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def _worker(self, i: int) -> None:
        client = openai.OpenAI(base_url=self.url, api_key="x", max_retries=0, timeout=30)
        n = 0
        while not self.stop.is_set():
            stream = (n + i) % 2 == 0
            n += 1
            backend, error = None, None
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="chaos", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
                backend = raw.headers.get("x-gateway-backend")
                body = raw.parse()
                if stream:
                    text = "".join(c.choices[0].delta.content or "" for c in body if c.choices)  # type: ignore[union-attr]
                    assert text, "empty stream"
            except Exception as exc:
                error = type(exc).__name__
            self.outcomes.append(Outcome(time.monotonic(), backend, stream, error))

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(WORKERS)]
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def between(self, t0: float, t1: float) -> list[Outcome]:
        return [o for o in self.outcomes if t0 <= o.t < t1]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeUpstream]]:
    ups = {n: FakeUpstream(model=f"fake-{n}", reply=f"answer from {n}") for n in ("a", "b", "large")}
    for f in ups.values():
        f.start_in_thread()
        f.set(**BASELINE)
    yield ups
    for f in ups.values():
        f.stop_thread()


@pytest.fixture(scope="module")
def gw(fakes: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    a, b, large = (fakes[n] for n in ("a", "b", "large"))
    routes = f"""
version: 1
default_tier: medium
estimator: {{half_life_s: 0.5}}
retry: {{attempts: 2, budget_ratio: 0.2, backoff_ms: 10}}
breaker:
  consecutive_failures: 3
  failure_rate: 0.3
  min_requests: 10
  window_s: 5
  base_ejection_s: 1
  max_ejection_s: 4
health: {{interval_s: 0.5, timeout_s: 0.5, unhealthy_after: 2, healthy_after: 1}}
tiers:
  medium:
    price: {{input_per_mtok: 0.2, output_per_mtok: 0.2}}
    first_token_timeout_ms: 1000
    backends:
      - {{name: fake-a, kind: vllm, base_url: "{a.base_url}", model: m, ttft_ms: 20, tpot_ms: 1,
          scrape_interval_s: 0.5}}
      - {{name: fake-b, kind: vllm, base_url: "{b.base_url}", model: m, ttft_ms: 20, tpot_ms: 1,
          scrape_interval_s: 0.5}}
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends:
      - {{name: fake-large, kind: openai, base_url: "{large.base_url}", model: l, ttft_ms: 20, tpot_ms: 1}}
routes:
  - {{model: chaos, policy: auto, expected_output_tokens: 10}}
"""
    g = start_gateway(
        tmp_path_factory.mktemp("chaos"), routes, GATEWAY_READ_TIMEOUT_S="1", GATEWAY_REQUEST_TIMEOUT_S="20"
    )
    yield g
    stop(g.proc)


def runtime(gw: Gateway) -> dict[str, object]:
    ready = httpx.get(gw.url + "/readyz", timeout=5).json()
    fds = len(os.listdir(f"/proc/{gw.proc.pid}/fd"))
    return {"tasks": ready["runtime"]["tasks"], "fds": fds, "retries": ready["retries"]}


def hits(f: FakeUpstream) -> int:
    return sum(v for k, v in f.stats.paths.items() if k.startswith("/v1/"))


FAULTS: list[tuple[str, Callable[[FakeUpstream], None]]] = [
    ("refuse connections", lambda f: f.refuse()),
    ("hang", lambda f: f.set(mode="hang")),
    ("slow 10x", lambda f: f.set(mode="slow", delay_ms=200)),
    ("HTTP 500", lambda f: f.set(mode="error", status=500)),
    ("HTTP 429 + Retry-After", lambda f: f.set(mode="error", status=429, retry_after="5")),
    ("mid-stream cut", lambda f: f.set(mode="cut", delay_ms=20)),
]


def test_chaos(gw: Gateway, fakes: dict[str, FakeUpstream]) -> None:
    a = fakes["a"]
    load = Load(gw.v1)
    load.start()
    time.sleep(2.0)  # warm: pools filled, estimates measured
    before = runtime(gw)
    report = []
    try:
        for name, inject in FAULTS:
            t_fault = time.monotonic()
            a_before = hits(a)
            inject(a)
            time.sleep(FAULT_S)
            t_recover = time.monotonic()
            sent_to_sick = hits(a) - a_before
            if name == "refuse connections":
                a.accept()
            a.set(**BASELINE)
            time.sleep(RECOVER_S)
            during = load.between(t_fault, t_recover + 0.5)
            after = load.between(t_recover, time.monotonic())
            back = [o.t - t_recover for o in after if o.backend == "fake-a" and o.error is None]
            errors = [o for o in during if o.error]
            report.append(
                {
                    "fault": name,
                    "requests": len(during),
                    "client_errors": len(errors),
                    "stream_errors": sum(1 for o in errors if o.stream),
                    "sent_to_sick_backend": sent_to_sick,
                    "served_by_sick_in_last_second": sum(
                        1
                        for o in load.between(t_recover - 1, t_recover)
                        if o.backend == "fake-a" and o.error is None
                    ),
                    "recovered_after_s": round(back[0], 2) if back else None,
                }
            )
    finally:
        load.finish()
    time.sleep(1.0)
    after_all = runtime(gw)
    print("\nCHAOS " + json.dumps({"report": report, "before": before, "after": after_all}, indent=1))

    total = len(load.outcomes)
    for r in report:
        if r["fault"] == "mid-stream cut":
            # Broken streams reach the client as errors (never a clean end). Without a breaker about a
            # quarter of all streams would break (A takes half the traffic); the breaker keeps it far below.
            assert r["client_errors"] == r["stream_errors"], r
            assert r["stream_errors"] <= 0.1 * r["requests"], r
        elif r["fault"] == "refuse connections":
            # A server that dies cuts the streams it was sending (at most one per worker); nothing else.
            assert r["client_errors"] == r["stream_errors"] <= WORKERS, r
        else:
            assert r["client_errors"] == 0, r
        if r["fault"] not in ("slow 10x", "mid-stream cut"):
            # Every call to A fails here, so A must be out of rotation by the end of the fault. (A slow
            # A is only ranked lower; a cutting A still answers non-streamed calls, so probes let it
            # back in now and then: there the bound is on the broken streams above.)
            assert r["served_by_sick_in_last_second"] == 0, r
        assert r["recovered_after_s"] is not None and r["recovered_after_s"] < RECOVER_S, r
    # Retries stay inside the budget: 20% of requests plus a floor of 3 per 10 s window.
    granted = after_all["retries"]["granted"]  # type: ignore[index]
    duration = load.outcomes[-1].t - load.outcomes[0].t
    assert granted <= 0.2 * total + 3 * (duration / 10 + 1), (granted, total)
    # No leaks: the same tasks and file descriptors (pooled connections included) as before.
    assert after_all["tasks"] <= before["tasks"] + 2, (before, after_all)  # type: ignore[operator]
    assert after_all["fds"] <= before["fds"] + 6, (before, after_all)  # type: ignore[operator]
