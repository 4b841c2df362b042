"""A backend's live state as dispatch keeps it: requests in flight, and since when it has been silent."""

from __future__ import annotations

import gc
import math

from gateway.dispatch.inflight import InFlight


def test_silent_since_the_first_waiting_attempt_until_an_answer() -> None:
    flight = InFlight()
    first = flight.enter("a", 10.0, whole=False)
    second = flight.enter("a", 11.0, whole=True)
    live = flight.lives["a"]
    assert (live.in_flight, live.waiting, live.waiting_whole, live.silent_since) == (2, 2, 1, 10.0)
    first.answered(12.5)  # a first chunk: the backend answers, and the other still waits
    assert (live.in_flight, live.waiting, live.silent_since) == (2, 1, 12.5)
    first.answered(13.0)  # only its first answer counts
    assert live.silent_since == 12.5
    second.answered(14.0)
    assert (live.waiting, live.waiting_whole, live.silent_since) == (0, 0, math.inf)
    first.release()  # the stream's last byte: no longer in flight, and it was not waiting
    second.release()
    assert (live.in_flight, live.silent_since) == (0, math.inf)


def test_an_attempt_that_ends_unanswered_is_no_news() -> None:
    flight = InFlight()
    hung = flight.enter("a", 10.0, whole=True)
    live = flight.lives["a"]
    failed = flight.enter("a", 11.0, whole=False)
    failed.release()  # it failed or was cancelled before answering: the first still waits, unheard
    assert (live.in_flight, live.waiting, live.waiting_whole, live.silent_since) == (1, 1, 1, 10.0)
    hung.release()
    assert (live.in_flight, live.waiting, live.waiting_whole, live.silent_since) == (0, 0, 0, math.inf)
    lost = flight.enter("a", 20.0, whole=False)
    del lost  # a slot nobody released (a relay that never ran) lets go when collected
    gc.collect()
    assert (live.in_flight, live.waiting, live.silent_since) == (0, 0, math.inf)


def test_a_stream_that_ends_while_others_wait_says_the_backend_answers() -> None:
    flight = InFlight()
    streaming = flight.enter("a", 10.0, whole=False)
    streaming.answered(10.2)  # its first chunk; it streams on
    long_prefill = flight.enter("a", 11.0, whole=False)
    live = flight.lives["a"]
    assert live.silent_since == 11.0  # the waiting one has heard nothing yet
    streaming.ended(15.0)  # the other stream ended whole: the backend is working
    streaming.release()
    assert (live.in_flight, live.waiting, live.silent_since) == (1, 1, 15.0)
    long_prefill.release()
    streaming.ended(16.0)  # nothing waits: nothing to refresh
    assert live.silent_since == math.inf


def test_the_longest_prompt_waiting_is_kept_until_none_waits() -> None:
    flight = InFlight()
    short = flight.enter("a", 10.0, whole=False, ktok=0.5)
    live = flight.lives["a"]
    long = flight.enter("a", 10.5, whole=False, ktok=30.0)  # a coding agent's first turn
    flight.enter("a", 11.0, whole=True, ktok=2.0).release()
    assert live.waiting_ktok == 30.0
    long.answered(14.0)  # kept while others wait: at worst a hang is taken a little later
    assert live.waiting_ktok == 30.0
    short.release()
    nxt = flight.enter("a", 20.0, whole=False, ktok=1.0)  # none waited: counted afresh
    assert live.waiting_ktok == 1.0
    nxt.release()


def test_an_engine_whose_counters_move_is_not_silent() -> None:
    """vLLM's token counters moving (backends/vllm.py: `progressed_at`) are news too: a plain answer
    being written sends nothing else until it is whole."""
    from gateway.testing.fake_backend import FakeBackend

    flight = InFlight()
    engine = FakeBackend("a")
    flight.bind({"a": engine}, {})
    writing = flight.enter("a", 10.0, whole=True)
    live = flight.lives["a"]
    assert live.silent_since == 10.0
    engine.progressed_at = 12.0
    assert live.silent_since == 12.0
    engine.progressed_at = 9.0  # before it was sent: says nothing of it
    assert live.silent_since == 10.0
    writing.release()
    assert live.silent_since == math.inf  # nothing waits: nothing is silent
