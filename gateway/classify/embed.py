"""Static word embeddings for the scorer: WordLlama's token vectors, read offline from its wheel.

WordLlama (MIT) ships 256-d static token embeddings distilled from large language models
(`l2_supercat_256`, Llama-2's 32,000-token vocabulary) inside its PyPI wheel: no model call and no
download. A prompt's embedding is the mean of its token vectors. Only the two data files are read,
with `tokenizers` and numpy; the wordllama package itself is never imported (its import configures
logging and its loader asks the Hugging Face hub for the tokenizer).

Tokenizing a whole 512-character slice with the Rust tokenizer costs ~110 µs (~0.25 µs a token);
tokenizing each whitespace-separated chunk once and remembering it (Llama's SentencePiece pieces
start at spaces, so the ids are the same) brings the repeat cost down to dictionary look-ups, and at
most MAX_TOKENS ids are read, from the end. The memo is bounded. Where the install built
classify/_chunks.c, the memo is its table and each chunk is looked up where it lies in the text (no
Python string made of it); the dictionary path here is the fallback and the reference.
"""

from __future__ import annotations

import array
import functools
import hashlib
import importlib.util
import json
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import ModuleType

    import numpy as np
    from tokenizers import Encoding, Tokenizer

    from gateway.classify._chunks import Memo

__all__ = [
    "EMBEDDING",
    "MAX_TOKENS",
    "PIECE_CHARS",
    "Embedding",
    "TokenMemo",
    "load_embedding",
    "shared_tokens",
    "token_vectors",
    "wordllama_files",
]

# The one embedding model the scorer's weights are fitted for; the hashes pin its files.
EMBEDDING: dict[str, Any] = {
    "package": "wordllama==0.4.0.post1",
    "weights": "weights/l2_supercat_256.safetensors",
    "tokenizer": "tokenizers/l2_supercat_tokenizer_config.json",
    "weights_sha256": "64b47a2dc493cb8e85944076601189739852d7b64e0e1eedcb1937a251cd9fd5",
    "tokenizer_sha256": "93248f2a9ec36c7b35f700a033d5f36228aae48db61aee31007fa49062cdeb68",
    "dim": 256,
    "vocab": 32000,
}
_MEMO_SIZE = 1 << 16  # chunks remembered, ~8 MiB at most; back to the vocabulary's words when full
PIECE_CHARS = 32  # longer chunks (URLs, unspaced scripts) are cut into pieces this long
_MEMO_MAX_CHUNK = 128  # a longer chunk is remembered by its pieces only
_PIECES_AT_ONCE = 8  # a long chunk's pieces tokenized per call: 256 characters, ~192 tokens of most scripts
MAX_TOKENS = 192  # a slice's last tokens read; plain English's 512 characters are ~130
_INT = array.array("i").itemsize  # bytes a packed token id takes (C int)
_MAX_BYTES = MAX_TOKENS * _INT


@functools.cache
def compiled_chunks() -> ModuleType | None:
    """classify/_chunks.c where the install built it (a C compiler and Python's headers), else None:
    the pure-Python memo and descent give the same ids and families, at ~2x the cost."""
    try:
        from gateway.classify import _chunks
    except ImportError:
        logging.getLogger(__name__).warning(
            "the scorer's compiled memo (gateway/classify/_chunks.c) is not built: scoring runs on "
            "its pure-Python path; reinstall with a C compiler and Python's headers (deploy/dev.sh)"
        )
        return None
    return _chunks


def wordllama_files() -> tuple[Path, Path]:
    """(weights, tokenizer) inside the installed wordllama package, found without importing it."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the difficulty scorer needs the `wordllama` package (its wheel carries the embedding): "
            f"pip install '{EMBEDDING['package']}'"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return root / EMBEDDING["weights"], root / EMBEDDING["tokenizer"]


def _read_safetensors(path: Path) -> np.ndarray:
    """The one float16 matrix of a safetensors file (u64 header length, JSON header, raw data), mapped
    read-only: the pages are the file's, dropped with the mapping."""
    import numpy as np

    with path.open("rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(size))
    entries = [v for k, v in header.items() if k != "__metadata__"]
    if len(entries) != 1 or entries[0].get("dtype") != "F16":
        raise ConfigError(f"{path}: expected one float16 tensor")
    rows, dim = entries[0]["shape"]
    start, end = entries[0]["data_offsets"]
    if (end - start) != rows * dim * 2:
        raise ConfigError(f"{path}: tensor size does not match its shape")
    return np.memmap(path, dtype="<f2", mode="r", offset=8 + size + start, shape=(rows, dim))


def _packed(ids: Sequence[int]) -> bytes:
    return array.array("i", ids).tobytes()


class TokenMemo:
    """Text → its last token ids, one whitespace-separated chunk at a time, each chunk tokenized once.

    Chunks are read from the end of the text until `MAX_TOKENS` ids are collected: a text in a script
    that takes three tokens a character, or a base64 blob, costs no more than plain English. A chunk
    longer than `PIECE_CHARS` (URLs, unspaced scripts) is cut into pieces of that length.

    A chunk's ids are kept packed (C ints in one bytes object), not as a tuple of Python ints: the
    scorer is memory-bound in a busy server (a look-up is a cache miss, and so was every int of a
    tuple), and the packed pieces join into the array the table is indexed with in one call.
    """

    __slots__ = ("_base", "_memo", "_tail", "_tokenizer")

    def __init__(self, tokenizer: Tokenizer, compiled: bool = True) -> None:
        self._tokenizer = tokenizer
        # Every whole word in the vocabulary (a piece that starts with SentencePiece's space: 16,408,
        # ~2 MiB) is its own one-piece tokenization: known from the start, so a cold memo already
        # answers ~70% of look-ups.
        self._base: dict[str, bytes] = {
            w[1:]: _packed((i,))
            for w, i in tokenizer.get_vocab().items()
            if w.startswith("\u2581") and len(w) > 1
        }
        # The compiled memo (classify/_chunks.c) reads the chunks where they lie in the text; without
        # it (not built, or `compiled=False` for the reference) the dictionary and `_ids` do the same.
        chunks = compiled_chunks() if compiled else None
        self._memo: dict[str, bytes] | Memo = {}
        self._tail: Callable[[str, int], tuple[bytes, int] | list[str]] | None = None
        if chunks is not None:
            compiled_memo = chunks.Memo(_MEMO_SIZE)
            self._memo, self._tail = compiled_memo, compiled_memo.tail
        self.forget()

    @property
    def compiled(self) -> bool:
        return self._tail is not None

    @property
    def tokenizer(self) -> Tokenizer:
        return self._tokenizer

    def forget(self) -> None:
        """Back to the vocabulary's whole words, as when the memo fills (and for a cold benchmark)."""
        memo = self._memo
        if isinstance(memo, dict):
            self._memo = dict(self._base)
            return
        memo.clear()
        for word, ids in self._base.items():
            memo[word] = ids

    def _tokenize(self, text: str) -> Encoding:
        try:
            return self._tokenizer.encode(text, add_special_tokens=False)
        except TypeError:
            # A lone surrogate (a str that is not UTF-8: the gateway's JSON decoders refuse them, but
            # the scorer is also called in process, on text read by other means) is refused by the
            # tokenizer. Each becomes "?", one character for one, so the offsets still split the text.
            return self._tokenizer.encode(text.encode("utf-8", "replace").decode(), add_special_tokens=False)

    def _encode(self, chunk: str) -> bytes:
        piece = _packed(self._tokenize(chunk).ids)
        if len(self._memo) >= _MEMO_SIZE:
            self.forget()
        self._memo[chunk] = piece
        return piece

    def _learn(self, chunks: list[str]) -> None:
        """Tokenize a request's unseen chunks in one call, joined by spaces: the tokenizer's fixed cost
        (~6 µs a call) is paid once a request, and one string costs ~2.6 µs a word against ~4.6 for a
        batch of words. Each token goes to the word its last character is in (a space counts with the
        word after it: Llama's pieces start at spaces), so the ids are those of each chunk alone."""
        encoding = self._tokenize(" ".join(chunks))
        parts: list[list[int]] = [[] for _ in chunks]
        k, end = 0, len(chunks[0])
        for i, (_, stop) in zip(encoding.ids, encoding.offsets, strict=True):
            while stop > end:
                k += 1
                end += 1 + len(chunks[k])
            parts[k].append(i)
        if len(self._memo) + len(chunks) >= _MEMO_SIZE:
            self.forget()
        memo = self._memo
        room = _MEMO_SIZE - len(memo)  # more unseen chunks than the memo holds: the rest is not kept
        for c, ids in zip(chunks[:room], parts[:room], strict=True):
            memo[c] = _packed(ids)

    def _long(self, chunk: str, budget: int) -> tuple[bytes, int]:
        """A chunk longer than PIECE_CHARS, by pieces from its end, up to `budget` ids: (ids, chars)."""
        starts = range((len(chunk) - 1) // PIECE_CHARS * PIECE_CHARS, -1, -PIECE_CHARS)
        parts: list[bytes] = []
        n = chars = 0
        for k in range(0, len(starts), _PIECES_AT_ONCE):
            batch = [chunk[i : i + PIECE_CHARS] for i in starts[k : k + _PIECES_AT_ONCE]]
            unseen = [p for p in batch if p not in self._memo]
            if unseen:
                self._learn(unseen)
            for part in batch:
                piece = self._memo.get(part) or self._encode(part)
                parts.append(piece)
                n += len(piece) // _INT
                chars += len(part)
                if n >= budget:
                    break
            if n >= budget:
                break
        memo = self._memo
        ids = b"".join(reversed(parts))
        if chars == len(chunk) and chars <= _MEMO_MAX_CHUNK and len(memo) < _MEMO_SIZE:
            memo[chunk] = ids  # whole: the next look-up is one
        return ids, chars

    def ids(self, text: str) -> tuple[np.ndarray, int]:
        """(token ids of the text's tail, in order, as C ints; characters that tail covers, one space
        a chunk)."""
        import numpy as np

        tail = self._tail
        if tail is not None:
            got = tail(text, _MAX_BYTES)
            if type(got) is list:  # chunks not seen yet: learned, then read again
                self._resolve(got)
                got = tail(text, _MAX_BYTES)
            if type(got) is tuple:
                return np.frombuffer(got[0], dtype=np.intc), got[1]
            # A long chunk only partly read, or one forgotten as the memo filled: the reference path.
        return self._ids(text)

    def _resolve(self, unseen: list[str]) -> None:
        short = {c for c in unseen if len(c) <= PIECE_CHARS}
        if short:
            self._learn(list(short))
        for chunk in unseen:
            if len(chunk) > PIECE_CHARS:
                self._long(chunk, MAX_TOKENS)  # remembered whole where it is read whole

    def _ids(self, text: str) -> tuple[np.ndarray, int]:
        """`ids` with the chunks split out by Python: the look-ups run at C speed (`map`), and Python
        only loops over the chunks it has not seen. The reference the compiled memo is held to."""
        import numpy as np

        chunks = text.split()
        pieces: list[bytes | None] = list(map(self._memo.get, chunks))
        sizes: list[int] | None = None
        if None in pieces:
            # Python touches the unseen chunks only (a request has ~4 of its ~90; p97: 13), found
            # by list.index at C speed.
            at, i = [], -1
            for _ in range(pieces.count(None)):
                i = pieces.index(None, i + 1)
                at.append(i)
            short = {c for c in map(chunks.__getitem__, at) if len(c) <= PIECE_CHARS}
            if short:
                self._learn(list(short))
            memo = self._memo
            for i in at:
                chunk = chunks[i]
                if len(chunk) > PIECE_CHARS:
                    if sizes is None:
                        sizes = list(map(len, chunks))
                    pieces[i], sizes[i] = self._long(chunk, MAX_TOKENS)
                else:  # a memo that filled while learning has forgotten it
                    pieces[i] = memo.get(chunk) or self._encode(chunk)
        got: list[bytes] = pieces  # type: ignore[assignment]  # every None is filled
        joined = b"".join(got)
        if len(joined) <= _MAX_BYTES:  # the whole slice (most prompts): nothing to cut
            covered = sum(sizes) if sizes is not None else sum(map(len, chunks))
            return np.frombuffer(joined, dtype=np.intc), covered + len(chunks)
        counts = list(map(len, got))  # bytes: _INT a token
        start, held = len(got), 0
        while held < _MAX_BYTES:  # keep the last chunks that hold MAX_TOKENS tokens
            start -= 1
            held += counts[start]
        covered = sum(sizes[start:]) if sizes is not None else sum(map(len, chunks[start:]))
        ids = np.frombuffer(b"".join(got[start:]), dtype=np.intc)
        return ids, covered + len(chunks) - start


@dataclass(frozen=True, slots=True)
class Embedding:
    """A token table (vocab x dim, float32) and the memoised tokenizer that indexes it."""

    tokens: TokenMemo
    table: np.ndarray


def _verify(path: Path, key: str) -> None:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if digest != EMBEDDING[key]:
        raise ConfigError(
            f"{path}: not the file the scorer was fitted with (sha256 {digest[:12]}); "
            f"install {EMBEDDING['package']}"
        )


@functools.cache
def shared_tokens() -> TokenMemo:
    """The tokenizer (~20 MiB once loaded) and its memo: one per process, whatever the scorers."""
    # No thread pool for batches of a few words: it costs more than it saves, and the cores belong to
    # the embedded model. Set before the tokenizer is first used, as the library reads it then.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from tokenizers import Tokenizer

    _, tokenizer = wordllama_files()
    try:
        _verify(tokenizer, "tokenizer_sha256")
        loaded = Tokenizer.from_file(str(tokenizer))
        # The memo is the cache: the BPE model's own (10,000 entries by default) would keep each
        # request's joined unseen chunks, which never come again (~3 MiB of RSS for nothing).
        resize = getattr(loaded.model, "_resize_cache", None)
        if resize is not None:
            resize(0)
        return TokenMemo(loaded)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the wordllama tokenizer: {exc}") from exc


def _mapped() -> np.ndarray:
    """The verified float16 token table (vocab x 256), mapped read-only from the wheel."""
    weights, _ = wordllama_files()
    try:
        _verify(weights, "weights_sha256")
        matrix = _read_safetensors(weights)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"cannot read the wordllama embedding: {exc}") from exc
    if matrix.shape != (EMBEDDING["vocab"], EMBEDDING["dim"]):
        raise ConfigError(f"{weights}: unexpected shape {matrix.shape}")
    return matrix


@functools.cache
def token_vectors() -> np.ndarray:
    """The full 256-d table as the file maps it (float16), for reading a few rows a request
    (classify/inputs.py): only the pages touched are read, and they are the page cache's, not ours.
    One mapping per process; its values are exactly those of `load_embedding(None).table`."""
    import numpy as np

    table: np.ndarray = np.asarray(_mapped())  # a plain view: memmap's subclass slows every `take`
    return table


def load_embedding(basis: np.ndarray | None = None) -> Embedding:
    """Read the embedding offline; with `basis` (k x 256), keep only the projected table (vocab x k),
    4 MiB for k = 32 instead of 32 MiB. Called by the scorer that needs it, never at import."""
    import numpy as np

    tokens = shared_tokens()
    matrix = _mapped()
    if basis is None:
        table = np.asarray(matrix, dtype=np.float32)
    else:
        proj = np.ascontiguousarray(basis.T, dtype=np.float32)
        table = np.empty((matrix.shape[0], proj.shape[1]), dtype=np.float32)
        for i in range(0, matrix.shape[0], 1024):  # small blocks: no 32 MiB float32 copy
            table[i : i + 1024] = matrix[i : i + 1024].astype(np.float32) @ proj
    del matrix
    return Embedding(tokens, table)
