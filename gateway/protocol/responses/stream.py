"""One response in the making, turned from what a chat backend sends into the Responses API's shape:
a whole Response object from a chat completion, or the event stream the official SDK expects from a
chat stream (created, in_progress, output items with their parts and deltas, completed).

Every event carries a sequence number and is framed `event: <type>` + `data: <json>`; the stream has
no [DONE]. A failure after the first event is reported as `response.failed`, the error inside.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from gateway.protocol.responses.objects import (
    call_item,
    message_item,
    new_id,
    output_of_chat,
    response_object,
    usage_of_chat,
)
from gateway.protocol.responses.tools import ChatTools, custom_input
from gateway.protocol.sse import ChatEvents

__all__ = ["Translation", "frame"]

_encode = msgspec.json.Encoder().encode


# The event a stream sends once per token, framed by hand around its two changing fields (the
# sequence number and the delta): the same bytes as frame() gives, at a third of the cost.
_DELTA_START = (
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","sequence_number":'
)
_DELTA_END = b',"logprobs":[]}\n\n'


def frame(event: dict[str, Any]) -> bytes:
    kind: str = event["type"]
    return b"event: " + kind.encode() + b"\ndata: " + _encode(event) + b"\n\n"


class Translation:
    def __init__(self, rid: str, echoed: dict[str, Any], model: str, tools: ChatTools | None = None) -> None:
        self.rid = rid
        self.echoed = echoed
        self.model = model
        self.tools = tools or ChatTools(None)  # the request's tools: how a chat call maps back
        self.created_at = int(time.time())
        self.final: dict[str, Any] | None = None  # the finished Response, once there is one
        self._seq = 0
        self._events = ChatEvents()
        self._text: dict[str, Any] | None = None  # the message item being streamed
        self._pieces: list[str] = []  # its text so far, joined when a snapshot needs it
        self._delta_mid = b""  # its delta events' fixed middle (item id, output index)
        self._calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> its call item
        self._inputs: dict[int, list[str]] = {}  # a custom tool call's chat arguments so far
        self._order: list[dict[str, Any]] = []  # output items in output_index order
        self._finish: str | None = None
        self._usage: dict[str, Any] | None = None

    # ---- whole answers ------------------------------------------------------------------------
    def of_chat(self, chat: dict[str, Any]) -> dict[str, Any]:
        output, finish = output_of_chat(chat, self.tools)
        self.final = self._response(
            "incomplete" if finish == "length" else "completed",
            output,
            usage_of_chat(chat.get("usage")),
            str(chat.get("model") or self.model),
        )
        return self.final

    def _response(
        self,
        status: str,
        output: list[dict[str, Any]],
        usage: dict[str, Any] | None,
        model: str | None = None,
    ) -> dict[str, Any]:
        return response_object(
            self.rid,
            self.echoed,
            model=model or self.model,
            created_at=self.created_at,
            status=status,
            output=output,
            usage=usage,
        )

    # ---- streams ------------------------------------------------------------------------------
    def _event(self, kind: str, **fields: Any) -> bytes:
        event = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return frame(event)

    def started(self) -> bytes:
        snapshot = self._response("in_progress", [], None)
        return self._event("response.created", response=snapshot) + self._event(
            "response.in_progress", response=snapshot
        )

    def feed(self, chunk: bytes) -> bytes:
        """Chat SSE bytes in (any split), Responses events out."""
        return b"".join(
            self._finished() if event is None else self._chunk(event) for event in self._events.feed(chunk)
        )

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        out = []
        if chunk.get("model"):
            self.model = str(chunk["model"])
        if chunk.get("usage"):
            self._usage = usage_of_chat(chunk["usage"])
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(self._text_delta(str(delta["content"])))
            for call in delta.get("tool_calls") or []:
                out.append(self._call_delta(call))
            if choice.get("finish_reason"):
                self._finish = choice["finish_reason"]
        return b"".join(out)

    def _add(self, item: dict[str, Any]) -> bytes:
        index = len(self._order)
        self._order.append(item)
        shown = {**item, "status": "in_progress"}
        if item["type"] == "message":
            shown["content"] = []
        elif item["type"] == "function_call":
            shown["arguments"] = ""
        elif item["type"] == "custom_tool_call":
            shown["input"] = ""
        return self._event("response.output_item.added", output_index=index, item=shown)

    def _text_delta(self, text: str) -> bytes:
        out = b""
        if self._text is None:
            self._text = message_item("", "in_progress")
            index = len(self._order)
            out = self._add(self._text) + self._event(
                "response.content_part.added",
                item_id=self._text["id"],
                output_index=index,
                content_index=0,
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
            fixed = b',"output_index":%d,"content_index":0,"delta":' % index
            self._delta_mid = b',"item_id":' + _encode(self._text["id"]) + fixed
        self._pieces.append(text)
        seq = self._seq
        self._seq += 1
        return out + _DELTA_START + b"%d" % seq + self._delta_mid + _encode(text) + _DELTA_END

    def _joined(self) -> None:
        """The streamed message's text, made whole before a snapshot shows it."""
        if self._text is not None:
            self._text["content"][0]["text"] = "".join(self._pieces)

    def _call_delta(self, call: dict[str, Any]) -> bytes:
        index = int(call.get("index", 0))
        fn = call.get("function") or {}
        item = self._calls.get(index)
        out = b""
        if item is None:
            item = call_item(
                call.get("id") or new_id("call"), fn.get("name") or "", "", self.tools, "in_progress"
            )
            self._calls[index] = item
            out = self._add(item)
        if fn.get("name") and not item["name"]:
            item["name"] = fn["name"]
        args = fn.get("arguments") or ""
        if not args:
            return out
        if item["type"] == "custom_tool_call":
            # Its input is a JSON string inside the arguments: sent whole once the call is complete.
            self._inputs.setdefault(index, []).append(args)
            return out
        item["arguments"] += args
        return out + self._event(
            "response.function_call_arguments.delta",
            item_id=item["id"],
            output_index=self._order.index(item),
            delta=args,
        )

    def _finished(self) -> bytes:
        self._joined()
        out = []
        status = "incomplete" if self._finish == "length" else "completed"
        for index, item in enumerate(self._order):
            item["status"] = status if item["type"] == "message" else "completed"
            if item["type"] == "message":
                part = item["content"][0]
                common = {"item_id": item["id"], "output_index": index, "content_index": 0}
                out.append(self._event("response.output_text.done", **common, text=part["text"], logprobs=[]))
                out.append(self._event("response.content_part.done", **common, part=part))
            elif item["type"] == "custom_tool_call":
                out.append(self._custom_done(item, index))
            else:
                out.append(
                    self._event(
                        "response.function_call_arguments.done",
                        item_id=item["id"],
                        output_index=index,
                        arguments=item["arguments"],
                    )
                )
            out.append(self._event("response.output_item.done", output_index=index, item=item))
        self.final = self._response(status, self._order, self._usage)
        kind = "response.incomplete" if status == "incomplete" else "response.completed"
        out.append(self._event(kind, response=self.final))
        return b"".join(out)

    def _custom_done(self, item: dict[str, Any], index: int) -> bytes:
        chunks = next((v for k, v in self._inputs.items() if self._calls.get(k) is item), [])
        item["input"] = custom_input("".join(chunks)) if chunks else ""
        where = {"item_id": item["id"], "output_index": index}
        delta = self._event("response.custom_tool_call_input.delta", **where, delta=item["input"])
        return delta + self._event("response.custom_tool_call_input.done", **where, input=item["input"])

    def failed(self, envelope: dict[str, Any]) -> bytes:
        """The event that ends a stream which broke after it started."""
        err = envelope.get("error") or {}
        self._joined()
        error = {
            "code": err.get("code") or "server_error",
            "message": err.get("message") or "The stream broke.",
        }
        snapshot = {**self._response("failed", self._order, self._usage), "error": error}
        return self._event("response.failed", response=snapshot)
