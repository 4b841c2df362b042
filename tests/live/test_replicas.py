"""Two replicas on their kind's default priors, both faster than those priors say, under steady load:
one answers slowly for its first second. It must share the load again once its estimate has drifted
back, not sit idle beside the busy one for as long as that one keeps up.

The priors are vLLM's defaults (150 ms to the first token, 18 ms a token: 4.8 s for the 256 tokens a
request is expected to take), the fakes answer in ~20 ms, and the estimator's half-life is short so
that the drift fits in a test. Before replicas were taken as alike until measured (routing/board.py,
LatencyStats._toward), A's estimate drifted back to that prior, 30 times what B measured, and A
answered 2 of about 7,000 requests in 45 s; now it takes about half from the second 5 s on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, start_gateway, stop

WORKERS = 4
NORMAL = {"mode": "slow", "delay_ms": 20, "spread": False}
SLOW_S, RUN_S, LAST_S = 1.0, 14.0, 5.0


@pytest.fixture(scope="module")
def replicas() -> Iterator[dict[str, FakeUpstream]]:
    ups = {n: FakeUpstream(model=f"fake-{n}", reply=f"answer from {n}") for n in ("a", "b")}
    for f in ups.values():
        f.start_in_thread()
        f.set(**NORMAL)
    yield ups
    for f in ups.values():
        f.stop_thread()


@pytest.fixture(scope="module")
def gw(replicas: dict[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    a, b = replicas["a"], replicas["b"]
    routes = f"""
version: 1
default_tier: local
estimator: {{half_life_s: 2}}
tiers:
  local:
    backends:
      - {{name: rep-a, kind: vllm, base_url: "{a.base_url}", model: m}}
      - {{name: rep-b, kind: vllm, base_url: "{b.base_url}", model: m}}
routes:
  - {{model: local, tier: local}}
"""
    g = start_gateway(tmp_path_factory.mktemp("replicas"), routes)
    yield g
    stop(g.proc)


def test_a_replica_slow_at_first_shares_again(gw: Gateway, replicas: dict[str, FakeUpstream]) -> None:
    answers: list[tuple[float, str | None]] = []
    errors: list[str] = []
    done = threading.Event()

    def worker(i: int) -> None:
        client = openai.OpenAI(base_url=gw.v1, api_key="x", max_retries=0, timeout=10)
        n = 0
        while not done.is_set():
            n += 1
            stream = (n + i) % 2 == 0
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="local", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
                body = raw.parse()
                if stream:
                    for _ in body:  # type: ignore[attr-defined]
                        pass
                answers.append((time.monotonic(), raw.headers.get("x-gateway-backend")))
            except Exception as exc:
                errors.append(type(exc).__name__)

    replicas["a"].set(mode="slow", delay_ms=300, spread=False)
    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(WORKERS)]
    for t in threads:
        t.start()
    try:
        time.sleep(SLOW_S)
        replicas["a"].set(**NORMAL)
        time.sleep(RUN_S)
    finally:
        done.set()
        for t in threads:
            t.join(15)
    end = time.monotonic()
    last = [b for t, b in answers if t >= end - LAST_S]
    share = sum(1 for b in last if b == "rep-a") / max(1, len(last))
    print(f"\nREPLICAS A's share of the last {LAST_S:g} s: {share:.2f} of {len(last)}")
    assert not errors, errors[:5]
    assert len(last) > 100, len(last)
    assert share >= 0.25, share  # alike: about half (least outstanding first)
