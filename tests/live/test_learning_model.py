"""Families that fool the prior, on the embedded model: short, plain questions SmolLM2 always gets wrong
(multiplying three-digit numbers) and long ones it always gets right (a trivial question after a long
passage of code). The prior scores the short ones easy and the long ones hard; a live gateway, from its own
shadow verdicts (a judge that knows the answers; exploration for the requests the reference answered),
learns to rank them the other way round, without a restart.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.classify.scorer import default_scorer
from gateway.classify.view import view_of_body
from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import Gateway, start_gateway, started

pytestmark = pytest.mark.model

ADMIN = "sk-admin-fool"
# A long passage of code whose family the prior scores hard; the question after it is trivial.
PASSAGE = (
    "def merge_sort(xs):\n    if len(xs) <= 1:\n        return xs\n    mid = len(xs) // 2\n"
    "    left = merge_sort(xs[:mid])\n    right = merge_sort(xs[mid:])\n    out = []\n"
    "    while left and right:\n        out.append(left.pop(0) if left[0] <= right[0] else right.pop(0))\n"
    "    return out + left + right\n"
) * 3
SHORT = [
    (f"What is {a} times {b}? Answer with the number only.", str(a * b))
    for a, b in [
        (487, 36),
        (923, 58),
        (614, 77),
        (358, 94),
        (729, 43),
        (846, 67),
        (571, 89),
        (392, 76),
        (683, 54),
        (917, 38),
        (456, 87),
        (738, 65),
        (529, 96),
        (864, 47),
        (375, 83),
        (692, 59),
        (813, 72),
        (547, 68),
        (938, 45),
        (461, 79),
        (726, 84),
        (385, 97),
        (654, 73),
        (879, 56),
    ]
]
# Questions SmolLM2-135M answers rightly after the passage (greedy; most others it gets wrong there).
LONG = [
    (f"{PASSAGE}\nQuestion: {q} Answer with one word.", gold)
    for q, gold in [
        ("What colour is the sky on a clear day?", "blue"),
        ("Which animal says meow?", "cat"),
        ("What is the capital of France?", "paris"),
    ]
]
GOLD = {q: g for q, g in [*SHORT, *LONG]}
# Rounds of one short and one long question: with the default rails the short family moves after
# about 19 verdicts, the long one once its clean verdicts exclude its prior (about 13).
ROUNDS = 25

ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    max_difficulty: {threshold}
    price: {{input_per_mtok: 0.01, output_per_mtok: 0.01}}
    backends: [{{name: smollm2, kind: llamacpp, model: SmolLM2-135M-Instruct, n_ctx: 2048, queue_size: 16}}]
  large:
    price: {{input_per_mtok: 2.5, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "{large}", model: big}}]
  judge:
    price: {{input_per_mtok: 5, output_per_mtok: 20}}
    backends: [{{name: judge, kind: openai, base_url: "{judge}", model: judge}}]
routes:
  - {{model: auto, policy: auto,
      shadow: {{share: 1.0, explore: 1.0, reference: large, judge: judge, usd_per_day: 1000}}}}
"""


def judged(quoted: str, a: str, b: str) -> str:
    """The judge knows every answer: whichever side has it is better; both or neither: a tie."""
    gold = GOLD.get(quoted.removeprefix("user: "), "")
    in_a, in_b = gold.lower() in a.lower(), gold.lower() in b.lower()
    return "A" if in_a and not in_b else "B" if in_b and not in_a else "TIE"


def body(q: str) -> dict[str, object]:
    return {"model": "auto", "messages": [{"role": "user", "content": q}], "max_tokens": 12, "temperature": 0}


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, FakeUpstream]]:
    # The reference answers right: it repeats the gold answer it is asked for (by content).
    ups = {"large": FakeUpstream(model="big", reply="unknown"), "judge": FakeUpstream(model="judge")}
    ups["judge"].prefers = judged
    with started(ups):
        yield ups


def test_a_gateway_learns_to_rank_families_its_prior_gets_backwards(
    tmp_path: Path, upstreams: dict[str, FakeUpstream]
) -> None:
    scorer = default_scorer()

    def scored(q: str) -> tuple[float, str]:
        score, hit = scorer.scored(view_of_body(body(q)))
        assert hit is not None
        return score, hit.family

    # One family each: the short questions of the family most of them land in, and the long ones'.
    fams = Counter(scored(q)[1] for q, _ in SHORT)
    shorts = [q for q, _ in SHORT if scored(q)[1] == fams.most_common(1)[0][0]]
    longs = [q for q, _ in LONG]
    assert len({scored(q)[1] for q in longs}) == 1
    short = [scored(q)[0] for q in shorts]
    long = [scored(q)[0] for q in longs]
    assert max(short) < min(long), "the prior must rank the short ones easier"
    threshold = round((max(short) + min(long)) / 2, 4)
    print(
        f"before running: short ones score {max(short):.4f} at most, long ones {min(long):.4f} at least;"
        f" small tier up to {threshold}"
    )
    # The reference tier answers every question right: its one reply holds every answer.
    upstreams["large"].reply = "Answers: " + ", ".join(sorted(set(GOLD.values())))
    gw = start_gateway(
        tmp_path,
        ROUTES.format(
            threshold=threshold, large=upstreams["large"].base_url, judge=upstreams["judge"].base_url
        ),
        GATEWAY_ADMIN_KEY=ADMIN,
        GATEWAY_LEARN_SYNC_S="0.2",
    )
    try:
        tiers: dict[str, list[str]] = {"short": [], "long": []}
        sent = 0
        for i in range(ROUNDS):
            sq, lq = shorts[i % len(shorts)], longs[i % len(longs)]
            for kind, q in (("short", sq), ("long", lq)):
                r = httpx.post(f"{gw.v1}/chat/completions", json=body(q), timeout=120)
                assert r.status_code == 200, r.text
                tiers[kind].append(r.headers["x-gateway-tier"])
                sent += 1
            _judged(gw, sent)
        print("tiers, in arrival order:", tiers)
        learned = httpx.get(f"{gw.url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"}).json()
        print(
            "learned:", [(f["family"], f["labels"], f["shortfalls"], f["rate"]) for f in learned["families"]]
        )
        assert tiers["short"][0] == "small" and tiers["long"][0] == "large"
        assert tiers["short"][-1] == "large" and tiers["long"][-1] == "small"
        after_short = [float(_explain(gw, q)) for q in shorts[:4]]
        after_long = [float(_explain(gw, q)) for q in longs[:4]]
        assert min(after_short) > max(after_long)  # ranked the other way round now
    finally:
        stop(gw.proc)


def _explain(gw: Gateway, q: str) -> float:
    r = httpx.post(f"{gw.v1}/route/explain", json=body(q), timeout=30)
    return float(r.json()["difficulty"])


def _judged(gw: Gateway, sent: int, timeout: float = 180.0) -> None:
    """Until every request sent has its verdict counted (each is judged once: share and explore 1)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = httpx.get(f"{gw.url}/admin/learning", headers={"authorization": f"Bearer {ADMIN}"}, timeout=30)
        if float(r.json()["labels"]) >= sent - 0.01:
            return
        time.sleep(0.2)
    raise AssertionError(f"{sent} verdicts not counted in time")
