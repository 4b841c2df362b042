"""What metrics and cost accounting add to each request: the recorder's calls timed in-process.

A request served through the gateway makes these calls (non-streamed): decided, handed_over, answered
(tokens, cost, savings, outcome, latency, budget). A stream adds first_chunk and per_token. This times
them over many requests against a real registry and route table, then renders /metrics once at the
label cardinality reached, and prints microseconds per request.

  .venv/bin/python loadtests/bench_metrics.py [--count 200000]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from prometheus_client import CollectorRegistry

from gateway.classify.loader import scorer_for
from gateway.observability.cost import CostModel
from gateway.observability.metrics import Metrics
from gateway.observability.recorder import Recorder
from gateway.observability.trace import Trace
from gateway.protocol import Call, chat_view, usage_of
from gateway.routing.decision import Hints
from gateway.routing.estimates import LatencyBook
from gateway.routing.planner import Planner
from gateway.rules import load_routes

ROOT = Path(__file__).resolve().parent.parent
BODY = {"model": "auto", "messages": [{"role": "user", "content": "Explain how a hash map works."}]}
REPLY = b'{"choices":[{"message":{"content":"..."}}],"usage":{"prompt_tokens":12,"completion_tokens":80}}'


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--routes", type=Path, default=ROOT / "deploy" / "routes.example.yaml")
    args = ap.parse_args()
    table = load_routes(args.routes)
    metrics = Metrics(CollectorRegistry())
    recorder = Recorder(metrics)
    costs = CostModel(table.spec)
    view = chat_view(BODY, 120)
    decision = Planner(table, scorer_for(table), LatencyBook()).decide(view, Hints(budget_ms=2000), now=0.0)
    plan = decision.plan
    backends = [(c.tier, c.backend) for c in plan.candidates]
    call = Call(view, BODY, received=time.monotonic())

    def one(i: int) -> None:
        tier, backend = backends[i % len(backends)]
        trace = Trace(decision.route.name, decision.budget_ms, 0.05, tier, backend)
        recorder.decided(trace, plan.tier, plan.reason, plan.difficulty, decision.classify_s)
        recorder.handed_over(call, trace)
        usage = usage_of(REPLY)
        assert usage is not None
        recorder.answered(trace, call, usage, costs.bill(tier, usage))

    def stream_extra(i: int) -> None:
        tier, backend = backends[i % len(backends)]
        recorder.first_chunk(tier, backend, 0.05)
        recorder.per_token(tier, backend, 0.02)

    for label, fn in (("non-streamed request", one), ("stream's extra observations", stream_extra)):
        for i in range(1000):  # warm: every label combination created
            fn(i)
        t0 = time.perf_counter()
        for i in range(args.count):
            fn(i)
        per = (time.perf_counter() - t0) / args.count
        print(f"{label}: {per * 1e6:.2f} us per request ({args.count} requests)")
    t0 = time.perf_counter()
    body, _ = metrics.render()
    print(f"render /metrics: {(time.perf_counter() - t0) * 1e3:.2f} ms, {len(body)} bytes")


if __name__ == "__main__":
    main()
