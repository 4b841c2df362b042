"""The decision log: one JSON line per request (and label lines that join it by id), off the request path.

A request hands its line to a bounded queue and goes on: a dequeue, no lock, no I/O, no encoding.
One writer thread encodes and writes, rotating the file by size (`decisions.jsonl`, `.1`, ... up to
`files`), or writes to stdout (`-`). When the disk is slow (or the file is a pipe nobody reads) the
queue fills and new lines are dropped, counted, never waited for. A clean shutdown gives the writer a
few seconds to drain; what is left then is counted as dropped too.

Lines carry no prompt or answer unless the route says `log_content: true` (the documented exception to
"no prompts in logs"), and the scorer's inputs as numbers with `log_features: true`.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["VERDICTS", "DecisionLog", "LabelLine", "RequestLine", "feedback_label"]

log = logging.getLogger(__name__)
_POLL_S = 0.05
VERDICTS = ("cheaper_as_good", "tie", "reference_better")  # what a shadow line's judge may say


def feedback_label(label: str | None, score: float | None) -> str | None:
    """A rating's label: the one given, else its score's sign (good, bad, neutral at 0); None: neither."""
    if label is not None or score is None:
        return label
    return "good" if score > 0 else "bad" if score < 0 else "neutral"


class RequestLine(msgspec.Struct, omit_defaults=False):
    """What a request left behind (docs/quality.md lists the fields)."""

    ts: float
    id: str
    route: str
    tenant: str | None
    endpoint: str
    tier: str
    backend: str
    outcome: str
    difficulty: float | None
    cascade: str | None
    confidence: float | None
    reason: str | None
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    savings_usd: float
    reference_tier: str | None
    budget_ms: float | None
    features: dict[str, Any] | None = None
    prompt: list[dict[str, str]] | None = None
    answer: str | None = None
    dropped_tools: list[str] | None = None  # hosted tools offered and dropped for a chat backend
    transport: str | None = None  # "websocket" for a turn of the Responses API's WebSocket mode
    max_tokens: int | None = None  # the answer length the backend's context window left (clamped)
    session: str | None = None  # the conversation it belongs to (protocol/session.py)
    family: str | None = None  # the family its difficulty was read in (classify/families.py)
    # the tier the prior alone would have chosen, where learned counts sent it to another
    prior_tier: str | None = None
    kind: str = "request"


class LabelLine(msgspec.Struct):
    """A later judgement of a request: a shadow verdict or the client's feedback, by the same id."""

    ts: float
    kind: str  # shadow | feedback
    id: str
    route: str
    tier: str
    verdict: str | None = None
    reference_tier: str | None = None
    shadow_cost_usd: float | None = None
    label: str | None = None
    score: float | None = None
    comment: str | None = None


class DecisionLog:
    def __init__(
        self,
        target: str,
        *,
        max_bytes: int,
        files: int,
        queue_max: int = 10_000,
        on_drop: Callable[[int], None] | None = None,
    ) -> None:
        self._target = target
        self._max_bytes = max_bytes
        self._files = files
        self._queue: deque[msgspec.Struct] = deque()
        self._queue_max = queue_max
        self._on_drop = on_drop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        self.written = 0

    @classmethod
    def from_settings(cls, settings: Settings, on_drop: Callable[[int], None]) -> DecisionLog | None:
        """The log GATEWAY_DECISION_LOG names (None: none), rotated as its settings say."""
        if not settings.decision_log:
            return None
        mb, files = settings.decision_log_max_mb, settings.decision_log_files
        return cls(settings.decision_log, max_bytes=int(mb * 1024 * 1024), files=files, on_drop=on_drop)

    # ---- the request path ---------------------------------------------------------------------
    def write(self, line: msgspec.Struct) -> None:
        if len(self._queue) >= self._queue_max:
            self._drop(1)
            return
        self._queue.append(line)

    def count_drops(self, on_drop: Callable[[int], None]) -> None:
        """Where dropped lines are counted (the metric), if not given at construction."""
        self._on_drop = on_drop

    def _drop(self, n: int) -> None:
        self.dropped += n
        if self._on_drop is not None:
            self._on_drop(n)

    # ---- the writer thread --------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def _open(self) -> IO[bytes]:
        if self._target == "-":
            return sys.stdout.buffer
        path = Path(self._target)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("ab")  # a pipe blocks here until it has a reader: this thread, not a request

    def _rotate(self, out: IO[bytes]) -> IO[bytes]:
        out.close()
        path = Path(self._target)
        for i in range(self._files - 1, 0, -1):
            older = path.with_name(f"{path.name}.{i}")
            if i == self._files - 1:
                older.unlink(missing_ok=True)
            newer = path if i == 1 else path.with_name(f"{path.name}.{i - 1}")
            if newer.exists():
                newer.replace(older)
        if self._files == 1:
            path.unlink(missing_ok=True)
        return self._open()

    def _run(self) -> None:
        encoder = msgspec.json.Encoder()
        try:
            out = self._open()
        except OSError as exc:
            log.error(
                "decision log %s cannot be opened (%s): lines are dropped", self._target, type(exc).__name__
            )
            return
        size = out.tell() if self._target != "-" and out.seekable() else 0
        queue = self._queue
        while True:
            if not queue:
                if self._stop.is_set():
                    break
                time.sleep(_POLL_S)
                continue
            try:
                while queue:
                    line = encoder.encode(queue.popleft()) + b"\n"
                    out.write(line)  # buffered: one system call per batch, not per line
                    self.written += 1
                    size += len(line)
                    if self._target != "-" and size >= self._max_bytes:
                        out, size = self._rotate(out), 0
                out.flush()
            except OSError as exc:
                log.error("decision log write failed (%s): lines dropped", type(exc).__name__)
                self._drop(1)
        if out is not sys.stdout.buffer:
            with contextlib.suppress(OSError):
                out.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Let the writer drain for up to `timeout_s`; count what it could not write as dropped."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        left = len(self._queue)
        if left:
            self._queue.clear()
            self._drop(left)
            log.warning("decision log: %d lines dropped at shutdown", left)
