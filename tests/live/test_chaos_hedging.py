"""Chaos with default settings: a replica is killed, then hangs, then wakes, under load.

One self-hosted tier (two vLLM-like fakes with zero prices; no hedge, retry, breaker, health or timeout
settings anywhere: everything at its default) serves steady plain and streamed load from a few client
threads. Replica A is killed (connections refused, open ones dropped), which ejects it; then it listens
again but never answers (a hung process: its health checks still pass), so the breaker's probe when
the ejection ends hangs; then it answers again. Asserted: no client saw an error, A
accepted requests while it hung (the hang lasts until it has), hedges answered them, and every answer
during the hang came from B. The tail is printed (pytest -s), and measured properly by
loadtests/bench_hedging.py (which also hangs a replica while it is in rotation), not asserted here.

Only the replicas' latency priors are set, close to what the fakes measure (0.05 ms a token: the fakes
send theirs at once). A replica that answered fewer than five plain requests is hedged at twice the
tail its prior implies (itself twice the prior): with 1 ms a token and 256 tokens expected, 1.1 s, past
the hang's bound below. That prior was also where A's estimate drifted back to, ten times B's measured
25 ms, so one slow answer early kept A out for the rest of the run (CI, once: 9 of the first 283
requests, none of the next 4,638); replicas are now taken as alike until measured
(tests/live/test_replicas.py).

The fakes' latency is all before the first byte (`spread: false`): a killed process cuts the streams
it was sending, which no gateway can hide (test_chaos.py counts those); here no stream is mid-body
when A dies, so every failure the client could see is one the gateway should have hidden.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from tests.support import REPLICA, Gateway, chat_once, replica_routes, start_gateway, stop

WORKERS = 4
CHAT = "/v1/chat/completions"
WON = ("rep-a", "won")  # a request A accepted, answered by its hedge on B
WARM_S, KILL_S, HANG_S, WAKE_S = 2.0, 2.0, 7.0, 3.0  # the kill's ejection lasts 5 s
# The hang goes on past HANG_S until A has accepted requests: a probe that found A still dead doubles
# its ejection, which can outlast HANG_S under load, and then nothing would need a hedge.
HANG_MAX_S, HUNG_REQUESTS = 25.0, 1
# A request A accepted just before the wake is hedged only once its hedge delay has passed: the hang
# lasts until that hedge has answered (at most this long), or its win is counted after the hang.
HEDGED_MAX_S = 3.0


@dataclass
class Outcome:
    start: float
    end: float
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
        # The client's own timeout is the test's bound on a request the gateway failed to rescue.
        client = openai.OpenAI(base_url=self.url, api_key="x", max_retries=0, timeout=10)
        n = 0
        while not self.stop.is_set():
            stream = (n + i) % 2 == 0
            n += 1
            t0 = time.monotonic()
            backend, error = chat_once(client, "local", stream)
            self.outcomes.append(Outcome(t0, time.monotonic(), backend, stream, error))

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._worker, args=(i,), daemon=True) for i in range(WORKERS)]
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def started(self, t0: float, t1: float) -> list[Outcome]:
        return [o for o in self.outcomes if t0 <= o.start < t1]


@pytest.fixture(scope="module")
def gw(
    replica_fakes: Mapping[str, FakeUpstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    routes = replica_routes(replica_fakes, priors="ttft_ms: 20, tpot_ms: 0.05")
    g = start_gateway(tmp_path_factory.mktemp("chaos-hedging"), routes)
    yield g
    stop(g.proc)


def hedges(gw: Gateway) -> dict[tuple[str, str], float]:
    text = httpx.get(gw.url + "/metrics", timeout=5).text
    pattern = r'^gateway_hedges_total\{backend="([^"]+)",result="([^"]+)",tier="local"\} (\S+)$'
    return {(m[1], m[2]): float(m[3]) for m in re.finditer(pattern, text, re.M)}


def tail(outcomes: list[Outcome]) -> dict[str, float]:
    ms = sorted((o.end - o.start) * 1000 for o in outcomes)
    if not ms:
        return {}
    return {"p50_ms": round(ms[len(ms) // 2], 1), "p99_ms": round(ms[int(0.99 * (len(ms) - 1))], 1),
            "max_ms": round(ms[-1], 1)}  # fmt: skip


def test_kill_hang_wake_with_default_settings(gw: Gateway, replica_fakes: Mapping[str, FakeUpstream]) -> None:
    a = replica_fakes["a"]
    load = Load(gw.v1)
    load.start()
    try:
        time.sleep(WARM_S)  # both replicas serve; the tails are learnt
        t_kill = time.monotonic()
        a.refuse()
        time.sleep(KILL_S)
        t_hang = time.monotonic()
        before_hang = hedges(gw)
        reached = a.stats.paths.get(CHAT, 0)
        a.set(mode="hang")
        a.accept()
        time.sleep(HANG_S)
        while a.stats.paths.get(CHAT, 0) - reached < HUNG_REQUESTS and time.monotonic() - t_hang < HANG_MAX_S:
            time.sleep(0.25)
        hedged_by = time.monotonic() + HEDGED_MAX_S
        while hedges(gw).get(WON, 0.0) <= before_hang.get(WON, 0.0) and time.monotonic() < hedged_by:
            time.sleep(0.1)
        t_wake = time.monotonic()
        a.set(**REPLICA)
        in_hang = {k: v - before_hang.get(k, 0.0) for k, v in hedges(gw).items()}
        reached = a.stats.paths.get(CHAT, 0) - reached  # requests A accepted while it hung
        time.sleep(WAKE_S)
    finally:
        load.finish()
    counted = hedges(gw)
    phases = {
        "warm": load.started(0, t_kill),
        "kill": load.started(t_kill, t_hang),
        "hang": load.started(t_hang, t_wake),
        "wake": load.started(t_wake, float("inf")),
    }
    report = {
        name: {
            "requests": len(outs),
            "errors": sum(1 for o in outs if o.error),
            "by_backend": {b: sum(1 for o in outs if o.backend == b) for b in ("rep-a", "rep-b")},
            **tail(outs),
        }
        for name, outs in phases.items()
    }
    shown = {"/".join(k): v for k, v in counted.items() if v}
    hang_hedges = {"/".join(k): v for k, v in in_hang.items() if v}
    seen = {"phases": report, "hedges": shown, "in_hang": hang_hedges, "a_reached_in_hang": reached}
    print("\nCHAOS-HEDGING " + json.dumps(seen))

    errors = [o for o in load.outcomes if o.error]
    assert not errors, errors[:5]
    assert report["warm"]["by_backend"]["rep-a"] > 0  # A took its share before the faults
    # A's ejection ended during the hang and it accepted requests it never answered: hedges answered
    # them from B.
    assert reached >= HUNG_REQUESTS, (reached, report)
    assert in_hang.get(WON, 0) > 0, (in_hang, counted)
    # No answer waited on the hung replica.
    assert report["hang"]["max_ms"] < 1000, report["hang"]
    # Every answer during the hang came from the healthy replica (A answered none; none was lost).
    hang = phases["hang"]
    assert len(hang) > 20
    assert all(o.backend == "rep-b" for o in hang if o.end < t_wake), [
        o for o in hang if o.backend != "rep-b"
    ]
