"""The scorer refitted on the deployment's own labels while it serves: `gateway train --from-log` on
the gateway's decision log, run by the gateway once enough new labels have come, and its output
adopted in place of the weights in force.

Learning while serving (learner.py) moves the rates of the families the weights file has. Traffic
whose own families differ widely lands many of them in one shipped family, and only a split of that
family on its labels tells them apart (docs/routing.md, "Labels of traffic whose families differ
widely": with 1,400 labels, 0.508 APGR counted in the shipped families against 0.535 through
`train --data`). The refit is that split, made by the command an operator would run, in a child
process: the serving process never imports the offline code, and a fit's CPU and memory stay out of
it. Each refit starts again from the base weights (the table's `classifier.weights`, or the shipped
ones) with every labelled request the log still holds, so the result does not depend on how often
it ran.

Files, under `state_dir/refit/`: `weights.json`, the refit in force, and `refit.json`, what it was
fitted on (the base's path and sha256, the labels the gateway had taken, the time). On start, a refit
whose base is still the table's weights is adopted again; after the operator names other weights,
the next refit builds on those.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.tenancy.learned_store import write_atomically

if TYPE_CHECKING:
    from gateway.config import Settings

__all__ = ["Refitter", "refit_files", "refitter_for"]

log = logging.getLogger(__name__)

WEIGHTS = "weights.json"
RECORD = "refit.json"
_NEXT = "weights.next.json"
_TIMEOUT_S = 600.0  # a fit of the whole rotated log takes seconds; a hung one must not block the next
_STDERR_CHARS = 300  # of the command's last line, in the gateway's log: the reason, never a prompt


def refit_files(log_path: Path, files: int) -> list[Path]:
    """The decision log and its rotations (decision_log.py's names), those that exist, oldest first."""
    names = [log_path.with_name(f"{log_path.name}.{i}") for i in range(files - 1, 0, -1)] + [log_path]
    return [p for p in names if p.exists()]


def _sha256(path: Path | None) -> str | None:
    return None if path is None else hashlib.sha256(path.read_bytes()).hexdigest()


class Refitter:
    """Counts the labels the gateway takes; every `every` of them (at most once every `min_s`), refits."""

    def __init__(
        self,
        *,
        every: int,
        min_s: float,
        max_labels: int,
        log_path: Path,
        log_files: int,
        state_dir: Path,
        on_result: Callable[[str], None] | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.every = every
        self.min_s = min_s
        self.max_labels = max_labels
        self.dir = state_dir / "refit"
        self._log_path = log_path
        self._log_files = log_files
        self._on_result = on_result or (lambda result: None)
        self._wall = wall
        self.pending = 0  # labels taken since the last refit began
        self._last = -math.inf
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self.last: dict[str, Any] | None = None  # the latest refit's outcome, for /admin/learning

    # ---- counting (the learner's label hook: never blocks) --------------------------------------
    def note(self, result: str) -> None:
        if result != "counted":
            return
        self.pending += 1
        if self.pending >= self.every:  # the loop waits out min_s, if it must
            self._wake.set()

    def due(self) -> bool:
        return self.pending >= self.every and self._wall() - self._last >= self.min_s

    # ---- what is in force -----------------------------------------------------------------------
    def adopted(self, base: Path | None) -> Path | None:
        """The refit to serve in place of `base` (None: the shipped weights), if one was fitted on it."""
        try:
            record = json.loads((self.dir / RECORD).read_text())
            same = record.get("base") == (None if base is None else str(base))
            if same and record.get("base_sha256") == _sha256(base) and (self.dir / WEIGHTS).exists():
                return self.dir / WEIGHTS
        except (OSError, ValueError, AttributeError):
            pass  # none yet, or unreadable: serve the base
        return None

    def state(self) -> dict[str, Any]:
        """What /admin/learning shows: the schedule, the labels since the last refit, its outcome."""
        return {
            "every": self.every,
            "min_s": self.min_s,
            "max_labels": self.max_labels,
            "pending": self.pending,
            "last": self.last,
        }

    # ---- one refit ------------------------------------------------------------------------------
    async def refit(self, base: Path | None, adopt: Callable[[Path], Awaitable[bool]]) -> str:
        """Fit now on the log as it stands, and `adopt` the result (the gateway's: False when the table
        no longer names `base`). The outcome: adopted, set_aside (other weights were named meanwhile),
        nothing (nothing to fit) or failed."""
        self._last, taken, self.pending = self._wall(), self.pending, 0
        logs = refit_files(self._log_path, self._log_files)
        self.dir.mkdir(parents=True, exist_ok=True)
        out = self.dir / _NEXT
        cmd = [sys.executable, "-m", "gateway", "train", *(a for p in logs for a in ("--from-log", str(p)))]
        cmd += ["--max-labels", str(self.max_labels), "--out", str(out)]
        cmd += ["--weights", str(base)] if base is not None else []
        started = time.monotonic()
        rc, err = await self._run(cmd)
        seconds = round(time.monotonic() - started, 2)
        if rc == 0 and out.exists():
            os.replace(out, self.dir / WEIGHTS)  # the command's file as it wrote it
            record: dict[str, Any] = {"base": None if base is None else str(base), "seconds": seconds}
            record |= {"base_sha256": _sha256(base), "labels_taken": taken, "at": self._wall()}
            write_atomically(self.dir / RECORD, json.dumps(record, sort_keys=True).encode())
            result = "adopted" if await adopt(self.dir / WEIGHTS) else "set_aside"
            log.info("scorer refit %s (%.1f s, %d labels taken)", result, seconds, taken)
            return self._done(result, seconds, taken)
        # 2: nothing to add (no labelled request with its scorer inputs: `log_features` is off, or no
        # label has reached the log yet); anything else: the command failed. Both keep what is in force.
        result = "nothing" if rc == 2 else "failed"
        (log.warning if result == "failed" else log.info)(
            "scorer refit %s (exit %s, %.1f s): %s", result, rc, seconds, err
        )
        return self._done(result, seconds, taken)

    def _done(self, result: str, seconds: float, taken: int) -> str:
        self.last = {"result": result, "at": self._wall(), "seconds": seconds, "labels_taken": taken}
        self._on_result(result)
        return result

    async def _run(self, cmd: list[str]) -> tuple[int | None, str]:
        # Below the serving process: on a small machine the fit must not take the requests' cores
        # (nice(1), not a preexec_fn: this process has threads).
        nice = shutil.which("nice")
        proc = self._proc = await asyncio.create_subprocess_exec(
            *((nice, "-n", "10") if nice else ()),
            *cmd,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), _TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None, f"no result within {_TIMEOUT_S:.0f} s"
        finally:
            self._proc = None
        lines = err.decode(errors="replace").strip().splitlines()
        return proc.returncode, (lines[-1] if lines else "")[:_STDERR_CHARS]

    # ---- the loop -------------------------------------------------------------------------------
    def start(self, step: Callable[[], Awaitable[None]]) -> None:
        """Run `step` (a refit and its adoption: the gateway's) whenever one is due."""

        async def loop() -> None:
            while True:
                await self._wake.wait()
                self._wake.clear()
                wait = self.min_s - (self._wall() - self._last)
                if wait > 0:  # enough labels, too soon: come back when the interval is over
                    await asyncio.sleep(wait)
                if not self.due():
                    continue
                try:
                    await step()
                except Exception:  # the weights in force stay; the next labels try again
                    log.exception("scorer refit failed")

        self._task = asyncio.get_running_loop().create_task(loop())

    async def stop(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


def refitter_for(settings: Settings, on_result: Callable[[str], None]) -> Refitter | None:
    """The refitter GATEWAY_REFIT_LABELS asks for (None: off; config.py refuses it without its files)."""
    if not settings.refit_labels or settings.decision_log is None or settings.state_dir is None:
        return None
    return Refitter(
        every=settings.refit_labels,
        min_s=settings.refit_min_s,
        max_labels=settings.refit_max_labels,
        log_path=Path(settings.decision_log),
        log_files=settings.decision_log_files,
        state_dir=settings.state_dir,
        on_result=on_result,
    )
