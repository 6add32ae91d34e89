"""Freed memory handed back to the operating system between the build's big phases.

glibc keeps freed heap memory for reuse: blocks under its mmap threshold (128 KB, rising to
32 MB once larger blocks are freed) come from the heap, and one live block above a freed
region keeps the whole region resident. At a million items the recommendation training
lists (20,000 per-user blocks of ~100 KB) stayed resident after the ranker was trained, and
the full-log co-visitation that followed peaked 4 GB higher than its data needs.
``release_memory`` collects garbage and calls ``malloc_trim(0)``, which returns every free
page of every arena. Elsewhere (macOS, musl) it only collects garbage.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import sys
from typing import Any


@functools.cache
def _glibc() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):  # no libc found, or not glibc (no malloc_trim)
        return None
    return libc


def release_memory() -> bool:
    """Collect garbage and return free heap pages to the OS; True when malloc_trim ran."""
    gc.collect()
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
