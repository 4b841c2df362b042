"""Watching routes.yaml: notice a change and hand it to whoever applies it.

Polling `stat` rather than inotify: it sees a Kubernetes ConfigMap update (a symlink swapped over a new
directory) and editors that replace the file, and costs one syscall every interval. The content's hash
decides whether anything changed, so touching the file reloads nothing, and a bad file is reported
once, not at every poll, until it changes again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["ReloadResult", "RoutesWatcher"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    changed: bool
    sha256: str  # of the rules in force after the attempt
    problems: list[str] = field(default_factory=list)

    def json(self) -> dict[str, object]:
        result = ("reloaded" if self.changed else "unchanged") if self.ok else "rejected"
        return {"result": result, "sha256": self.sha256, "problems": self.problems}


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)  # follows symlinks: a swapped ConfigMap directory shows as a new inode
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def content_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


class RoutesWatcher:
    """Watches the routes file and the weights files it names (`also`: read again at each look, since
    a reload may name others), so a weights file rewritten in place reloads the rules too."""

    def __init__(
        self,
        path: Path,
        apply: Callable[[], Awaitable[ReloadResult]],
        interval_s: float,
        also: Callable[[], list[Path]] = list,
    ) -> None:
        self.path = path
        self._apply = apply
        self.interval_s = interval_s
        self._also = also
        self._seen = self._signatures()
        self._task: asyncio.Task[None] | None = None

    def _signatures(self) -> tuple[tuple[int, int, int] | None, ...]:
        return tuple(_signature(p) for p in (self.path, *self._also()))

    async def poll(self) -> ReloadResult | None:
        """Apply the files if they changed since the last look; None when they did not."""
        signature = self._signatures()
        if signature == self._seen:
            return None
        self._seen = signature
        return await self._apply()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll()
            except Exception:
                log.exception("routes reload failed unexpectedly")

    def start(self) -> None:
        if self.interval_s > 0:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="routes-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
