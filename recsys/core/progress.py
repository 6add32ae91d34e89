"""Progress of long loops: items done, rate and time left.

On a terminal (stderr is a TTY) a one-line bar redrawn in place at most every 0.2 s; otherwise
a log line every ``every_s`` seconds (and one at the end), so a build in CI or under nohup
still shows where it is::

    for user in track(users, "recommendation lists", unit="users"):
        ...
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")
log = logging.getLogger("recsys.progress")
BAR = 24


def describe(done: int, total: int, elapsed: float, unit: str) -> str:
    """``12,000/20,000 users (412/s, 19 s left)``."""
    rate = done / elapsed if elapsed > 0 else 0.0
    text = f"{done:,}/{total:,} {unit} ({rate:,.0f}/s"
    if 0 < done < total and rate > 0:
        text += f", {_duration((total - done) / rate)} left"
    elif done >= total:
        text += f", {_duration(elapsed)}"
    return text + ")"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5_400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3_600:.1f} h"


class Progress:
    """Call ``advance(n)`` as work gets done and ``close()`` at the end."""

    def __init__(
        self,
        total: int,
        label: str,
        unit: str = "items",
        every_s: float = 10.0,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.label, self.unit, self.every_s = total, label, unit, every_s
        self.stream = stream if stream is not None else sys.stderr
        self.bar = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = self._last = time.perf_counter()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= (0.2 if self.bar else self.every_s):
            self._last = now
            self._report(now)

    def close(self) -> None:
        self._report(time.perf_counter(), final=True)

    def _report(self, now: float, final: bool = False) -> None:
        text = f"{self.label}: {describe(self.done, self.total, now - self.started, self.unit)}"
        if self.bar:
            filled = BAR * self.done // max(self.total, 1)
            end = "\n" if final else ""
            self.stream.write(f"\r[{'#' * filled}{'.' * (BAR - filled)}] {text}\x1b[K{end}")
            self.stream.flush()
        else:
            log.info(text)


def track(
    items: Iterable[T], label: str, total: int | None = None, unit: str = "items"
) -> Iterator[T]:
    """Iterate ``items`` while reporting progress (``total`` defaults to ``len(items)``)."""
    size = total if total is not None else len(items)  # type: ignore[arg-type]
    progress = Progress(size, label, unit)
    for item in items:
        yield item
        progress.advance()
    progress.close()
