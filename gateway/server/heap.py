"""Handing the C heap's freed pages back once startup is done.

Loading the tokenizer (a 2 MiB JSON vocabulary parsed into Rust structures) and projecting the
scorer's token table free ~10 MiB that glibc keeps on its free lists, where they count in RSS for the
life of the process (measured: 112.8 → 105.4 MiB for the libraries and scorer alone).
"""

from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """malloc_trim(0) where the C library is glibc; elsewhere (musl, macOS) nothing to do."""
    try:
        trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
