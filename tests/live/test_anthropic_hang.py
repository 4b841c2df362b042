"""A Messages server of your own that hangs (accepts, never answers), a chat tier behind it.

`kind: anthropic` with `judge_silence: true` (a server that speaks Anthropic's API: vLLM's
/v1/messages, another gateway): a stream waiting there for its first content longer than the backend
takes to answer (routing/board.py's silence rule, at least `breaker.silent_s`) is taken as hung and
moves on to the fallback, and the requests beside it go there at once. Without it (the hosted API's
default, whose thinking models may be silent for a minute), the stream waits for the tier's
first-token deadline. Claude Code's requests (the `anthropic` SDK, streamed) and chat streams alike.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from gateway.testing.fake_anthropic import FakeAnthropic
from gateway.testing.fake_upstream import FakeUpstream
from tests.support import Gateway, start_gateway, stop

FIRST_TOKEN_S = 6.0
SILENT_S = 2.0  # breaker.silent_s, its default


@pytest.fixture(scope="module")
def ups() -> Iterator[dict[str, Any]]:
    fakes: dict[str, Any] = {"own": FakeAnthropic(model="own-model"), "chat": FakeUpstream(model="c")}
    for f in fakes.values():
        f.start_in_thread()
    yield fakes
    for f in fakes.values():
        f.stop_thread()


def gateway(tmp: Path, ups: dict[str, Any], judged: bool) -> Gateway:
    routes = f"""
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {{name: own, kind: anthropic, base_url: "{ups["own"].base_url}", model: own-model,
          judge_silence: {str(judged).lower()}, ttft_ms: 20, tpot_ms: 0.05}}
  large:
    backends:
      - {{name: chat, kind: openai, base_url: "{ups["chat"].base_url}", model: c}}
routes:
  - {{model: m, tier: medium, fallback: [large]}}
"""
    return start_gateway(tmp, routes, GATEWAY_FIRST_TOKEN_TIMEOUT_S=str(FIRST_TOKEN_S))


def streamed(gw: Gateway) -> tuple[str, float]:
    """A streamed Messages request as Claude Code sends one: (its answer's text, seconds taken)."""
    client = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0, timeout=30)
    t0 = time.monotonic()
    asked = [{"role": "user", "content": "Hi."}]
    with client.messages.stream(model="m", max_tokens=64, messages=asked) as s:  # type: ignore[arg-type]
        text = "".join(s.text_stream)
    return text, time.monotonic() - t0


def while_hung(own: FakeAnthropic, first: Callable[[], Any], later: Callable[[], Any]) -> tuple[Any, Any]:
    """`first` while `own` hangs, and `later` sent SILENT_S + 0.5 s into it."""
    held: list[Any] = []
    own.set(mode="hang", times=1)
    thread = threading.Thread(target=lambda: held.append(first()))
    thread.start()
    time.sleep(SILENT_S + 0.5)
    got_later = later()
    thread.join(30)
    own.set()
    return held[0], got_later


@pytest.mark.parametrize("judged", [True, False])
def test_a_hung_messages_server_is_left_once_its_silence_is_a_hang(
    ups: dict[str, Any], tmp_path: Path, judged: bool
) -> None:
    own: FakeAnthropic = ups["own"]
    gw = gateway(tmp_path, ups, judged)
    try:
        for _ in range(3):  # measured first: its first content comes in milliseconds
            text, _ = streamed(gw)
            assert text == own.reply
        first, later = while_hung(own, lambda: streamed(gw), lambda: streamed(gw))
    finally:
        stop(gw.proc)
    print(f"judge_silence {judged}: first {first[1]:.2f} s, beside it {later[1]:.2f} s")
    chat = ups["chat"].reply
    assert first[0] == chat  # answered by the chat tier, unnoticed
    if judged:
        assert SILENT_S - 0.1 < first[1] < SILENT_S + 0.9, first  # given up once silent that long
        assert later[0] == chat and later[1] < 1.0, later  # taken as hung: not asked
    else:
        assert FIRST_TOKEN_S - 0.1 < first[1] < FIRST_TOKEN_S + 0.9, first  # its first-token deadline
        assert later[0] == own.reply, later  # still asked (only the first request hung there)
