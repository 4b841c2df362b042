"""The compiled memo and descent (classify/_chunks.c) against the pure-Python path they replace: the
same ids, characters, families and logits, cold or warm, on odd text; and a C type that refuses bad
input instead of reading past a buffer."""

from __future__ import annotations

import random

import numpy as np
import pytest

import gateway.classify.embed as embed
from gateway.classify.embed import MAX_TOKENS, PIECE_CHARS, TokenMemo, compiled_chunks, shared_tokens
from gateway.classify.family_scorer import FamilyScorer
from gateway.classify.features import prompt_slice
from gateway.classify.scorer import default_scorer
from gateway.protocol import chat_view

# Every character str.split() splits at, beyond the ASCII space: the C side reads them the same way.
SPACES = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"
WORDS = [
    "the", "cat", "Answer:", "B)", "43%", "10,000,000", "https://example.org/a/very/long/path?q=1&r=2",
    "Niño", "465°C", "µ_ij", "日本語のテキスト", "😀😀", "def", "f(x):", "return", "{'a':", "[1,", "2]}",
    "x" * 33, "y" * 64, "z" * 129, "é" * 40, "İstanbul", "ß", "zzqa1", "Fernandez's", "\u200b",
    "a\ud800b", "\udfff", "\ud83d" * 40,  # lone surrogates: a str, though not UTF-8
]  # fmt: skip


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = ["", " ", "hi", SPACES, "word " * 500, "a" * 3000, " ".join("q" * k for k in range(1, 140))]
    for _ in range(n):
        count = rng.randrange(400)
        parts = [rng.choice(WORDS) if rng.random() < 0.7 else f"w{rng.randrange(10**6)}" for _ in [0] * count]
        out.append("".join(p + rng.choice(SPACES if rng.random() < 0.2 else " ") for p in parts))
    return out


@pytest.fixture(scope="module")
def chunks():  # type: ignore[no-untyped-def]
    built = compiled_chunks()
    assert built is not None, "the install did not build gateway/classify/_chunks.c (deploy/dev.sh does)"
    return built


def test_the_compiled_memo_reads_the_ids_python_reads(chunks: object) -> None:
    tok = shared_tokens()._tokenizer
    fast, ref = TokenMemo(tok), TokenMemo(tok, compiled=False)
    assert fast.compiled and not ref.compiled
    texts = _texts(400, seed=1)
    for _ in ("cold", "warm"):
        for text in texts:
            (a, ca), (b, cb) = fast.ids(text), ref.ids(text)
            assert a.dtype == b.dtype == np.intc
            assert a.tolist() == b.tolist() and ca == cb, repr(text[:60])


def test_a_compiled_memo_that_fills_forgets_and_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    tok = shared_tokens()._tokenizer
    monkeypatch.setattr(embed, "_MEMO_SIZE", len(shared_tokens()._base) + 7)
    fast, ref = TokenMemo(tok), TokenMemo(tok, compiled=False)
    for text in _texts(60, seed=2):
        assert fast.ids(text)[0].tolist() == ref.ids(text)[0].tolist()
        assert len(fast._memo) <= embed._MEMO_SIZE


def test_the_compiled_descent_finds_the_same_families_and_logits(chunks: object) -> None:
    fast = default_scorer()
    if not isinstance(fast, FamilyScorer):
        pytest.skip("the shipped scorer is not the family scorer")
    assert fast._sums is not None
    ref = fast.python_path()
    assert not ref._tokens.compiled and ref._sums is None
    for text in _texts(300, seed=3):
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": text}]}, 0)
        (za, a), (zb, b) = fast._read(view, None), ref._read(view, None)
        assert a.family == b.family and za == zb, repr(text[:60])
        ids, _ = fast._tokens.ids(prompt_slice(view))
        va, vb = fast._descend(ids)[1], ref._descend(ids)[1]
        if va is not None and vb is not None:  # float32 sums in another order: equal to rounding
            np.testing.assert_allclose(va, vb, rtol=0, atol=1e-5 * float(np.abs(vb).max()))


def test_the_memo_type_as_a_mapping(chunks) -> None:  # type: ignore[no-untyped-def]
    memo = chunks.Memo(2)
    memo["a"] = b"\x01\x00\x00\x00"
    memo["日本"] = b""
    assert len(memo) == 2 and "a" in memo and memo.get("b") is None and memo["日本"] == b""
    with pytest.raises(OverflowError):
        memo["b"] = b"x"
    memo["a"] = b"\x02\x00\x00\x00"  # a known key is replaced, full or not
    with pytest.raises(KeyError):
        memo["b"]
    with pytest.raises(TypeError):
        memo["c"] = "not bytes"
    with pytest.raises(TypeError):
        del memo["a"]
    assert memo.tail("b a\u3000a", 1 << 20) == ["b"]  # the chunks not known, from the end
    assert memo.tail("a\u3000a 日本", 1 << 20) == (b"\x02\x00\x00\x00" * 2, 2 + 2 + 3)
    assert memo.tail("b a", 4) == (b"\x02\x00\x00\x00", 2)  # enough ids read: the rest is not looked up
    memo.clear()
    assert len(memo) == 0 and "a" not in memo
    with pytest.raises(ValueError, match="limit"):
        chunks.Memo(0)


def test_the_descent_refuses_ids_outside_the_table_and_odd_buffers(chunks) -> None:  # type: ignore[no-untyped-def]
    table = np.ones((10, 4), dtype=np.float32)
    cents = np.eye(4, dtype=np.float32)
    out = np.empty(4, dtype=np.float32)
    norm, sims = chunks.descend_sums(table, np.array([1, 2, 9], dtype=np.intc), cents, out)
    assert out.tolist() == [3.0] * 4 and norm == 6.0 and sims == [3.0] * 4
    for bad in ([10], [-1]):
        with pytest.raises(IndexError):
            chunks.descend_sums(table, np.array(bad, dtype=np.intc), cents, out)
    with pytest.raises(ValueError, match="sizes"):
        chunks.descend_sums(table, np.array([1], dtype=np.intc), cents, np.empty(3, dtype=np.float32))
    with pytest.raises(TypeError):
        chunks.descend_sums(table, np.array([1], dtype=np.intc), cents, bytes(16))  # read-only out


def test_long_chunks_are_read_by_pieces_as_python_reads_them(chunks: object) -> None:
    tok = shared_tokens()._tokenizer
    fast, ref = TokenMemo(tok), TokenMemo(tok, compiled=False)
    for n in (PIECE_CHARS, PIECE_CHARS + 1, 128, 129, MAX_TOKENS * 40):
        text = "lead " + "".join(chr(0x61 + i % 26) for i in range(n)) + " tail"
        for _ in range(2):
            (a, ca), (b, cb) = fast.ids(text), ref.ids(text)
            assert a.tolist() == b.tolist() and ca == cb, n


def test_without_the_module_the_memo_runs_on_python_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import sys

    import gateway.classify

    monkeypatch.setitem(sys.modules, "gateway.classify._chunks", None)  # as if never built
    monkeypatch.delattr(gateway.classify, "_chunks", raising=False)
    compiled_chunks.cache_clear()
    try:
        assert compiled_chunks() is None
        memo = TokenMemo(shared_tokens()._tokenizer)
        assert not memo.compiled
        text = "the cat sat on the mat " * 30
        assert (
            memo.ids(text)[0].tolist()
            == TokenMemo(shared_tokens()._tokenizer, compiled=False).ids(text)[0].tolist()
        )
    finally:
        compiled_chunks.cache_clear()
    assert any("_chunks.c) is not built" in r.getMessage() for r in caplog.records)
