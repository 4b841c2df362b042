"""A chat stream read back from its SSE bytes (protocol/sse.py: ChatEvents), as both translations to
another API read it: events split over reads, [DONE], and a line that is not JSON."""

from __future__ import annotations

import pytest

from gateway.errors import StreamInterrupted
from gateway.protocol.responses import Translation
from gateway.protocol.sse import DONE, ChatEvents, json_event


def test_events_split_anywhere_come_out_whole_and_in_order() -> None:
    raw = json_event({"a": 1}) + b": a comment\n\n" + json_event({"b": [2]}) + DONE
    for cut in range(1, len(raw)):
        events = ChatEvents()
        got = events.feed(raw[:cut]) + events.feed(raw[cut:])
        assert got == [{"a": 1}, {"b": [2]}, None], cut


def test_a_line_that_is_not_json_ends_the_stream_for_every_translation() -> None:
    with pytest.raises(StreamInterrupted) as err:
        ChatEvents().feed(b"data: {not json\n\n")
    assert err.value.code == "upstream_protocol"
    with pytest.raises(StreamInterrupted):  # the Responses API's translation too (it used to leak)
        Translation("resp_1", {}, "m").feed(b"data: {not json\n\n")
