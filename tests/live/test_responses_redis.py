"""Stored responses shared through a real redis-server: a chain started on one gateway continues on
another; with Redis gone, answers are still served (and say they were not stored), and a chain that
cannot be looked up is a 503, not a fresh start."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.testing.fake_upstream import FakeUpstream
from gateway.testing.processes import stop
from tests.support import REDIS_PASSWORD, Gateway, start_gateway, start_redis

KEY = "sk-acme-redis-responses"
ROUTES = """
version: 1
default_tier: large
tiers:
  large:
    backends: [{{name: chat-only, kind: openai, base_url: "{url}", model: chat-model}}]
routes:
  - {{model: large, tier: large}}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, Gateway, object]]:
    redis, url = start_redis(tmp_path_factory.mktemp("redis"))
    up = FakeUpstream(model="chat-model", reply="Shared answer.")
    up.start_in_thread()
    env = {"GATEWAY_API_KEYS": f"acme:{KEY}", "GATEWAY_REDIS_URL": url}
    routes = ROUTES.format(url=up.base_url)
    a = start_gateway(tmp_path_factory.mktemp("a"), routes, **env)
    b = start_gateway(tmp_path_factory.mktemp("b"), routes, **env)
    yield a, b, redis
    for g in (a, b):
        stop(g.proc)
    stop(redis)  # type: ignore[arg-type]
    up.stop_thread()


def client(gw: Gateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1, api_key=KEY, max_retries=0, timeout=30)


def test_a_chain_started_on_one_replica_continues_on_the_other(
    setup: tuple[Gateway, Gateway, object],
) -> None:
    a, b, _ = setup
    first = client(a).responses.create(model="large", input="one")
    second = client(b).responses.create(model="large", input="two", previous_response_id=first.id)
    third = client(a).responses.create(model="large", input="three", previous_response_id=second.id)
    assert third.previous_response_id == second.id
    assert client(b).responses.retrieve(third.id).output_text == "Shared answer."
    items = client(b).responses.input_items.list(third.id)
    assert [i.content[0].text for i in items.data] == ["three"]  # type: ignore[union-attr]


def test_an_answer_from_one_replica_is_rated_on_the_other(setup: tuple[Gateway, Gateway, object]) -> None:
    """The id → tenant index is shared too (tenancy/answer_index.py): feedback may reach any replica."""
    a, b, _ = setup
    answer = client(a).chat.completions.create(model="large", messages=[{"role": "user", "content": "hi"}])
    rate = {"id": answer.id, "label": "good"}
    auth = {"authorization": f"Bearer {KEY}"}
    deadline = time.monotonic() + 5  # the index is written just after the answer, off its path
    while (got := httpx.post(b.v1 + "/feedback", json=rate, headers=auth)).status_code == 404:
        assert time.monotonic() < deadline, got.text
        time.sleep(0.05)
    assert got.status_code == 200 and got.json()["recorded"] is True
    unknown = httpx.post(b.v1 + "/feedback", json={**rate, "id": "chatcmpl-gwnope1"}, headers=auth)
    assert unknown.status_code == 404


def test_with_redis_down_answers_are_served_not_stored_and_chains_are_503(
    setup: tuple[Gateway, Gateway, object],
) -> None:
    a, _, redis = setup
    before = client(a).responses.create(model="large", input="before the outage")
    stop(redis)  # type: ignore[arg-type]
    raw = client(a).responses.with_raw_response.create(model="large", input="during the outage")
    assert raw.status_code == 200 and raw.parse().output_text == "Shared answer."
    assert raw.parse().store is False  # served, and it says it was not kept
    with pytest.raises(openai.APIStatusError) as info:
        client(a).responses.create(model="large", input="go on", previous_response_id=before.id)
    assert info.value.status_code == 503 and info.value.response.headers["retry-after"]
    metrics = httpx.get(a.url + "/metrics").text
    assert "gateway_responses_not_stored_total 1.0" in metrics
    assert 'gateway_response_store_errors_total{op="get"} 1.0' in metrics
    assert REDIS_PASSWORD not in metrics and REDIS_PASSWORD not in a.log.read_text()
