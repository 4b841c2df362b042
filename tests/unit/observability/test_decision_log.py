"""The decision log and shadow judging in-process: lines written off the request path, rotation, a
slow disk that drops and never blocks, nothing of the prompt unless the route logs content; shadow
verdicts from a scripted judge, after the client's answer, within the route's spend cap."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest

from gateway.dispatch.shadow import verdict
from gateway.observability.decision_log import DecisionLog, LabelLine
from gateway.testing.fake_backend import FakeBackend, Step
from gateway.testing.harness import Harness, chat_call

SECRET = "PROMPT-MARKER-9d4e"
ROUTES = """
version: 1
default_tier: small
tiers:
  small:
    backends: [{{name: cheap, kind: openai, base_url: "http://c.x/v1", model: c}}]
  large:
    price: {{input_per_mtok: 10, output_per_mtok: 10}}
    backends: [{{name: big, kind: openai, base_url: "http://b.x/v1", model: b}}]
routes:
  - {{model: plain, tier: small}}
  - {{model: content, tier: small, log_content: true}}
  - {{model: judged, tier: small, shadow: {{share: 1.0, reference: large, judge: large, usd_per_day: {cap}}}}}
"""


def harness(tmp_path: Path, cap: float = 1.0, **log: object) -> tuple[Harness, DecisionLog]:
    decisions = DecisionLog(
        str(tmp_path / "decisions.jsonl"), max_bytes=log.pop("max_bytes", 1 << 20), files=3
    )  # type: ignore[arg-type]
    h = Harness.build(
        ROUTES.format(cap=cap),
        {"cheap": FakeBackend("cheap"), "big": FakeBackend("big")},
        decisions=decisions,
    )
    return h, decisions


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("A", "B", "cheaper_as_good"),  # the cheaper answer won in both orders
        ("B", "A", "reference_better"),
        ("A", "A", "tie"),  # position bias: each order favoured the first answer
        ("TIE", "B", "cheaper_as_good"),
        ("TIE", "TIE", "tie"),
        ("no idea", "B.", "cheaper_as_good"),
    ],
)
def test_the_two_orders_make_one_verdict(first: str, second: str, expected: str) -> None:
    assert verdict(first, second) == expected


async def test_each_request_leaves_one_line_and_no_prompt_unless_the_route_says_so(tmp_path: Path) -> None:
    h, log = harness(tmp_path)
    log.start()
    served = await h.dispatcher.complete(chat_call("plain", SECRET))
    await h.dispatcher.complete(chat_call("content", SECRET))
    log.close()
    plain, content = lines(tmp_path / "decisions.jsonl")
    assert plain["kind"] == "request" and plain["route"] == "plain" and plain["tier"] == "small"
    assert plain["outcome"] == "ok" and plain["prompt_tokens"] == 5 and plain["completion_tokens"] == 2
    assert SECRET not in json.dumps(plain) and plain["prompt"] is None and plain["answer"] is None
    assert content["prompt"] == [{"role": "user", "content": SECRET}] and content["answer"] == "fake answer"
    assert served.trace.route == "plain"


def test_the_log_rotates_by_size_and_keeps_its_files(tmp_path: Path) -> None:
    log = DecisionLog(str(tmp_path / "d.jsonl"), max_bytes=2_000, files=3)
    log.start()
    for i in range(200):
        log.write(LabelLine(ts=0, kind="feedback", id=f"id-{i:04d}", route="r", tier="t", label="good"))
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["d.jsonl", "d.jsonl.1", "d.jsonl.2"]  # the oldest fell off the end
    assert all(p.stat().st_size < 2_000 + 600 for p in tmp_path.iterdir())
    newest = lines(tmp_path / "d.jsonl")
    assert newest[-1]["id"] == "id-0199" and log.dropped == 0


async def test_a_slow_disk_drops_lines_and_never_slows_a_request(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    opened = threading.Event()

    def reader() -> None:  # opens the pipe and never reads it: the writer blocks once it is full
        fd = os.open(fifo, os.O_RDONLY)
        opened.set()
        time.sleep(8)
        os.close(fd)

    threading.Thread(target=reader, daemon=True).start()
    log = DecisionLog(str(fifo), max_bytes=1 << 30, files=1, queue_max=100)
    h = Harness.build(
        ROUTES.format(cap=1), {"cheap": FakeBackend("cheap"), "big": FakeBackend("big")}, decisions=log
    )
    log.start()
    assert await asyncio.to_thread(opened.wait, 5)
    t0 = time.perf_counter()
    for _ in range(3_000):
        await h.dispatcher.complete(chat_call("content", "x" * 200))
    per_request = (time.perf_counter() - t0) / 3_000
    assert log.dropped > 0 and h.sample("gateway_decision_log_dropped_total") == log.dropped
    assert per_request < 0.01  # far below what a blocked write would cost
    t1 = time.perf_counter()
    await asyncio.to_thread(log.close, 0.5)
    assert time.perf_counter() - t1 < 2  # shutdown gives up on the stuck writer
    assert log.dropped + log.written <= 3_000


async def test_shadow_judging_after_the_answer_with_a_scripted_judge(tmp_path: Path) -> None:
    h, log = harness(tmp_path)
    log.start()
    big = h.backends["big"]
    # The reference answer waits until released: the client's answer must not.
    big.script(Step(text="Paris is the capital.", hang=True), Step.ok("A"), Step.ok("B"))
    served = await asyncio.wait_for(h.dispatcher.complete(chat_call("judged", "Capital of France?")), 5)
    assert served.backend.name == "cheap"
    shadow = h.dispatcher.shadow
    assert shadow is not None and len(shadow.tasks) == 1  # judging has started, in the background
    await big.arrived.wait()
    big.release()
    await asyncio.gather(*shadow.tasks)
    assert (
        h.sample("gateway_shadow_verdicts_total", route="judged", tier="small", verdict="cheaper_as_good")
        == 1
    )
    assert h.sample("gateway_shadow_cost_usd_total", route="judged") > 0
    judge_prompt = big.calls[1].body["messages"][1]["content"]
    assert "Answer A:\nfake answer" in judge_prompt and "Answer B:\nParis is the capital." in judge_prompt
    log.close()
    request, label = lines(tmp_path / "decisions.jsonl")
    assert (
        label["kind"] == "shadow" and label["id"] == request["id"] and label["verdict"] == "cheaper_as_good"
    )


async def test_the_spend_cap_stops_shadowing(tmp_path: Path) -> None:
    h, _ = harness(tmp_path, cap=1e-9)
    shadow = h.dispatcher.shadow
    assert shadow is not None
    await h.dispatcher.complete(chat_call("judged"))
    await asyncio.gather(*shadow.tasks)
    assert h.sample("gateway_shadow_verdicts_total", route="judged", tier="small", verdict="tie") == 1
    calls = len(h.backends["big"].calls)
    await h.dispatcher.complete(chat_call("judged"))
    await asyncio.gather(*shadow.tasks)
    assert len(h.backends["big"].calls) == calls  # over the cap: nothing more was sent
    assert h.sample("gateway_shadow_skipped_total", route="judged", why="budget") == 1


async def test_no_shadow_for_tools_or_a_tier_the_key_may_not_use(tmp_path: Path) -> None:
    from gateway.routing.decision import Hints

    h, _ = harness(tmp_path)
    tools = [{"type": "function", "function": {"name": "f"}}]
    await h.dispatcher.complete(chat_call("judged", tools=tools))
    await h.dispatcher.complete(chat_call("judged"), Hints(tiers=frozenset({"small"})))
    assert not h.backends["big"].calls
    assert h.sample("gateway_shadow_skipped_total", route="judged", why="structured") == 1
    assert h.sample("gateway_shadow_skipped_total", route="judged", why="tier_not_allowed") == 1
