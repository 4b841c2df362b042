"""The in-memory answer index: a ring of flat arrays that must give back every field it was given (the
family fields learning reads from a rating included), forget what expired, and let the oldest go
first when full."""

from __future__ import annotations

from gateway.tenancy.answer_index import Answered, MemoryAnswers


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_entry_comes_back_whole() -> None:
    index = MemoryAnswers(8, 60.0, Clock())
    full = Answered("team-a", "chat", "small", "arc/science", "v3", 0.1234, True)
    bare = Answered("team-b", "chat", "large")
    index.remember("resp_1", full)
    index.remember("resp_2", bare)
    assert await index.lookup("resp_1") == full
    assert await index.lookup("resp_2") == bare
    assert await index.lookup("resp_3") is None


async def test_expired_entries_are_gone() -> None:
    clock = Clock()
    index = MemoryAnswers(8, 60.0, clock)
    index.remember("resp_1", Answered("t", "r", "small"))
    clock.now += 61
    assert await index.lookup("resp_1") is None
    index.remember("resp_2", Answered("t", "r", "small"))
    assert await index.lookup("resp_2") is not None


async def test_a_full_ring_lets_the_oldest_go_first() -> None:
    index = MemoryAnswers(3, 60.0, Clock())
    for i in range(5):
        index.remember(f"resp_{i}", Answered(f"tenant-{i}", "r", "small", within=i / 10))
    assert len(index) == 3
    assert await index.lookup("resp_0") is None and await index.lookup("resp_1") is None
    for i in (2, 3, 4):
        found = await index.lookup(f"resp_{i}")
        assert found is not None and found.tenant == f"tenant-{i}" and found.within == round(i / 10, 4)


async def test_expiry_is_kept_in_whole_seconds_and_never_early() -> None:
    clock = Clock()
    index = MemoryAnswers(8, 60.25, clock)  # expires at 160.25, kept as second 161
    index.remember("resp_1", Answered("t", "r", "small"))
    clock.now = 160.25
    assert await index.lookup("resp_1") is not None  # never before its retention
    clock.now = 160.99
    assert await index.lookup("resp_1") is not None  # at most a second after it
    clock.now = 161.01
    assert await index.lookup("resp_1") is None
