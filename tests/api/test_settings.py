"""The service settings: RECSYS_* environment variables, read in this one place."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.settings import Settings
from recsys.events.store import DEFAULT_EVENTS_DB, EVENTS_DB_ENV


def test_default_location_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(EVENTS_DB_ENV, raising=False)
    assert Settings().events_db == DEFAULT_EVENTS_DB
    monkeypatch.setenv(EVENTS_DB_ENV, str(tmp_path / "x.sqlite3"))
    assert Settings().events_db == tmp_path / "x.sqlite3"
    monkeypatch.setenv(EVENTS_DB_ENV, "")  # set but empty: the default, not "."
    assert Settings().events_db == DEFAULT_EVENTS_DB
