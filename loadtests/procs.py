"""What the benchmarks read of a process they started, from /proc: its CPU seconds and resident memory,
its descendants' included (granian serves from a worker process it spawns); and how they start one,
pinned to a core."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["cpu_seconds", "rss_mib", "start"]


def _tree(pid: int) -> list[int]:
    """The process and its descendants: granian serves from a worker process it spawns."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [pid] + [p for k in kids for p in _tree(k)]


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in _tree(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    kib = 0
    for p in _tree(pid):
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                kib += int(line.split()[1])
    return round(kib / 1024, 1)


def start(cmd: list[str], env: dict[str, str], cwd: Path, cpu: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["taskset", "-c", cpu, *cmd],
        env={**os.environ, **env},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
