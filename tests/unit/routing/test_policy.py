"""The pure routing policy, by tables: difficulty, budgets tight and loose, tiers slow and fast, ties."""

from __future__ import annotations

import pytest

from gateway.errors import BudgetUnmeetable
from gateway.routing.plan import Ask, BackendView, TierView, decide, pinned


def tier(name: str, max_d: float, cost: float, *backends: tuple[str, float, float]) -> TierView:
    return TierView(name, max_d, cost, tuple(BackendView(n, ttft, tpot) for n, ttft, tpot in backends))


# small: local, fast start, slow per token; medium: vLLM; large: hosted, slow start
SMALL = tier("small", 0.3, 0.0, ("local", 0.05, 0.010))
MEDIUM = tier("medium", 0.7, 0.4, ("vllm-a", 0.15, 0.030), ("vllm-b", 0.10, 0.018))  # b is clearly faster
LARGE = tier("large", 1.0, 12.5, ("hosted", 0.50, 0.025))
TIERS = (LARGE, SMALL, MEDIUM)  # file order must not matter: price orders them


def first(ask: Ask, tiers: tuple[TierView, ...] = TIERS) -> tuple[str, str, str]:
    plan = decide(ask, tiers)
    return plan.tier, plan.candidates[0].backend, plan.reason


@pytest.mark.parametrize(
    ("difficulty", "budget", "slo", "expected"),
    [
        # no budget: the cheapest tier trusted with the difficulty
        (0.1, None, None, ("small", "local", "cheapest_capable")),
        (0.3, None, None, ("small", "local", "cheapest_capable")),  # threshold is inclusive
        (0.5, None, None, ("medium", "vllm-b", "cheapest_capable")),  # faster replica first
        (0.9, None, None, ("large", "hosted", "cheapest_capable")),
        # loose budget changes nothing
        (0.1, 10_000, None, ("small", "local", "cheapest_capable_in_budget")),
        # 100 tokens: small 1050 ms, medium 1900 ms, large 3000 ms
        (0.1, 2000, None, ("small", "local", "cheapest_capable_in_budget")),
        (0.1, 1060, None, ("small", "local", "cheapest_capable_in_budget")),
        # tight budget no capable tier meets: the fastest capable one
        (0.5, 1000, None, ("medium", "vllm-b", "budget_miss_fastest_capable")),
        (0.9, 1000, None, ("large", "hosted", "budget_miss_fastest_capable")),
        # a first-token SLO the hosted tier cannot meet moves a hard request nowhere cheaper
        (0.9, None, 200, ("large", "hosted", "budget_miss_fastest_capable")),
        # an easy request with a TTFT SLO only small meets
        (0.5, None, 120, ("medium", "vllm-b", "cheapest_capable_in_budget")),
        (0.1, None, 60, ("small", "local", "cheapest_capable_in_budget")),
    ],
)
def test_cheapest_capable_within_budget(
    difficulty: float, budget: float | None, slo: float | None, expected: tuple[str, str, str]
) -> None:
    assert first(Ask(difficulty, 100, budget, slo)) == expected


def test_budget_moves_easy_request_up_when_small_is_slow() -> None:
    slow_small = tier("small", 0.3, 0.0, ("local", 0.05, 0.050))  # 5 s for 100 tokens
    tiers = (slow_small, MEDIUM, LARGE)
    assert first(Ask(0.1, 100, budget_ms=2500), tiers) == ("medium", "vllm-b", "cheapest_capable_in_budget")
    assert first(Ask(0.1, 100), tiers)[0] == "small"  # without a budget cost wins


def test_alike_replicas_share_by_outstanding_requests() -> None:
    def medium(load_a: int, load_b: int) -> TierView:
        return TierView(
            "medium",
            1.0,
            0.0,
            (BackendView("a", 0.100, 0.01, load=load_a), BackendView("b", 0.105, 0.01, load=load_b)),
        )

    assert first(Ask(0.5, 10), (medium(0, 0),))[1] == "a"  # alike, equally busy: file order
    assert first(Ask(0.5, 10), (medium(3, 1),))[1] == "b"  # alike: the less busy one
    far = TierView("medium", 1.0, 0.0, (BackendView("a", 0.1, 0.01, load=5), BackendView("b", 0.5, 0.01)))
    assert first(Ask(0.5, 10), (far,))[1] == "a"  # 3x slower is not alike, however idle


def test_queue_wait_counts() -> None:
    busy = TierView("small", 0.3, 0.0, (BackendView("local", 0.05, 0.010, queue_s=3.0),))
    assert first(Ask(0.1, 100, budget_ms=2000), (busy, MEDIUM, LARGE))[0] == "medium"


def test_on_miss_fastest_picks_any_tier() -> None:
    fast_small = tier("small", 0.3, 0.0, ("local", 0.01, 0.001))
    plan = decide(Ask(0.9, 100, budget_ms=50, on_miss="fastest"), (fast_small, MEDIUM, LARGE))
    assert (plan.tier, plan.reason) == ("small", "budget_miss_fastest")
    assert not plan.candidates[0].capable


def test_on_miss_reject_says_why() -> None:
    with pytest.raises(BudgetUnmeetable) as info:
        decide(Ask(0.9, 100, budget_ms=100, on_miss="reject"), TIERS)
    assert info.value.status == 422
    assert "large: expected 3000 ms" in info.value.message


def test_fallback_order_capable_by_cost_then_weaker_tiers() -> None:
    plan = decide(Ask(0.5, 100), TIERS)
    assert [c.backend for c in plan.candidates] == ["vllm-b", "vllm-a", "hosted", "local"]
    assert [c.capable for c in plan.candidates] == [True, True, True, False]
    no_degrade = decide(Ask(0.5, 100, degrade=False), TIERS)
    assert [c.backend for c in no_degrade.candidates] == ["vllm-b", "vllm-a", "hosted"]


def test_difficulty_above_every_tier_goes_to_the_most_trusted() -> None:
    capped = (tier("small", 0.3, 0.0, ("local", 0.05, 0.01)), tier("medium", 0.6, 1.0, ("m", 0.1, 0.01)))
    plan = decide(Ask(0.95, 10), capped)
    assert plan.tier == "medium"
    assert "above every tier" in plan.reasons[0]


def test_price_ties_keep_file_order() -> None:
    a, b = tier("a", 1.0, 1.0, ("a1", 0.1, 0.01)), tier("b", 1.0, 1.0, ("b1", 0.1, 0.01))
    assert decide(Ask(0.5, 10), (a, b)).tier == "a"
    assert decide(Ask(0.5, 10), (b, a)).tier == "b"


def test_unhealthy_backends_go_last() -> None:
    sick = TierView(
        "medium",
        0.7,
        0.4,
        (BackendView("vllm-a", 0.1, 0.01, healthy=False), BackendView("vllm-b", 0.2, 0.01)),
    )
    plan = decide(Ask(0.5, 10), (SMALL, sick, LARGE))
    assert [c.backend for c in plan.candidates] == ["vllm-b", "hosted", "local", "vllm-a"]


def test_no_difficulty_means_cheapest() -> None:
    assert first(Ask(None, 10)) == ("small", "local", "cheapest_capable")


def test_reasons_are_readable() -> None:
    plan = decide(Ask(0.5, 100, budget_ms=2500), TIERS)
    assert plan.reasons[0] == "small: difficulty 0.50 > max_difficulty 0.3"
    assert plan.reasons[-1].startswith(
        "medium: cheapest capable tier, expected 1900 ms within budget 2500 ms"
    )


def test_pinned_orders_by_expected_latency_then_file_order() -> None:
    plan = pinned(MEDIUM, 100)
    assert [c.backend for c in plan.candidates] == ["vllm-b", "vllm-a"]  # b starts 50 ms sooner
    assert plan.reason == "pinned" and plan.difficulty is None
    even = tier("medium", 1.0, 0.0, ("x", 0.1, 0.01), ("y", 0.1, 0.01))
    assert [c.backend for c in pinned(even, 10).candidates] == ["x", "y"]
    busy = TierView(
        "medium", 1.0, 0.0, (BackendView("x", 0.1, 0.01, queue_s=1.0), BackendView("y", 0.1, 0.01))
    )
    assert [c.backend for c in pinned(busy, 10).candidates] == ["y", "x"]
    sick = TierView(
        "medium", 1.0, 0.0, (BackendView("x", 0.1, 0.01, healthy=False), BackendView("y", 0.5, 0.01))
    )
    assert [c.backend for c in pinned(sick, 10).candidates] == ["y", "x"]


# ---- what a family's record settles for a cascade (routing/cascade.py) -----------------------------
@pytest.mark.parametrize(
    ("prior", "labels", "draw", "settled"),
    [
        (None, 500, 0.5, "verify"),  # no prior: nothing to settle
        (0.01, None, 0.5, "verify"),  # a family without counts
        (0.01, 49, 0.5, "verify"),  # not enough labels yet
        (0.01, 50, 0.5, "escalate"),
        (0.05, 50, 0.5, "escalate"),  # at the bound
        (0.5, 500, 0.5, "verify"),  # a family in between is always verified
        (0.97, 500, 0.5, "light"),
        (0.01, 500, 0.05, "audit"),  # an audit share of the settled families is verified anyway
        (0.97, 500, 0.05, "audit"),
        (0.5, 500, 0.05, "verify"),
    ],
)
def test_settled(prior: float | None, labels: float | None, draw: float, settled: str) -> None:
    from gateway.routing.cascade import settled as rule
    from gateway.rules.schema import VerifySpec

    assert rule(VerifySpec(), prior, labels, draw) == settled


def test_verify_bounds_are_ordered() -> None:
    from pydantic import ValidationError

    from gateway.rules.schema import VerifySpec

    with pytest.raises(ValidationError, match="escalate_below must be below light_above"):
        VerifySpec(escalate_below=0.5, light_above=0.4)
