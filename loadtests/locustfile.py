"""Locust scenario: realistic mixed traffic through the gateway's OpenAI API.

Each simulated user, paced by `wait_time`, sends (by weight):
- chat completions, non-streamed, to `auto` (the difficulty scorer picks the tier), with prompts from
  trivial to hard and, for a third of them, an `x-latency-budget-ms` header;
- the same streamed, timing the first SSE event as its own entry ("TTFT");
- pinned `small` and `large` requests;
- requests to `flaky`, whose only upstream fails (about 5% of the traffic): the gateway must answer
  them with an OpenAI error envelope, fast, and they are the only failures expected.

The tier that answered each request (`x-gateway-tier`) is tallied and written as JSON to
$LOCUST_TIERS_OUT when the run ends. Run it through loadtests/run_locust.py, which starts the fake
tiers and the gateway; by hand:

  locust -f loadtests/locustfile.py --headless -u 32 -r 32 -t 60s --host http://127.0.0.1:8080
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from typing import Any

from locust import HttpUser, between, events, task

API_KEY = os.environ.get("LOCUST_API_KEY", "sk-locust-5a1e")
TIERS: Counter[str] = Counter()

EASY = ["hi", "Say hello in French.", "What is 2 + 2?", "Name a colour."]
HARD = [
    "Prove that there are infinitely many primes, then write a Python function returning the first n "
    "primes and analyse its complexity step by step.",
    "Write a SQL query that finds the top 3 customers by revenue per region, and explain each join.",
    "Derive the closed form of the sum of the first n squares by induction and check it for n = 10.",
]


def _body(model: str, rng: random.Random, stream: bool = False) -> dict[str, Any]:
    prompt = rng.choice(HARD if rng.random() < 0.3 else EASY)
    return {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": rng.choice([16, 32, 64]),
        "stream": stream,
    }


class GatewayUser(HttpUser):
    wait_time = between(0.02, 0.1)

    def on_start(self) -> None:
        self.rng = random.Random()
        self.headers = {"authorization": f"Bearer {API_KEY}"}

    def _headers(self) -> dict[str, str]:
        if self.rng.random() < 0.33:
            return {**self.headers, "x-latency-budget-ms": str(self.rng.choice([500, 2000, 10000]))}
        return self.headers

    def _post(self, name: str, body: dict[str, Any], expect_error: bool = False) -> None:
        with self.client.post(
            "/v1/chat/completions", json=body, headers=self._headers(), name=name, catch_response=True
        ) as resp:
            TIERS[resp.headers.get("x-gateway-tier", "none")] += 1
            if expect_error:
                # The flaky tier's upstream always fails: a clean OpenAI error is the right answer.
                if resp.status_code >= 500 and "error" in resp.text:
                    resp.success()
                else:
                    resp.failure(f"expected an error envelope, got {resp.status_code}")
            elif resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")

    @task(10)
    def chat_auto(self) -> None:
        self._post("chat auto", _body("auto", self.rng))

    @task(3)
    def chat_pinned(self) -> None:
        model = self.rng.choice(["small", "large"])
        self._post(f"chat {model}", _body(model, self.rng))

    @task(6)
    def chat_stream(self) -> None:
        t0 = time.perf_counter()
        first: float | None = None
        with self.client.post(
            "/v1/chat/completions",
            json=_body("auto", self.rng, stream=True),
            headers=self._headers(),
            name="stream auto",
            stream=True,
            catch_response=True,
        ) as resp:
            TIERS[resp.headers.get("x-gateway-tier", "none")] += 1
            done = False
            for line in resp.iter_lines():
                if first is None and line.startswith(b"data:"):
                    first = time.perf_counter()
                if line == b"data: [DONE]":
                    done = True
            if resp.status_code != 200 or not done:
                resp.failure(f"status {resp.status_code}, [DONE] seen: {done}")
        if first is not None:
            events.request.fire(
                request_type="SSE",
                name="TTFT",
                response_time=(first - t0) * 1000,
                response_length=0,
                exception=None,
                context={},
            )

    @task(1)
    def flaky(self) -> None:
        self._post("chat flaky (fails upstream)", _body("flaky", self.rng), expect_error=True)


@events.quitting.add_listener
def _write_tiers(**_: Any) -> None:
    out = os.environ.get("LOCUST_TIERS_OUT")
    if out:
        with open(out, "w") as f:
            json.dump(dict(TIERS), f)
