"""OpenAI request fields → llama-cpp-python keyword arguments, for the fields a local model can honour.

Fields it cannot honour are refused with a clear 400 rather than silently ignored when they change the
answer's shape (streamed n > 1, token-id prompts); sampling extras it lacks are dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.errors import UpstreamRejected

if TYPE_CHECKING:
    from gateway.protocol import Call

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "chat_kwargs",
    "chat_messages",
    "completion_kwargs",
    "embedding_input",
    "logprobs_asked",
]

# Without a cap a small model can ramble to the end of its context; OpenAI's own default is "until done".
DEFAULT_MAX_TOKENS = 512

_SAMPLING = ("temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")


def _common(body: dict[str, Any], model: str, stream: bool, max_tokens: int | None) -> dict[str, Any]:
    if stream and int(body.get("n") or 1) > 1:
        raise UpstreamRejected(
            "The embedded model streams one choice only; use n=1 or stream=false.",
            param="n",
            code="unsupported_value",
        )
    kw: dict[str, Any] = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
    kw["model"] = model
    kw["stream"] = stream
    kw["max_tokens"] = max_tokens or DEFAULT_MAX_TOKENS
    if body.get("logit_bias"):
        kw["logit_bias"] = {int(k): float(v) for k, v in body["logit_bias"].items()}
    return kw


def chat_messages(messages: list[Any]) -> list[Any]:
    """The messages as a chat template can render them: an assistant turn that only called tools has
    a null content, which templates concatenate as text (and fail on): it becomes empty text."""
    return [
        {**m, "content": ""} if isinstance(m, dict) and "content" in m and m["content"] is None else m
        for m in messages
    ]


def chat_kwargs(call: Call, model: str, *, stream: bool) -> dict[str, Any]:
    body = call.body
    kw = _common(body, model, stream, call.view.output_tokens)
    kw["messages"] = chat_messages(body["messages"])
    # logprobs are not passed on: llama-cpp-python refuses them without logits_all (see logprobs.py).
    for key in ("tools", "tool_choice", "response_format"):
        if body.get(key) is not None:
            kw[key] = body[key]
    return kw


def completion_kwargs(call: Call, model: str, *, stream: bool) -> dict[str, Any]:
    body = call.body
    kw = _common(body, model, stream, call.view.output_tokens)
    prompt = body["prompt"]
    if isinstance(prompt, list):
        if len(prompt) == 1 and isinstance(prompt[0], str):
            prompt = prompt[0]
        elif prompt and all(isinstance(t, int) for t in prompt):
            pass  # token ids: llama.cpp takes them as they are
        else:
            raise UpstreamRejected(
                "The embedded model takes one prompt per request.", param="prompt", code="unsupported_value"
            )
    kw["prompt"] = prompt
    for key in ("echo", "suffix"):
        if body.get(key) is not None:
            kw[key] = body[key]
    return kw


def logprobs_asked(call: Call, *, stream: bool) -> int | None:
    """None when the call wants no logprobs, else how many alternatives per token it wants (0-20).

    They are recorded as the tokens are sampled, so a prompt's own tokens (`echo`) have none, and a
    stream would need them split by chunk: both refused rather than answered without them.
    """
    body = call.body
    if call.endpoint == "chat":
        if body.get("logprobs") is not True:
            return None
        top = int(body.get("top_logprobs") or 0)
    else:
        if body.get("logprobs") is None:
            return None
        top = int(body["logprobs"])
        if body.get("echo"):
            raise UpstreamRejected(
                "The embedded model has no logprobs for the prompt's tokens (echo with logprobs).",
                param="echo",
                code="unsupported_value",
            )
    if stream:
        raise UpstreamRejected(
            "The embedded model returns logprobs on non-streamed requests only.",
            param="logprobs",
            code="unsupported_value",
        )
    return top


def embedding_input(body: dict[str, Any]) -> str | list[str]:
    value = body["input"]
    if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return value
    raise UpstreamRejected(
        "The embedded model embeds text only, not token ids.", param="input", code="unsupported_value"
    )
