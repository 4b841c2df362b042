"""The compiled memo and descent (classify/_chunks.c) against the pure-Python path they replace: the
same ids, characters, families and logits, cold or warm, on odd text; and a C type that refuses bad
input instead of reading past a buffer."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

import gateway.classify.embed as embed
from gateway.classify.embed import (
    MAX_TOKENS,
    PIECE_CHARS,
    Embedding,
    TokenMemo,
    compiled_chunks,
    shared_tokens,
)
from gateway.classify.families import ROOT, UNKNOWN
from gateway.classify.family_file import model_from_json
from gateway.classify.family_scorer import FamilyScorer
from gateway.classify.features import prompt_slice
from gateway.classify.scorer import default_scorer
from gateway.protocol import chat_view
from tests.support import REPO

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
    assert fast._walk is not None
    ref = fast.python_path()
    assert not ref._tokens.compiled and ref._walk is None
    for text in _texts(300, seed=3):
        view = chat_view({"model": "auto", "messages": [{"role": "user", "content": text}]}, 0)
        (za, a), (zb, b) = fast._read(view, None), ref._read(view, None)
        assert a.family == b.family and za == zb, repr(text[:60])
        ids, _ = fast._tokens.ids(prompt_slice(view))
        va, vb = fast._descend(ids)[1], ref._descend(ids)[1]
        if va is not None and vb is not None:  # float32 sums in another order: equal to rounding
            np.testing.assert_allclose(va, vb, rtol=0, atol=1e-5 * float(np.abs(vb).max()))


# Prompts near the shipped families (and mixes of them), for radii some enter and some do not.
SENTENCES = [
    "Which of these is a mammal? A) shark B) dolphin C) trout D) eel",
    "Write a python function that returns the n-th Fibonacci number.",
    "A train leaves at 3 pm at 60 miles per hour; when does it arrive 150 miles away?",
    "Tell me a story about a dragon who learns to bake bread.",
    "Translate 'good morning, how are you' into French and Spanish.",
    "What is the capital of Australia?",
    "Explain how vaccines train the immune system, in two paragraphs.",
    "Summarize the causes of the First World War.",
    "def add(a, b): return a + b  # why does this fail on strings?",
    "If 3x + 7 = 22, what is x? Show your steps.",
    "Write a haiku about autumn leaves.",
    "Is it ethical to lie to protect a friend? Answer yes or no, then explain.",
]


def test_the_compiled_descent_keeps_radii_and_the_unknown_family(chunks: object) -> None:
    """The shipped weights set no radius; files fitted with one (family_fit.py's radius_q) stop a
    request at a family whose child is too far, or send it to the unknown family from the root."""
    shipped = default_scorer()
    if not isinstance(shipped, FamilyScorer):
        pytest.skip("the shipped scorer is not the family scorer")
    text = (REPO / "gateway" / "classify" / "weights" / "default.json").read_text()
    rng = random.Random(5)
    texts = SENTENCES + [" ".join(rng.sample(SENTENCES, rng.randint(2, 4))) for _ in range(100)]
    seen: set[str] = set()
    for top, inner in ((0.3, 0.5), (0.5, 0.7), (0.7, 0.8), (0.8, 0.9)):
        model = model_from_json(json.loads(text), "radii")
        for nd in model.nodes.values():
            if nd.parent == ROOT and nd.id != UNKNOWN:
                nd.radius = top
            elif nd.parent not in (None, ROOT):
                nd.radius = inner
        fast = FamilyScorer(model, Embedding(shipped._tokens, shipped._table))
        ref = fast.python_path()
        for t in texts:
            view = chat_view({"model": "auto", "messages": [{"role": "user", "content": t}]}, 0)
            a, b = fast.family(view).family, ref.family(view).family
            assert a == b, (top, inner, t)
            seen.add("unknown" if a == UNKNOWN else "leaf" if not model.nodes[a].children else "inner")
    assert seen == {"unknown", "inner", "leaf"}  # every way a walk ends was walked


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


def _tree(
    starts: list[int], rows: list[int], to: list[int], radii: list[float], unknown: int = -1
) -> tuple[object, ...]:
    return (
        np.array(starts, np.int32),
        np.array(rows, np.int32),
        np.array(to, np.int32),
        np.array(radii, np.float64),
        unknown,
    )


def test_the_descent_walks_a_small_tree(chunks) -> None:  # type: ignore[no-untyped-def]
    # Rows: token 1 points along x, token 2 along y. Centroids: x, y, and x+y halved.
    table = np.zeros((10, 2), dtype=np.float32)
    table[1], table[2] = (1, 0), (0, 1)
    cents = np.array([[1, 0], [0, 1], [0.5, 0.5]], dtype=np.float32)
    out = np.empty(2, dtype=np.float32)
    inf = -math.inf
    # Node 0 (root) has children 1 (centroid x) and 2 (centroid y); node 1 has child 3 (centroid
    # x+y), with a radius; node 4 is the unknown family.
    tree = _tree([0, 2, 3, 3, 3, 3], [0, 1, 2], [1, 2, 3], [inf, inf, 0.9], unknown=4)
    norm, node = chunks.descend(table, np.array([1, 1, 1], np.intc), cents, out, *tree)
    assert out.tolist() == [3.0, 0.0] and norm == 3.0
    assert node == 1  # x: then x+y has a product of 1.5 < 0.9 * 3: stops at 1
    assert chunks.descend(table, np.array([1, 2], np.intc), cents, out, *tree)[1] == 1  # a tie: the first
    assert chunks.descend(table, np.array([2, 2, 1], np.intc), cents, out, *tree)[1] == 2
    loose = _tree([0, 2, 3, 3, 3, 3], [0, 1, 2], [1, 2, 3], [inf, inf, 0.5], unknown=4)
    assert chunks.descend(table, np.array([1, 1, 2], np.intc), cents, out, *loose)[1] == 3
    far = _tree([0, 2, 3, 3, 3, 3], [0, 1, 2], [1, 2, 3], [0.99, 0.99, inf], unknown=4)
    assert chunks.descend(table, np.array([1, 2], np.intc), cents, out, *far)[1] == 4  # from the root
    assert chunks.descend(table, np.array([1, 2], np.intc), cents, out, *far[:4], -1)[1] == 0
    bare = _tree([0, 0, 0], [], [], [], unknown=1)  # a root without children
    assert chunks.descend(table, np.array([1], np.intc), cents, out, *bare)[1] == 1
    assert chunks.descend(table, np.array([], np.intc), cents, out, *tree) == (0.0, 0)


def test_the_descent_refuses_ids_outside_the_table_and_odd_buffers(chunks) -> None:  # type: ignore[no-untyped-def]
    table = np.ones((10, 4), dtype=np.float32)
    cents = np.eye(4, dtype=np.float32)
    out = np.empty(4, dtype=np.float32)
    tree = _tree([0, 1, 1], [0], [1], [-math.inf])
    ids = np.array([1], dtype=np.intc)
    norm, node = chunks.descend(table, np.array([1, 2, 9], dtype=np.intc), cents, out, *tree)
    assert out.tolist() == [3.0] * 4 and norm == 6.0 and node == 1
    for bad in ([10], [-1]):
        with pytest.raises(IndexError):
            chunks.descend(table, np.array(bad, dtype=np.intc), cents, out, *tree)
    with pytest.raises(ValueError, match="sizes"):
        chunks.descend(table, ids, cents, np.empty(3, dtype=np.float32), *tree)
    with pytest.raises(TypeError):
        chunks.descend(table, ids, cents, bytes(16), *tree)  # read-only out
    for odd, match in (
        (_tree([0, 2, 1], [0], [1], [-math.inf]), "starts"),  # more children than there are
        (_tree([0, 1, 1], [4], [1], [-math.inf]), "tree"),  # a centroid row past the matrix
        (_tree([0, 1, 1], [0], [0], [-math.inf]), "tree"),  # a child that is the root
        (_tree([0, 1, 1], [0], [1], []), "sizes"),  # a radius missing
        (_tree([0, 1, 1], [0], [1], [-math.inf], unknown=0), "sizes"),  # the root as the unknown
        (_tree([0, 1, 1], [0], [1], [-math.inf], unknown=2), "sizes"),  # past the nodes
    ):
        with pytest.raises(ValueError, match=match):
            chunks.descend(table, ids, cents, out, *odd)


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
