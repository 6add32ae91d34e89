"""Progress reporting: known-answer text, a bar on a terminal, log lines otherwise."""

from __future__ import annotations

import io
import logging

import pytest

from recsys.core.progress import Progress, describe, track


def test_describe_known_answers() -> None:
    assert describe(0, 100, 0.0, "users") == "0/100 users (0/s)"
    assert describe(12_000, 20_000, 30.0, "users") == "12,000/20,000 users (400/s, 20 s left)"
    assert describe(1_000, 1_000_000, 10.0, "items") == "1,000/1,000,000 items (100/s, 2.8 h left)"
    assert describe(500, 500, 120.0, "docs") == "500/500 docs (4/s, 2 min)"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_bar_redrawn_in_place() -> None:
    stream = Terminal()
    progress = Progress(4, "lists", "users", stream=stream)
    progress.advance(2)
    progress.close()
    text = stream.getvalue()
    assert text.startswith("\r[") and text.endswith("\n")
    assert "[" + "#" * 12 + "." * 12 + "] lists: 2/4 users" in text


def test_elsewhere_log_lines_with_rate_and_time_left(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recsys.progress")
    progress = Progress(3, "lists", "users", every_s=0.0, stream=io.StringIO())
    progress.advance()
    progress.close()
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("lists: 1/3 users (") and "left)" in lines[0]
    assert lines[-1].startswith("lists: 1/3 users")


def test_track_yields_everything_and_reports_the_end(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="recsys.progress")
    assert list(track(range(5), "work", unit="steps")) == [0, 1, 2, 3, 4]
    assert caplog.records[-1].getMessage().startswith("work: 5/5 steps")
