"""Counts learned while serving (gateway/learning/), kept where every replica reads them: per family set
(the weights file's families), per family, decayed labels and shortfalls; and per family and tenant,
how many of its ratings have counted (a tenant's say is capped).

In this process, written to a state file under GATEWAY_STATE_DIR (atomically, periodically, and at
shutdown; read at start): one replica. With GATEWAY_REDIS_URL, in Redis (redis_learned_store.py):
every replica reads and adds to the same counts, atomically. Both bound what they keep: a family set
is a few kilobytes (three numbers a family), and the tenants' tallies are capped in number.

Decay: counts halve every `half_life_s` (wall time), so old labels fade; a record is (labels,
shortfalls, as of when) and is brought up to date when it is added to or read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import tempfile
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["Decayed", "Delta", "LearnedStore", "MemoryLearned"]

log = logging.getLogger(__name__)
_FILE = "learned.json"
_FORMAT = "gateway-learned-v1"
# (family set, family, tenant) tallies kept: in memory the least recently used go first, on Redis
# a new one is refused (a script cannot find the oldest cheaply)
MAX_TALLIES = 10_000


@dataclass(slots=True)
class Decayed:
    n: float = 0.0  # labels, decayed to `t`
    s: float = 0.0  # shortfalls among them
    t: float = 0.0  # when they were last brought up to date (wall seconds)

    def at(self, now: float, half_life_s: float) -> tuple[float, float]:
        """(labels, shortfalls) as they stand at `now`."""
        if self.n <= 0:
            return 0.0, 0.0
        f = _factor(now - self.t, half_life_s)
        return self.n * f, self.s * f

    def add(self, now: float, half_life_s: float, n: float, s: float) -> None:
        n0, s0 = self.at(now, half_life_s)
        self.n, self.s, self.t = n0 + n, s0 + s, max(now, self.t)

    def to_list(self) -> list[float]:
        return [self.n, self.s, self.t]

    @classmethod
    def of(cls, raw: Sequence[float]) -> Decayed:
        n, s, t = (float(v) for v in raw)
        if not all(math.isfinite(v) for v in (n, s, t)) or n < 0 or not 0 <= s <= n + 1e-6:
            raise ValueError("not a count")
        return cls(n, s, t)


def _factor(age_s: float, half_life_s: float) -> float:
    if age_s <= 0 or math.isinf(half_life_s):
        return 1.0
    return float(0.5 ** (age_s / half_life_s))


@dataclass(frozen=True, slots=True)
class Delta:
    """One label to add: on a family and each of its ancestors (`path`, the leaf first)."""

    path: tuple[str, ...]
    shortfall: float  # 0 or 1
    tenant: str | None = None  # a rating's tenant, whose tally is capped; None: a verdict


class LearnedStore(Protocol):
    async def add(
        self, family_set: str, deltas: Sequence[Delta], now: float, half_life_s: float, tenant_cap: float
    ) -> list[bool]:
        """Add each label (False where its tenant's tally for the family is at the cap, or the store
        cannot be reached: the label is lost and counted by the caller)."""

    async def read(self, family_set: str) -> dict[str, Decayed]:
        """The family set's counts (empty when none); {} when the store cannot be reached."""

    async def reset(self, family_set: str, folded_at: float | None = None) -> None:
        """Forget the set's counts; `folded_at`: because a weights file made at that time holds them
        (an export), remembered apart from the counts (`folded_at`)."""

    async def folded_at(self, family_set: str) -> float:
        """The time of the latest export whose counts a reset forgot (0: none): a restart with that
        file still in force must not forget what was learned since."""

    async def sets(self) -> list[str]:
        """The family sets that have counts (the weights files learned on)."""

    async def flush(self) -> None:
        """Make what was added durable (the state file); nothing to do for Redis."""

    async def aclose(self) -> None: ...


class MemoryLearned:
    """This process's counts, kept in a state file when a directory is given."""

    def __init__(self, state_dir: Path | None = None) -> None:
        self._dir = state_dir
        self._sets: dict[str, dict[str, Decayed]] = {}
        self._tallies: OrderedDict[tuple[str, str, str], Decayed] = OrderedDict()
        self._folded: dict[str, float] = {}
        self._dirty = False
        if state_dir is not None:
            self._read_file(state_dir / _FILE)

    def _read_file(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            log.error("learned state %s unreadable (%s): starting from none", path, type(exc).__name__)
            return
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            log.error("learned state %s is not a %s file: starting from none", path, _FORMAT)
            return
        try:
            for fs, nodes in data["sets"].items():
                self._sets[str(fs)] = {str(k): Decayed.of(v) for k, v in nodes.items()}
            for fs, family, tenant, raw in data.get("tallies", []):
                self._tallies[(str(fs), str(family), str(tenant))] = Decayed.of(raw)
            self._folded = {str(fs): float(at) for fs, at in data.get("folded", {}).items()}
        except (KeyError, TypeError, ValueError) as exc:
            log.error("learned state %s malformed (%s): starting from none", path, exc)
            self._sets.clear()
            self._tallies.clear()
            self._folded.clear()

    async def add(
        self, family_set: str, deltas: Sequence[Delta], now: float, half_life_s: float, tenant_cap: float
    ) -> list[bool]:
        nodes = self._sets.setdefault(family_set, {})
        out = []
        for d in deltas:
            if d.tenant is not None:
                key = (family_set, d.path[0], d.tenant)
                tally = self._tallies.pop(key, None) or Decayed()
                self._tallies[key] = tally  # most recently used last
                if tally.at(now, half_life_s)[0] + 1 > tenant_cap:
                    out.append(False)
                    continue
                tally.add(now, half_life_s, 1.0, d.shortfall)
                while len(self._tallies) > MAX_TALLIES:
                    self._tallies.popitem(last=False)
            for node in d.path:
                nodes.setdefault(node, Decayed()).add(now, half_life_s, 1.0, d.shortfall)
            out.append(True)
        self._dirty = True
        return out

    async def read(self, family_set: str) -> dict[str, Decayed]:
        return {k: Decayed(v.n, v.s, v.t) for k, v in self._sets.get(family_set, {}).items()}

    async def reset(self, family_set: str, folded_at: float | None = None) -> None:
        self._sets.pop(family_set, None)
        for key in [k for k in self._tallies if k[0] == family_set]:
            del self._tallies[key]
        if folded_at is not None:
            self._folded[family_set] = folded_at
        self._dirty = True

    async def folded_at(self, family_set: str) -> float:
        return self._folded.get(family_set, 0.0)

    async def sets(self) -> list[str]:
        return sorted(self._sets)

    def state(self) -> dict[str, object]:
        return {
            "format": _FORMAT,
            "sets": {fs: {k: v.to_list() for k, v in nodes.items()} for fs, nodes in self._sets.items()},
            "tallies": [[fs, fam, ten, d.to_list()] for (fs, fam, ten), d in self._tallies.items()],
            "folded": dict(self._folded),
        }

    async def flush(self) -> None:
        if self._dir is None or not self._dirty:
            return
        self._dirty = False
        data = json.dumps(self.state(), separators=(",", ":")).encode()
        # Off the loop: a slow disk must not stall requests.
        await asyncio.to_thread(write_atomically, self._dir / _FILE, data)

    async def aclose(self) -> None:
        await self.flush()


def write_atomically(path: Path, data: bytes) -> None:
    """Written whole, then renamed over the old file: a reader never sees half of one, and a failed
    write leaves the old file in place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
