"""Counting a prompt exactly as the embedded model reads it: its chat template over the messages and
tools (what llama-cpp-python's chat handler renders), tokenized by its own tokenizer.

Only the vocabulary and the template are read, never the context a generation runs in, so a count
runs on any thread beside a running generation, without waiting for it (llama.cpp's tokenizer reads
the model's vocabulary only).
"""

from __future__ import annotations

from typing import Any

__all__ = ["PromptCounter"]


def _formatter(llm: Any) -> Any:
    """The chat formatter the model's create_chat_completion uses, or None when it is not a template
    the model file carries (a named format: counted by estimate instead)."""
    from llama_cpp import llama_chat_format

    name = llm.chat_format or ""
    if not name.startswith("chat_template."):
        return None
    key = "tokenizer.chat_template" if name == "chat_template.default" else "tokenizer." + name
    template = llm.metadata.get(key)
    if not template:
        return None
    model = llm._model  # what Llama itself reads its special tokens' text from
    eos, bos = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
    )


class PromptCounter:
    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self._format = _formatter(llm)

    @property
    def exact(self) -> bool:
        """Can chat prompts be counted exactly (the model carries its chat template)?"""
        return self._format is not None

    def chat(self, messages: list[dict[str, Any]], tools: Any = None, tool_choice: Any = None) -> int:
        """Tokens of the prompt a chat completion would run (the generation prompt included)."""
        assert self._format is not None, "no chat template: count by estimate"
        rendered = self._format(messages=messages, tools=tools, tool_choice=tool_choice)
        tokens = self._llm.tokenize(
            rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
        )
        return len(tokens)

    def text(self, prompt: str | list[int]) -> int:
        """Tokens of a text completion's prompt (a list of ids is its own count)."""
        if isinstance(prompt, list):
            return len(prompt)
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False))
