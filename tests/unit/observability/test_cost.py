"""The cost model: per-token prices, cached input, hardware by the hour, savings against a reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.errors import ConfigError
from gateway.observability.cost import CostModel, Throughput
from gateway.protocol import Usage, stream_usage, usage_of
from gateway.rules import RoutesFile, load_routes


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def spec(tiers: dict[str, dict], **extra: object) -> RoutesFile:
    return RoutesFile.model_validate(
        {
            "default_tier": next(iter(tiers)),
            "tiers": {
                n: {
                    "backends": [{"name": f"b-{n}", "kind": "openai", "base_url": "http://x/v1", "model": n}],
                    **t,
                }
                for n, t in tiers.items()
            },
            **extra,
        }
    )


TIERS = {
    "small": {"price": {"input_per_mtok": 0.0, "output_per_mtok": 0.0}},
    "medium": {"price": {"input_per_mtok": 0.2, "output_per_mtok": 0.6}},
    "large": {"price": {"input_per_mtok": 2.5, "output_per_mtok": 10.0, "cached_input_per_mtok": 1.25}},
}


def test_per_token_prices_and_default_reference_is_the_dearest_tier() -> None:
    model = CostModel(spec(TIERS))
    assert model.reference_tier == "large"
    bill = model.bill("medium", Usage(prompt_tokens=1_000_000, completion_tokens=500_000))
    assert bill.cost_usd == pytest.approx(0.2 + 0.3)
    assert bill.reference_usd == pytest.approx(2.5 + 5.0)
    assert bill.savings_usd == pytest.approx(7.5 - 0.5)


def test_cached_input_has_its_own_price_and_unknown_tiers_cost_nothing() -> None:
    model = CostModel(spec(TIERS))
    usage = usage_of(
        b'{"usage":{"prompt_tokens":1000000,"completion_tokens":0,'
        b'"prompt_tokens_details":{"cached_tokens":400000}}}'
    )
    assert usage is not None and usage.cached_tokens == 400_000
    bill = model.bill("large", usage)
    assert bill.cost_usd == pytest.approx(0.6 * 2.5 + 0.4 * 1.25)
    assert bill.savings_usd == 0.0  # the reference tier saves nothing against itself
    assert model.bill("none", usage).cost_usd == 0.0


def test_input_written_to_the_cache_has_its_own_price_where_the_tier_gives_one() -> None:
    """Anthropic's usage (a native Message, or chat translated from one: the same counts) with a
    cache read and a cache write: each at its price, the rest at the input price."""
    prices = {"cached_input_per_mtok": 0.3, "cache_write_per_mtok": 3.75}
    tiers = {**TIERS, "claude": {"price": {"input_per_mtok": 3.0, "output_per_mtok": 15.0, **prices}}}
    model = CostModel(spec(tiers))
    native = usage_of(
        b'{"usage":{"input_tokens":100000,"output_tokens":10000,'
        b'"cache_read_input_tokens":500000,"cache_creation_input_tokens":400000}}'
    )
    chat = usage_of(
        b'{"usage":{"prompt_tokens":1000000,"completion_tokens":10000,"total_tokens":1010000,'
        b'"prompt_tokens_details":{"cached_tokens":500000},"cache_creation_input_tokens":400000}}'
    )
    assert native is not None and chat is not None and native.cache_written == chat.cache_written == 400_000
    want = 0.1 * 3.0 + 0.5 * 0.3 + 0.4 * 3.75 + 0.01 * 15.0
    assert model.bill("claude", native).cost_usd == pytest.approx(want)
    assert model.bill("claude", chat).cost_usd == pytest.approx(want)
    # A tier without the price bills the writes as input, as before.
    assert model.bill("large", native).cost_usd == pytest.approx(0.5 * 2.5 + 0.5 * 1.25 + 0.01 * 10.0)


def test_explicit_reference_and_savings_never_negative() -> None:
    model = CostModel(spec(TIERS, cost={"reference_tier": "medium"}))
    bill = model.bill("large", Usage(prompt_tokens=1000, completion_tokens=1000))
    assert bill.cost_usd > bill.reference_usd
    assert bill.savings_usd == 0.0


def test_unknown_reference_tier_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "routes.yaml"
    path.write_text(
        "default_tier: small\n"
        "tiers:\n"
        "  small:\n"
        "    backends: [{name: a, kind: openai, base_url: 'http://x/v1', model: a}]\n"
        "cost:\n"
        "  reference_tier: huge\n"
    )
    with pytest.raises(ConfigError) as info:
        load_routes(path)
    assert any("routes.yaml:6" in p and "reference_tier" in p and "huge" in p for p in info.value.problems)


def test_hourly_hardware_at_a_configured_capacity() -> None:
    tiers = {**TIERS, "medium": {"price": {"usd_per_hour": 3.6, "tokens_per_s": 1000}}}
    bill = CostModel(spec(tiers)).bill("medium", Usage(prompt_tokens=600, completion_tokens=400))
    # $3.6/h is $0.001/s; at 1000 tokens/s a token costs $1e-6.
    assert bill.cost_usd == pytest.approx(1000 * 1e-6)


def test_hourly_hardware_amortised_over_measured_throughput() -> None:
    clock = Clock()
    tiers = {**TIERS, "medium": {"price": {"usd_per_hour": 3.6}}}
    model = CostModel(spec(tiers), clock)
    clock.t += 100  # the meter has lived 100 s when the first 1000 tokens arrive
    first = model.bill("medium", Usage(prompt_tokens=500, completion_tokens=500))
    # 1000 tokens in 100 s = 10 tokens/s, so 100 s of a $0.001/s machine: $0.1 for this request.
    assert first.cost_usd == pytest.approx(0.1)
    # Busier hardware makes each token cheaper.
    second = model.bill("medium", Usage(prompt_tokens=500, completion_tokens=8500))
    assert second.cost_usd / 9000 < first.cost_usd / 1000


def test_throughput_window_forgets_old_tokens() -> None:
    clock = Clock()
    meter = Throughput(window_s=60, clock=clock)
    clock.t += 60
    meter.add(600)
    assert meter.rate() == pytest.approx(10.0)
    clock.t += 61
    meter.add(60)
    assert meter.rate() == pytest.approx(1.0)


def test_stream_usage_reads_the_usage_event_only_when_whole() -> None:
    chunk = (
        b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}\n\n'
        b"data: [DONE]\n\n"
    )
    assert stream_usage(chunk) == Usage(prompt_tokens=7, completion_tokens=5)
    assert stream_usage(chunk[:90]) is None
