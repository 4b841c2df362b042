"""A chat completion request as a Messages request, for a backend that speaks Anthropic's API
(backends/anthropic.py): the inverse of to_chat.py.

System and developer messages, wherever they stand, become the top-level `system`; consecutive
turns of one role become one turn (tool messages join the user turn that follows, their
`tool_result` blocks first, as the API requires); images become image blocks (data URLs as base64,
others by URL), PDFs sent as data URLs document blocks; `tool_calls` become `tool_use` blocks, with
ids the API accepts (the same one for a call and its result). Function tools, `tool_choice` and
`parallel_tool_calls`, `stop`, `user`, a JSON-schema `response_format` and `reasoning_effort` have
their Messages counterparts. What the API has no room for is refused (UpstreamRejected, so the
client reads why): `n` > 1, audio, a `response_format` without a schema, tools that are not
functions. Sampling knobs it lacks (`seed`, penalties, `logit_bias`, `logprobs`) are dropped:
docs/anthropic.md lists every field.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.errors import UpstreamRejected
from gateway.protocol.anthropic.message import arguments, tool_id

__all__ = ["messages_body"]

_DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)
_EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh"}
_CHOICE = {"auto": "auto", "required": "any", "none": "none"}


def _refuse(what: str) -> UpstreamRejected:
    return UpstreamRejected(f"The Anthropic Messages API cannot take {what}.", code="unsupported_feature")


def _text(content: Any) -> str:
    """A message's text: a string, or its text (and refusal) parts joined."""
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "\n\n".join(
        str(p.get("text") or p.get("refusal") or "")
        for p in parts
        if isinstance(p, dict) and p.get("type") in ("text", "refusal")
    )


def _image(url: str) -> dict[str, Any]:
    found = _DATA_URL.match(url)
    if found is None:
        return {"type": "image", "source": {"type": "url", "url": url}}
    source = {"type": "base64", "media_type": found["media"], "data": found["data"]}
    return {"type": "image", "source": source}


def _file(part: dict[str, Any]) -> dict[str, Any]:
    file = part.get("file")
    file = file if isinstance(file, dict) else {}
    found = _DATA_URL.match(str(file.get("file_data") or ""))
    if found is None or found["media"] != "application/pdf":
        raise _refuse("files other than PDFs sent inline (`file_data` as a data URL)")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": found["data"]},
    }
    if isinstance(file.get("filename"), str):
        block["title"] = file["filename"]
    return block


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content if isinstance(content, list) else []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image(str(url or "")))
        elif kind == "file":
            blocks.append(_file(part))
        elif kind != "text":
            raise _refuse(f"'{kind}' content parts")
    return blocks


def _assistant_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    text = _text(message.get("content"))
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for call in message.get("tool_calls") or []:
        fn = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": tool_id(call.get("id")),
                "name": str(fn.get("name") or ""),
                "input": arguments(fn.get("arguments")),
            }
        )
    return blocks


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "tool_result",
        "tool_use_id": tool_id(message.get("tool_call_id")),
        "content": _text(message.get("content")),
    }


class _Turns:
    """The Messages conversation being built: one turn per run of one role."""

    __slots__ = ("system", "turns")

    def __init__(self) -> None:
        self.system: list[str] = []
        self.turns: list[dict[str, Any]] = []

    def add(self, role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:  # the API refuses empty turns; an empty one says nothing anyway
            return
        if self.turns and self.turns[-1]["role"] == role:
            self.turns[-1]["content"] += blocks
        else:
            self.turns.append({"role": role, "content": blocks})

    def messages(self) -> list[dict[str, Any]]:
        for turn in self.turns:
            if turn["role"] == "user":  # a user turn's tool results come first
                turn["content"].sort(key=lambda b: b["type"] != "tool_result")
        return self.turns


def _tool(tool: Any) -> dict[str, Any]:
    kind = tool.get("type") if isinstance(tool, dict) else tool
    if kind != "function":
        raise _refuse(f"'{kind}' tools (function tools only)")
    fn = tool.get("function")
    if not isinstance(fn, dict):
        raise _refuse("a function tool without its `function` object")
    spec: dict[str, Any] = {
        "name": fn.get("name"),
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if isinstance(fn.get("description"), str):
        spec["description"] = fn["description"]
    if fn.get("strict") is True:
        spec["strict"] = True
    return spec


def _choice(choice: Any, tools: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The Messages `tool_choice` for chat's, and the tools it leaves offered."""
    if isinstance(choice, str):
        return ({"type": _CHOICE[choice]} if choice in _CHOICE and tools else None), tools
    if not isinstance(choice, dict):
        return None, tools
    if choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}, tools
    if choice.get("type") == "allowed_tools":  # a subset offered this turn, the rest kept for later
        allowed = choice.get("allowed_tools") or {}
        names = {
            (t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)
        }
        mode = "any" if allowed.get("mode") == "required" else "auto"
        return {"type": mode}, [t for t in tools if t["name"] in names]
    raise _refuse(f"`tool_choice` '{choice.get('type')}'")


def _tools(body: dict[str, Any], out: dict[str, Any]) -> None:
    picked, tools = _choice(body.get("tool_choice"), [_tool(t) for t in body.get("tools") or []])
    if tools:  # with tool_choice "none" too: earlier turns may name them
        out["tools"] = tools
    if body.get("parallel_tool_calls") is False and tools:
        picked = picked or {"type": "auto"}
        if picked["type"] != "none":
            picked["disable_parallel_tool_use"] = True
    if picked is not None:
        out["tool_choice"] = picked


def _output(body: dict[str, Any], out: dict[str, Any]) -> None:
    config: dict[str, Any] = {}
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        config["format"] = {"type": "json_schema", "schema": schema}
    elif isinstance(fmt, dict) and fmt.get("type") not in (None, "text"):
        raise _refuse(f"`response_format` '{fmt.get('type')}' (a JSON schema, `json_schema`, it can)")
    effort = _EFFORT.get(str(body.get("reasoning_effort")))
    if effort is not None:
        config["effort"] = effort
    if config:
        out["output_config"] = config


def messages_body(body: dict[str, Any], *, model: str, max_tokens: int, cache: bool) -> dict[str, Any]:
    """The Messages request for a chat completion request. `max_tokens`: asked for when the request
    names no limit (the API requires one); `cache`: mark the prompt for Anthropic's prompt cache."""
    if int(body.get("n") or 1) > 1:
        raise _refuse("`n` > 1 (one answer a request)")
    if body.get("audio") is not None or "audio" in (body.get("modalities") or []):
        raise _refuse("audio")
    turns = _Turns()
    for message in body.get("messages") or []:
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text(message.get("content"))
            if text:
                turns.system.append(text)
        elif role == "user":
            turns.add("user", _user_blocks(message.get("content")))
        elif role == "assistant":
            turns.add("assistant", _assistant_blocks(message))
        elif role == "tool":
            turns.add("user", [_tool_result(message)])
        else:
            raise _refuse(f"'{role}' messages")
    limit = body.get("max_completion_tokens") or body.get("max_tokens") or max_tokens
    out: dict[str, Any] = {"model": model, "max_tokens": int(limit), "messages": turns.messages()}
    if turns.system:
        out["system"] = "\n\n".join(turns.system)
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = min(float(body[key]), 1.0) if key == "temperature" else body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if isinstance(body.get("user"), str):
        out["metadata"] = {"user_id": body["user"]}
    _tools(body, out)
    _output(body, out)
    if cache:
        out["cache_control"] = {"type": "ephemeral"}
    if body.get("stream"):
        out["stream"] = True
    return out
