"""The heap trimmer: trims glibc's heap on its period while started, and stops with the server."""

from __future__ import annotations

import asyncio
import platform

import pytest

from gateway.server.heap import HeapTrimmer


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
async def test_it_trims_on_its_period_and_stops() -> None:
    heap = HeapTrimmer(every_s=0.01)
    heap.start()
    heap.start()  # a second start does not add a second loop
    await asyncio.sleep(0.2)
    await heap.stop()
    trims = heap.trims
    assert 3 <= trims <= 25
    await asyncio.sleep(0.05)
    assert heap.trims == trims  # stopped
    await heap.stop()  # twice is harmless
