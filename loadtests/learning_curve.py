"""The learning curve while serving: a family the weights never saw, replayed through a live gateway whose
shadow judge gives each request its true label, and APGR on the family's later requests after 0, 100,
500 and 2,000 verdicts (as many as the family has); then the drift case, the family's truth flipped
halfway, and how many labels the gateway takes to follow.

The gateway is a real process (`gateway serve`) on weights fitted without the family (the shared data's
other families, the Mixtral label, the shipped recipe), in front of fake tiers over real HTTP: a cheap
one, a reference one, and a judge that answers from the row's label (the reference better when the
cheaper tier fell short). Every request is judged (`shadow: {share: 1, explore: 1}`: a request the
reference tier answered is also asked of the cheap one), so each request is one verdict. The later
requests (the last 30% of a seeded arrival order) are only explained (`POST /v1/route/explain`): their
difficulty, never a verdict. APGR is the shared definition (gateway/offline/stats.py).

    OPENBLAS_NUM_THREADS=1 .venv/bin/python loadtests/learning_curve.py --family arc-challenge \\
        [--data-dir ../shared/data] [--seed 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from aiohttp import web  # noqa: E402

from gateway.offline.data import load_arena, load_routerbench  # noqa: E402
from gateway.offline.family_eval import Bench  # noqa: E402
from gateway.offline.stats import apgr  # noqa: E402
from gateway.testing.fake_upstream import FakeUpstream  # noqa: E402
from gateway.testing.processes import free_port, serve_gateway, stop  # noqa: E402

ADMIN = "sk-admin-curve"
CHECKPOINTS = (0, 100, 500, 2000)
ROUTES = """
version: 1
default_tier: small
classifier: {{weights: {weights}}}
tiers:
  small:
    max_difficulty: {threshold}
    price: {{input_per_mtok: 0.1, output_per_mtok: 0.2}}
    backends: [{{name: cheap, kind: openai, base_url: "{small}", model: cheap}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big}}]
  judge:
    price: {{input_per_mtok: 5, output_per_mtok: 20}}
    backends: [{{name: judge, kind: openai, base_url: "{judge}", model: judge}}]
routes:
  - {{model: auto, policy: auto,
      shadow: {{share: 1.0, explore: 1.0, reference: large, judge: judge, usd_per_day: 1000000}}}}
"""


def key(text: str) -> str:
    """How the judge finds a row: the request as the shadow judge quotes it (`user: <text>`)."""
    return hashlib.sha256(f"user: {text}".encode()).hexdigest()


class Judge:
    """Answers a shadow judge's question from the row's label (1: the cheap tier fell short)."""

    def __init__(self) -> None:
        self.truth: dict[str, float] = {}
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        asked = body["messages"][-1]["content"]
        quoted = asked.split("Request:\n", 1)[-1].split("\n\nAnswer A:\n", 1)[0]
        y = self.truth.get(hashlib.sha256(quoted.encode()).hexdigest(), 0.0)
        a = asked.split("\n\nAnswer A:\n", 1)[-1].split("\n\nAnswer B:\n", 1)[0]
        # The reference is better (y = 1): name the side that holds the reference's answer.
        reply = ("B" if "CHEAP" in a else "A") if y >= 0.5 else "TIE"
        return web.json_response(
            {
                "id": "judge",
                "object": "chat.completion",
                "model": "judge",
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
            }
        )

    async def _models(self, _: web.Request) -> web.Response:
        return web.json_response({"data": []})

    def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
            ready.set()
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        ready.wait(10)


def text_of(example: Any) -> str:
    return str(example.view.messages[-1].text)


async def difficulties(url: str, texts: list[str]) -> np.ndarray:
    async with httpx.AsyncClient(base_url=url, timeout=30) as c:
        sem = asyncio.Semaphore(16)

        async def one(t: str) -> float:
            async with sem:
                body = {"model": "auto", "messages": [{"role": "user", "content": t}]}
                r = await c.post("/route/explain", json=body)
                return float(r.json()["difficulty"])

        return np.array(await asyncio.gather(*(one(t) for t in texts)))


def learned(gw_url: str) -> float:
    r = httpx.get(f"{gw_url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
    return float(r.json()["labels"])


async def replay(url: str, gw_url: str, texts: list[str], already: float, wait_s: float = 120.0) -> float:
    """Each text as a request (its verdict follows in the background), then wait (at most `wait_s`)
    until every verdict has been counted. Returns the labels counted by then: a verdict may never come
    (the judge's reply unreadable, a shadow call failed), and the next batch must not wait on it."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        sem = asyncio.Semaphore(8)

        async def one(t: str) -> None:
            async with sem:
                body = {"model": "auto", "messages": [{"role": "user", "content": t}], "max_tokens": 4}
                r = await c.post("/chat/completions", json=body)
                r.raise_for_status()

        await asyncio.gather(*(one(t) for t in texts))
    end = time.monotonic() + wait_s
    # Polling another process's admin endpoint: nothing here to wait on instead.
    while (n := learned(gw_url)) < already + len(texts) - 0.5 and time.monotonic() < end:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    return n


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(args.data_dir)
    examples = load_routerbench(next(data.glob("routerbench*.csv.gz"))) + load_arena(
        next(data.glob("arenabench*.csv.gz"))
    )
    bench = Bench(examples, "mixtral")
    model = bench.fit(bench.train_mask(args.family))
    held = bench.held(args.family)
    order = np.random.default_rng(args.seed).permutation(held)
    cut = int(len(order) * 0.7)
    pool, later = order[:cut], order[cut:]
    y = bench.rows.y
    qs, ql = bench.rows.q_small, bench.rows.q_large
    texts = [text_of(bench.examples[i]) for i in range(len(bench.examples))]
    length = bench.length[later]

    judge = Judge()
    judge.start()
    ups = {
        "small": FakeUpstream(model="cheap", reply="CHEAP answer."),
        "large": FakeUpstream(model="big", reply="REFERENCE answer."),
    }
    for u in ups.values():
        u.start_in_thread()
    out: dict[str, Any] = {"family": args.family, "pool": len(pool), "later": len(later)}
    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "weights.json"
        weights.write_text(model.dumps())
        routes = Path(tmp) / "routes.yaml"
        routes.write_text(
            ROUTES.format(
                weights=weights,
                threshold=args.threshold,
                small=ups["small"].base_url,
                large=ups["large"].base_url,
                judge=judge.base_url,
            )
        )
        for drift in (False, True):
            truth = y[pool].copy()
            if drift:
                truth[len(truth) // 2 :] = 1.0 - truth[len(truth) // 2 :]
            judge.truth = {key(texts[i]): float(t) for i, t in zip(pool, truth, strict=True)}
            with (Path(tmp) / f"gw-{drift}.log").open("wb") as log:
                proc, url = serve_gateway(
                    routes,
                    log=log,
                    GATEWAY_ADMIN_KEY=ADMIN,
                    GATEWAY_ALLOW_OPEN="true",
                    GATEWAY_LEARN_SYNC_S="0.2",
                )
            v1 = url + "/v1"
            try:
                if not drift:
                    curve = []
                    done, counted = 0, 0.0
                    points = sorted({c for c in CHECKPOINTS if c < len(pool)} | {min(2000, len(pool))})
                    for k in points:
                        counted = asyncio.run(replay(v1, url, [texts[i] for i in pool[done:k]], counted))
                        done = k
                        s = asyncio.run(difficulties(v1, [texts[i] for i in later]))
                        a = round(apgr(s, qs[later], ql[later]), 4)
                        curve.append({"requests": k, "labels": round(counted, 1), "apgr": a})
                        print(f"after {k} requests ({counted:.0f} labels): APGR {a}", file=sys.stderr)
                    out["curve"] = curve
                    out["length_apgr"] = round(apgr(length, qs[later], ql[later]), 4)
                    print(f"prompt length: APGR {out['length_apgr']}", file=sys.stderr)
                else:
                    out["drift"] = follow(v1, url, [texts[i] for i in pool], truth, texts[pool[0]])
            finally:
                stop(proc)
    for u in ups.values():
        u.stop_thread()
    return out


def follow(v1: str, url: str, texts: list[str], truth: np.ndarray, probe: str) -> dict[str, Any]:
    """Replay in order; after each label, the learned rate of the probe's family. How many labels after
    the flip until that rate is nearer the new truth than the old one."""
    half = len(texts) // 2
    before, after = float(truth[:half].mean()), float(truth[half:].mean())
    rates = []
    counted = 0.0
    for i in range(0, len(texts), 10):
        counted = asyncio.run(replay(v1, url, texts[i : i + 10], counted, wait_s=5.0))
        families = httpx.get(f"{url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"}).json()[
            "families"
        ]
        top = max(families, key=lambda f: f["labels"]) if families else None
        rates.append((i + 10, top["rate"] if top else None, top["in_force"] if top else False))
    mid = (before + after) / 2
    followed = next(
        (n - half for n, r, _ in rates if n > half and r is not None and (r - mid) * (after - before) > 0),
        None,
    )
    return {
        "rate_before_flip": round(before, 3),
        "rate_after_flip": round(after, 3),
        "labels_to_follow": followed,
        "trace": rates[:: max(1, len(rates) // 20)],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", default="arc-challenge")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--seed", type=int, default=1000)
    ap.add_argument("--threshold", type=float, default=0.2)
    args = ap.parse_args()
    print(json.dumps(run(args), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
