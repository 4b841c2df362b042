"""Requests in flight per backend, as the gateway counts them: from an attempt's start to its answer's
end (a stream's last byte), whatever the backend reports itself. The planner ranks replicas by it."""

from __future__ import annotations

__all__ = ["InFlight", "Slot"]


class InFlight:
    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def __getitem__(self, name: str) -> int:
        return self._counts.get(name, 0)

    def enter(self, name: str) -> Slot:
        self._counts[name] = self._counts.get(name, 0) + 1
        return Slot(self._counts, name)


class Slot:
    """One request's place in a backend's count; released once, however the request ends.

    A stream's slot passes from the attempt to the relay that sends it. If the server never starts
    the relay (the client left before the first byte), its frame is dropped unrun and the slot with
    it: releasing on collection keeps the count honest then too.
    """

    __slots__ = ("_counts", "_name", "_open")

    def __init__(self, counts: dict[str, int], name: str) -> None:
        self._counts = counts
        self._name = name
        self._open = True

    def release(self) -> None:
        if self._open:
            self._open = False
            self._counts[self._name] -= 1

    def __del__(self) -> None:
        self.release()
