"""The decision log read back: request lines, and the labels that later lines attach to them by `id`.

The gateway writes one JSON line per request (`kind: request`), then possibly a shadow verdict
(`kind: shadow`: the reference tier was asked the same and a judge compared the answers) and any
number of ratings (`kind: feedback`, from POST /v1/feedback). Files are read in the order given and
may be rotations of one another (decisions.jsonl.1 is older than decisions.jsonl): labels are joined
to requests after everything is read, so their order across files does not matter. A line that is
not a JSON object of a known shape is counted (with where it was) and skipped, never fatal; a line of
another `kind` is ignored, counted apart: a newer gateway may write kinds this reader does not know.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from gateway.observability.decision_log import VERDICTS, feedback_label

__all__ = ["VERDICTS", "Bad", "Label", "Log", "Request", "read_lines", "read_log"]

# Shadow verdicts: the cheaper tier's answer against the reference tier's, by a pairwise judge.
_FEEDBACK = ("good", "bad")
_SAMPLES = 5  # malformed lines quoted by position in the report
_NULL = msgspec.Raw(b"null")


class _Line(msgspec.Struct):
    """Every field a line may have that the report reads (an answer's text is not). The big ones
    (`features`, `prompt`) stay raw JSON until someone reads them: a report over a million lines does
    not build a million embeddings."""

    kind: Any = None
    id: Any = None
    ts: Any = None
    route: Any = None
    tier: Any = None
    outcome: Any = None
    tenant: Any = None
    endpoint: Any = None
    backend: Any = None
    difficulty: Any = None
    cascade: Any = None
    confidence: Any = None
    reason: Any = None
    latency_ms: Any = None
    ttft_ms: Any = None
    prompt_tokens: Any = None
    completion_tokens: Any = None
    cost_usd: Any = None
    savings_usd: Any = None
    reference_tier: Any = None
    budget_ms: Any = None
    family: Any = None
    prior_tier: Any = None
    verdict: Any = None
    label: Any = None
    score: Any = None
    features: msgspec.Raw = _NULL
    prompt: msgspec.Raw = _NULL


class _Labels(msgspec.Struct):
    """What the first pass of a training read needs of a line: which request a label is about, when."""

    kind: Any = None
    id: Any = None
    ts: Any = None


_decode = msgspec.json.Decoder(_Line).decode
_decode_labels = msgspec.json.Decoder(_Labels).decode
_decode_any = msgspec.json.Decoder().decode


def _raw(value: msgspec.Raw) -> msgspec.Raw | None:
    return None if bytes(value) == b"null" else value


class Bad(ValueError):
    """A line that cannot be read as what its `kind` says."""


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    ts: float
    route: str
    tier: str | None  # None: nothing answered (every candidate unavailable, say)
    outcome: str
    tenant: str | None = None
    endpoint: str = "chat"
    backend: str | None = None
    difficulty: float | None = None  # None on pinned routes
    cascade: str | None = None  # accepted / escalated / skipped
    confidence: float | None = None  # the verifier's, when a draft was judged
    reason: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    savings_usd: float = 0.0
    reference_tier: str | None = None
    budget_ms: float | None = None
    family: str | None = None  # the family its difficulty was read in
    prior_tier: str | None = None  # where counts learned while serving moved it from
    # Raw JSON, decoded on demand (`inputs`, `messages`); None when not logged, or not kept.
    features: msgspec.Raw | None = None  # classify/inputs.py's record, when the route sets log_features
    prompt: msgspec.Raw | None = None  # [{role, content}], when the route sets log_content
    has_features: bool = False  # logged, whether kept or not
    has_content: bool = False

    @property
    def inputs(self) -> Any:
        """The logged `features` record, decoded (None: not logged)."""
        return None if self.features is None else _decode_any(self.features)

    @property
    def messages(self) -> Any:
        """The logged `prompt`, decoded (None: not logged)."""
        return None if self.prompt is None else _decode_any(self.prompt)

    @property
    def reference_usd(self) -> float:
        """What the same tokens would have cost on the reference tier: savings are counted against
        it, so cost + savings (a tier dearer than the reference saves 0 and counts at its own cost)."""
        return self.cost_usd + self.savings_usd

    @property
    def cheaper(self) -> bool:
        """Answered by a tier other than the reference: the requests verdicts are about."""
        return self.tier is not None and self.reference_tier is not None and self.tier != self.reference_tier


@dataclass(frozen=True, slots=True)
class Label:
    ts: float
    value: str  # a verdict (VERDICTS) or a rating (good / bad)
    score: float | None = None  # feedback's own number in [-1, 1], when it gave one


@dataclass
class Log:
    requests: list[Request] = field(default_factory=list)
    verdicts: dict[str, Label] = field(default_factory=dict)  # by request id: the latest
    feedback: dict[str, Label] = field(default_factory=dict)  # by request id: the latest
    lines: int = 0
    malformed: int = 0
    malformed_at: list[str] = field(default_factory=list)  # "file:line: why", the first few
    unknown_kinds: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # request lines whose id was already read (a file given twice)
    shadow_lines: int = 0
    feedback_lines: int = 0
    files: list[str] = field(default_factory=list)

    @property
    def orphans(self) -> int:
        """Labels for requests not in the files read (rotated away, or another replica's log)."""
        ids = {r.id for r in self.requests}
        return sum(1 for i in self.verdicts if i not in ids) + sum(1 for i in self.feedback if i not in ids)


def _get(d: dict[str, Any], key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """The field, checked to be of `kind` (a JSON true is no number here); absent or null: `default`."""
    value = d.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, kind):
        raise Bad(f"`{key}` has the wrong type")
    return value


def _num(d: dict[str, Any], key: str, default: float | None = None) -> float | None:
    value = _get(d, key, (int, float), default)
    return None if value is None else float(value)


def _request(d: dict[str, Any], line: _Line, keep: bool) -> Request:
    for key in ("id", "route", "outcome"):
        if not isinstance(d.get(key), str):
            raise Bad(f"a request line needs `{key}`")
    return Request(
        id=d["id"],
        ts=_num(d, "ts", 0.0) or 0.0,
        route=d["route"],
        tier=_get(d, "tier", str),
        outcome=d["outcome"],
        tenant=_get(d, "tenant", str),
        endpoint=_get(d, "endpoint", str, "chat"),
        backend=_get(d, "backend", str),
        difficulty=_num(d, "difficulty"),
        cascade=_get(d, "cascade", str),
        confidence=_num(d, "confidence"),
        reason=_get(d, "reason", str),
        latency_ms=_num(d, "latency_ms"),
        ttft_ms=_num(d, "ttft_ms"),
        prompt_tokens=int(_num(d, "prompt_tokens", 0) or 0),
        completion_tokens=int(_num(d, "completion_tokens", 0) or 0),
        cost_usd=_num(d, "cost_usd", 0.0) or 0.0,
        savings_usd=_num(d, "savings_usd", 0.0) or 0.0,
        reference_tier=_get(d, "reference_tier", str),
        budget_ms=_num(d, "budget_ms"),
        family=_get(d, "family", str),
        prior_tier=_get(d, "prior_tier", str),
        features=_raw(line.features) if keep else None,
        prompt=_raw(line.prompt) if keep else None,
        has_features=_raw(line.features) is not None,
        has_content=_raw(line.prompt) is not None,
    )


def _label(d: dict[str, Any], kind: str) -> tuple[str, Label | None]:
    if not isinstance(d.get("id"), str):
        raise Bad(f"a {kind} line needs `id`")
    ts = _num(d, "ts", 0.0) or 0.0
    if kind == "shadow":
        verdict = d.get("verdict")
        if verdict not in VERDICTS:
            raise Bad(f"unknown verdict {verdict!r}")
        return d["id"], Label(ts, verdict)
    score = _num(d, "score")
    if score is not None and not -1.0 <= score <= 1.0:
        raise Bad("feedback `score` is outside [-1, 1]")
    label = feedback_label(d.get("label"), score)
    if label == "neutral":
        return d["id"], None  # a rating, but neither way
    if label not in _FEEDBACK:
        raise Bad("feedback needs `label` good/bad/neutral or a `score`")
    return d["id"], Label(ts, label, score)


def _latest(into: dict[str, Label], key: str, label: Label) -> None:
    # By time, not by file order: rotated files may be given newest first. Equal times: the later line.
    old = into.get(key)
    if old is None or label.ts >= old.ts:
        into[key] = label


def read_lines(
    log: Log, lines: Iterable[bytes], source: str, keep: bool = True, only: set[str] | None = None
) -> None:
    """Add one file's lines to `log`; `keep=False` drops the logged features and content (noting
    only that they were there) for a report that does not read them. `only`: the requests whose
    features, content and labels are kept (a training read: `labelled_ids`); the others' are not."""
    seen = {r.id for r in log.requests}
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        log.lines += 1
        try:
            line = _decode(raw)
            if not isinstance(line.kind, str):
                raise Bad("not a JSON object with a `kind`")
            kind = line.kind
            d = msgspec.structs.asdict(line)
            if kind == "request":
                req = _request(d, line, keep and (only is None or d.get("id") in only))
                if req.id in seen:
                    log.duplicates += 1
                    continue
                seen.add(req.id)
                log.requests.append(req)
            elif kind in ("shadow", "feedback"):
                key, label = _label(d, kind)
                if kind == "shadow":
                    log.shadow_lines += 1
                else:
                    log.feedback_lines += 1
                if label is not None and (only is None or key in only):
                    _latest(log.verdicts if kind == "shadow" else log.feedback, key, label)
            else:
                log.unknown_kinds[kind] += 1
        except (msgspec.DecodeError, Bad) as exc:  # ValidationError (not an object) is a DecodeError
            log.malformed += 1
            if len(log.malformed_at) < _SAMPLES:
                why = (
                    str(exc)
                    if isinstance(exc, Bad)
                    else "not a JSON object with a `kind`"
                    if isinstance(exc, msgspec.ValidationError)
                    else "not valid JSON"
                )
                log.malformed_at.append(f"{source}:{number}: {why}")


def _open(path: Path) -> Iterator[bytes]:
    with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as f:
        yield from f


def labelled_ids(paths: Iterable[Path], latest: int | None = None) -> set[str]:
    """The requests a shadow verdict or a rating is about (the `latest` of them by the label's time,
    when given): a first pass over the log that decodes three fields a line, so that a training read
    (`read_log(only=...)`) keeps the logged inputs of those requests alone. Unlabelled requests are
    most of a log, and their features most of its bytes: 60,000 logged requests took 870 MB to train
    on when all were kept. OSError for a file that cannot be read."""
    when: dict[str, float] = {}
    for path in paths:
        for raw in _open(path):
            try:
                line = _decode_labels(raw)
            except msgspec.DecodeError:
                continue  # the second pass counts it as malformed
            if line.kind in ("shadow", "feedback") and isinstance(line.id, str):
                ts = float(line.ts) if isinstance(line.ts, (int, float)) else 0.0
                when[line.id] = max(when.get(line.id, ts), ts)
    if latest is None or len(when) <= latest:
        return set(when)
    return set(sorted(when, key=lambda i: (when[i], i))[-latest:])


def read_log(paths: Iterable[Path], *, keep: bool = True, only: set[str] | None = None) -> Log:
    """Every file's lines, labels joined by id; OSError for a file that cannot be read. `only`: see
    read_lines."""
    log = Log()
    for path in paths:
        log.files.append(str(path))
        read_lines(log, _open(path), str(path), keep, only)
    log.requests.sort(key=lambda r: r.ts)
    return log
