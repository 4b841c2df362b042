"""The board's replicas: a prior slower than what a replica measures must not keep another out for good."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.classify.scorer import default_scorer
from gateway.routing.estimates import LatencyBook
from gateway.routing.plan import TierView, pinned
from gateway.routing.planner import Planner
from gateway.rules import load_routes

# Two vLLM replicas and a lone hosted model, all on their kinds' default priors (vLLM: 150 ms to the
# first token, 18 ms a token), which the replicas beat (50 ms, 5 ms): a fast GPU.
ROUTES = """
version: 1
default_tier: medium
tiers:
  medium:
    backends:
      - {name: a, kind: vllm, base_url: "http://127.0.0.1:9/v1", model: m}
      - {name: b, kind: vllm, base_url: "http://127.0.0.1:9/v1", model: m}
  large:
    backends: [{name: x, kind: openai, base_url: "http://127.0.0.1:9/v1", model: l}]
routes:
  - {model: m, tier: medium}
"""
HALF_LIFE_S = 30.0  # the estimator's default
TOKENS = 256


@dataclass
class Live:
    load: int = 0
    until: float = -math.inf
    silent_since: float = math.inf
    waiting_whole: int = 0
    waiting_ktok: float = 0.0


@pytest.fixture
def book() -> LatencyBook:
    return LatencyBook()


@pytest.fixture
def planner(tmp_path: Path, book: LatencyBook) -> Planner:
    return Planner(load_routes(tmp_path / "routes.yaml", ROUTES), default_scorer(), book)


def measured(book: LatencyBook, name: str, now: float, ttft_s: float, tpot_s: float) -> None:
    """A streamed answer: its first chunk after `ttft_s`, then `tpot_s` a token."""
    book.first_chunk(name, now, ttft_s)
    book.per_token(name, now, tpot_s)


def medium(planner: Planner, now: float, loads: dict[str, int] | None = None) -> TierView:
    lives = {n: Live(load) for n, load in (loads or {"a": 0, "b": 0}).items()}
    return planner.board(now, TOKENS, lives).tier("medium")


def order(view: TierView) -> list[str]:
    return [c.backend for c in pinned(view, TOKENS).candidates]


def total(view: TierView, name: str) -> float:
    """The time to a whole answer the planner expects there, its queue included."""
    b = next(b for b in view.backends if b.name == name)
    return b.queue_s + b.ttft_s + TOKENS * b.tpot_s


def test_a_replica_never_measured_starts_where_its_replica_measures(
    planner: Planner, book: LatencyBook
) -> None:
    for i in range(20):
        measured(book, "a", float(i), 0.05, 0.005)
    view = medium(planner, 19.0, {"a": 1, "b": 0})
    a, b = view.backends
    assert (b.ttft_s, b.tpot_s) == pytest.approx((a.ttft_s, a.tpot_s))  # not the prior's 150 ms, 18 ms
    assert order(view) == ["b", "a"]  # alike: the idle one goes first
    # A lone backend keeps its prior: nothing measured says otherwise.
    x = planner.board(20.0, TOKENS).tier("large").backends[0]
    assert (x.ttft_s, x.tpot_s) == pytest.approx((0.30, 0.020))


def test_a_replica_measured_slow_once_comes_back_when_its_estimate_has_drifted(
    planner: Planner, book: LatencyBook
) -> None:
    measured(book, "a", 0.0, 0.05, 0.005)
    measured(book, "a", 0.0, 1.0, 0.05)  # a hiccup: two slow answers in a row count in full
    measured(book, "a", 0.0, 1.0, 0.05)
    now = 0.0
    while now < 4 * HALF_LIFE_S:  # b takes the traffic, and is measured fast all along
        measured(book, "b", now, 0.05, 0.005)
        now += 1.0
    assert order(medium(planner, 1.0, {"a": 0, "b": 3})) == ["b", "a"]  # a is out: far slower
    # Four half-lives on, a's estimate has drifted back to within the planner's "alike" margin of
    # b's, not to its prior (150 ms and 18 ms a token: 4.8 s an answer, against b's 1.7 s with its
    # queue), and b is the busier: a is tried again.
    view = medium(planner, now, {"a": 0, "b": 3})
    assert total(view, "a") < 1.5 * total(view, "b")
    assert order(view) == ["a", "b"]


def test_a_replica_slower_than_the_prior_leaves_the_others_at_theirs(
    planner: Planner, book: LatencyBook
) -> None:
    for i in range(20):
        measured(book, "b", float(i), 0.4, 0.04)
    a = medium(planner, 20.0).backends[0]
    assert (a.ttft_s, a.tpot_s) == pytest.approx((0.15, 0.018))


def test_of_three_replicas_each_is_taken_as_alike_to_the_fastest_other(tmp_path: Path) -> None:
    routes = ROUTES.replace(
        '      - {name: b, kind: vllm, base_url: "http://127.0.0.1:9/v1", model: m}\n',
        '      - {name: b, kind: vllm, base_url: "http://127.0.0.1:9/v1", model: m}\n'
        '      - {name: c, kind: vllm, base_url: "http://127.0.0.1:9/v1", model: m}\n',
    )
    book = LatencyBook()
    planner = Planner(load_routes(tmp_path / "routes.yaml", routes), default_scorer(), book)
    measured(book, "a", 0.0, 0.05, 0.005)
    measured(book, "b", 0.0, 0.4, 0.04)
    a, b, c = planner.board(0.0, TOKENS).tier("medium").backends
    assert (c.ttft_s, c.tpot_s) == pytest.approx((a.ttft_s, a.tpot_s))  # never measured: as fast as a
    assert b.ttft_s > a.ttft_s  # measured slow: it stays so until its estimate drifts back


def test_a_replica_never_measured_takes_one_request_at_a_time(planner: Planner, book: LatencyBook) -> None:
    # A cold start: nobody measured, every replica on its priors; load spreads as it always did (no
    # replica goes behind the other tiers' backends).
    assert all(b.healthy for b in medium(planner, 0.0, {"a": 3, "b": 1}).backends)
    for i in range(20):
        measured(book, "a", float(i), 0.05, 0.005)
    # b, never measured, already holds one request and a holds three: b would go first by load, but
    # until its first answer it takes one at a time (a new replica that hangs holds one request).
    assert order(medium(planner, 19.0, {"a": 3, "b": 1})) == ["a", "b"]
    assert not medium(planner, 19.0, {"a": 3, "b": 1}).backends[1].healthy  # behind other tiers too
    assert order(medium(planner, 19.0, {"a": 3, "b": 0})) == ["b", "a"]
    measured(book, "b", 19.0, 0.05, 0.005)
    assert order(medium(planner, 19.0, {"a": 3, "b": 1})) == ["b", "a"]  # measured: by load again


def test_a_backend_silent_far_longer_than_it_takes_to_answer_is_taken_as_hung(
    planner: Planner, book: LatencyBook
) -> None:
    from gateway.routing.board import SILENT_TAILS

    floor = planner.tiers.silent_s  # breaker.silent_s, 2 s by default

    for i in range(20):  # streams' first chunks in 50 ms; plain answers in 1 s
        for name in "ab":
            measured(book, name, float(i), 0.05, 0.005)
            book.answered(name, float(i), 1.0, 100)
    now = 20.0

    def healthy(silent_s: float, whole: int = 0) -> bool:
        lives = {"a": Live(2, silent_since=now - silent_s, waiting_whole=whole), "b": Live(0)}
        return planner.board(now, TOKENS, lives).tier("medium").backends[0].healthy

    assert healthy(floor - 0.1)  # a stream waits; 4 x 50 ms is sooner than the floor
    assert not healthy(floor + 0.1)
    assert healthy(SILENT_TAILS * 1.0 - 0.1, whole=1)  # a plain answer takes a second: 4 s of silence
    assert not healthy(SILENT_TAILS * 1.0 + 0.1, whole=1)
    order_now = order(planner.board(now, TOKENS, {"a": Live(0), "b": Live(5)}).tier("medium"))
    assert order_now == ["a", "b"]  # nothing waits there: b's queue puts it second
    lives = {"a": Live(1, silent_since=now - 10.0), "b": Live(5)}
    assert order(planner.board(now, TOKENS, lives).tier("medium")) == ["b", "a"]  # hung: last


def test_how_long_a_silence_is_taken_for_a_hang_is_the_operators_to_set(tmp_path: Path) -> None:
    routes = ROUTES.replace("routes:\n", "breaker: {silent_s: 10}\nroutes:\n")
    book = LatencyBook()
    planner = Planner(load_routes(tmp_path / "routes.yaml", routes), default_scorer(), book)
    for i in range(20):
        for name in "ab":
            measured(book, name, float(i), 0.05, 0.005)
    now = 20.0

    def healthy(silent_s: float) -> bool:
        lives = {"a": Live(1, silent_since=now - silent_s), "b": Live(0)}
        return planner.board(now, TOKENS, lives).tier("medium").backends[0].healthy

    assert healthy(9.0)  # long prefills are expected here: 9 s of silence is not yet a hang
    assert not healthy(10.5)


def test_a_long_prompt_waiting_is_given_time_to_be_read_before_silence_counts_as_a_hang(
    tmp_path: Path,
) -> None:
    routes = ROUTES.replace("routes:\n", "breaker: {silent_s_per_ktok: 0.25}\nroutes:\n")
    book = LatencyBook()
    planner = Planner(load_routes(tmp_path / "routes.yaml", routes), default_scorer(), book)
    for i in range(20):  # first chunks in 50 ms: 2 s of silence (the floor) is a hang...
        for name in "ab":
            measured(book, name, float(i), 0.05, 0.005)
    now = 20.0

    def healthy(silent_s: float, ktok: float) -> bool:
        lives = {"a": Live(1, silent_since=now - silent_s, waiting_ktok=ktok), "b": Live(0)}
        return planner.board(now, TOKENS, lives).tier("medium").backends[0].healthy

    assert not healthy(2.1, ktok=0.2)
    assert healthy(9.0, ktok=30.0)  # ... but a coding agent's 30k-token turn may be read for 7.5 s more
    assert not healthy(9.6, ktok=30.0)


def test_only_servers_of_our_own_are_taken_as_hung_for_their_silence(tmp_path: Path) -> None:
    """The in-process model runs one generation at a time: a request behind a long plain answer
    hears nothing for as long as that answer takes, and its queue, not a hang, says why. A generic
    OpenAI-compatible backend may be a hosted API whose reasoning models think for a minute before
    their first token: judged by its silence only where the file says it is a server of our own."""
    routes = ROUTES.replace(
        "  large:\n",
        "  small:\n    backends: [{name: local, kind: llamacpp}]\n  large:\n",
    )
    book = LatencyBook()
    planner = Planner(load_routes(tmp_path / "routes.yaml", routes), default_scorer(), book)
    now = 20.0
    for name in ("local", "a"):
        for i in range(20):
            measured(book, name, float(i), 0.05, 0.005)

    def healthy(tier: str, name: str) -> bool:
        lives = {name: Live(1, silent_since=now - 30.0)}
        return planner.board(now, TOKENS, lives).tier(tier).backends[0].healthy

    assert healthy("small", "local")
    assert not healthy("medium", "a")
    assert healthy("large", "x")  # kind: openai
    own = routes.replace("model: l}]", "model: l, judge_silence: true}]")
    assert own != routes
    planner = Planner(load_routes(tmp_path / "routes.yaml", own), default_scorer(), book)
    assert not healthy("large", "x")
