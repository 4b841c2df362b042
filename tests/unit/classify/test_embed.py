"""The token memo against the tokenizer it stands in for: the same ids, chunk by chunk, cold or warm."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.classify.embed import MAX_TOKENS, TokenMemo, shared_tokens

TEXTS = [
    "Kyle's toddler kicked the furniture, then (quietly) dissolved 3 sugar cubes in 0.02 L of water.",
    "Answer: B) 43% of 10,000,000 is 4,300,000; see https://www.example.org/a-very-long-path/with/parts?q=1",
    "“Proof” of √(2) irrationality — Niño, 465°C, 100000€, µ_ij and 日本語のテキスト 😀😀",
    "def f(x):\n    return {'a': [1, 2, 3]}  # MyParser(Parser[GeomFilterFields]):" * 3,
    " ".join(f"word{i}xq" for i in range(300)),  # more than MAX_TOKENS: only the tail is read
]


def _reference(text: str) -> list[int]:
    """The tail the memo promises: each whitespace chunk tokenized alone, the last chunks that hold
    MAX_TOKENS tokens (a chunk longer than 32 characters by 32-character pieces, as the memo cuts it)."""
    tok = shared_tokens()._tokenizer  # the tokenizer the memo wraps

    def pieces(chunk: str) -> list[int]:
        if len(chunk) <= 32:
            return list(tok.encode(chunk, add_special_tokens=False).ids)
        starts = range(0, len(chunk), 32)
        return [i for s in starts for i in tok.encode(chunk[s : s + 32], add_special_tokens=False).ids]

    ids: list[int] = []
    for chunk in reversed(text.split()):
        if len(ids) >= MAX_TOKENS:
            break
        ids[:0] = pieces(chunk)
    return ids


@pytest.fixture(params=[True, False], ids=["compiled", "python"])
def memo(request: pytest.FixtureRequest) -> TokenMemo:
    made = TokenMemo(shared_tokens()._tokenizer, compiled=request.param)
    assert made.compiled == request.param  # the install builds classify/_chunks.c (test_chunks.py)
    return made


@pytest.mark.parametrize("text", TEXTS)
def test_cold_and_warm_ids_are_the_tokenizers(memo: TokenMemo, text: str) -> None:
    cold, cold_chars = memo.ids(text)
    warm, warm_chars = memo.ids(text)
    assert cold.tolist() == warm.tolist() == _reference(text)
    assert cold_chars == warm_chars > 0
    assert cold.dtype == np.intc


def test_many_unseen_words_in_one_call_split_back_to_each_word(memo: TokenMemo) -> None:
    words = ["zzqa1", "Fernandez's", "U-shaped", "(until", "2π", "\u2018quoted\u2019", "x" * 32, "ß"]
    words.append("İstanbul")
    memo._learn(words)
    tok = shared_tokens()._tokenizer
    for w in words:
        ids = np.frombuffer(memo._memo[w], dtype=np.intc).tolist()
        assert ids == tok.encode(w, add_special_tokens=False).ids, w


def test_a_memo_that_fills_forgets_and_still_answers(
    memo: TokenMemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gateway.classify.embed as embed

    monkeypatch.setattr(embed, "_MEMO_SIZE", len(memo._base) + 5)
    text = " ".join(f"unseen{i}qz" for i in range(40))
    assert memo.ids(text)[0].tolist() == _reference(text)
    assert len(memo._memo) <= len(memo._base) + 40
    memo.forget()
    assert len(memo._memo) == len(memo._base)


def test_a_lone_surrogate_is_read_as_a_question_mark(memo: TokenMemo) -> None:
    """Not UTF-8, so the tokenizer refuses it; the gateway's JSON decoders never let one in, but the
    scorer is also called in process."""
    text = "the cat \ud800sat on " + "lo\udfffng" * 10
    ids, chars = memo.ids(text)
    assert ids.tolist() == _reference(text.replace("\ud800", "?").replace("\udfff", "?"))
    assert chars == len(text.split()) + sum(map(len, text.split()))
