"""The sampled tokens' log-probabilities, taken during generation without `logits_all=True`.

llama-cpp-python computes logprobs only from a scores matrix of n_ctx x vocab floats (about 400 MB for
SmolLM2 at 2048 x 49,152) that it fills only with `logits_all=True`, which also makes every prefill
return logits for every prompt token. Neither is needed for the token that was just sampled: after
sampling, llama.cpp still holds the logits row the sampler read (until the next decode), so one
log-sum-exp over that row gives the sampled token's log-probability. That is one pass over 49,152
floats per generated token, next to a forward pass of the whole model (see docs/verifier-eval.md).

The log-probabilities are the model's own (softmax of the raw logits), before temperature, top-k/p
and logit bias, as OpenAI and vLLM report them; they match what `logits_all=True` gives.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["TokenLogprobs", "chat_logprobs", "completion_logprobs"]


@dataclass(slots=True)
class TokenLogprobs:
    """What one generation sampled, token by token; `top` > 0 also keeps the best alternatives."""

    top: int = 0
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    alternatives: list[list[tuple[int, float]]] = field(default_factory=list)

    def note(self, token: int, logits: npt.NDArray[np.float32]) -> None:
        """Record `token`, sampled from `logits` (the row the sampler read, raw)."""
        import numpy as np

        peak = float(logits.max())
        # Summed in float64: 49k float32 terms lose digits otherwise; exp of (x - max) never overflows.
        lse = peak + math.log(float(np.exp(logits - peak).sum(dtype=np.float64)))
        self.tokens.append(token)
        self.logprobs.append(float(logits[token]) - lse)
        if self.top:
            best = np.argpartition(logits, -self.top)[-self.top :]
            ranked = sorted(((int(i), float(logits[i]) - lse) for i in best), key=lambda p: -p[1])
            self.alternatives.append(ranked)


def _piece(llm: Any, token: int) -> bytes:
    return bytes(llm.detokenize([token]))


def chat_logprobs(rec: TokenLogprobs, llm: Any, n_tokens: int) -> dict[str, Any]:
    """OpenAI's `choices[i].logprobs` for a chat completion of `n_tokens` tokens.

    `n_tokens` is the completion's token count: the end-of-text token that stopped it was sampled,
    recorded, and is not part of the answer, as OpenAI counts.
    """
    content = []
    for i in range(min(n_tokens, len(rec.tokens))):
        piece = _piece(llm, rec.tokens[i])
        tops = []
        if rec.top:
            for tok, lp in rec.alternatives[i]:
                alt = _piece(llm, tok)
                tops.append({"token": alt.decode(errors="replace"), "logprob": lp, "bytes": list(alt)})
        content.append(
            {
                "token": piece.decode(errors="replace"),
                "logprob": rec.logprobs[i],
                "bytes": list(piece),
                "top_logprobs": tops,
            }
        )
    return {"content": content, "refusal": None}


def completion_logprobs(rec: TokenLogprobs, llm: Any, n_tokens: int) -> dict[str, Any]:
    """The legacy completions shape: parallel lists of tokens, their logprobs, offsets, alternatives."""
    tokens, offsets, tops = [], [], []
    offset = 0
    for i in range(min(n_tokens, len(rec.tokens))):
        text = _piece(llm, rec.tokens[i]).decode(errors="replace")
        tokens.append(text)
        offsets.append(offset)
        offset += len(text)
        if rec.top:
            tops.append({_piece(llm, t).decode(errors="replace"): lp for t, lp in rec.alternatives[i]})
    return {
        "tokens": tokens,
        "token_logprobs": rec.logprobs[: len(tokens)],
        "top_logprobs": tops if rec.top else None,
        "text_offset": offsets,
    }
