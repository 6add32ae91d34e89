"""release_memory: freed heap blocks go back to the OS (glibc), a no-op elsewhere."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from recsys.core.memory import _glibc, release_memory


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not sys.platform.startswith("linux") or _glibc() is None, reason="glibc")
def test_freed_small_blocks_are_returned() -> None:
    """3,000 blocks of 96 KB (under the mmap threshold: heap), all freed but the last: the
    heap cannot shrink from its top, so the memory stays resident until the trim."""
    blocks = [np.ones(12_000) for _ in range(3_000)]  # ~290 MB
    last = blocks[-1]
    del blocks
    before = _rss_mb()
    assert release_memory() is True
    after = _rss_mb()
    assert before - after > 100, (before, after)
    assert last.sum() == 12_000
