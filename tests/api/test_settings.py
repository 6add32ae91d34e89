"""The service settings: RECSYS_* environment variables, read in this one place."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from api.settings import Settings, cgroup_cpu_limit
from recsys.events.store import DEFAULT_EVENTS_DB, EVENTS_DB_ENV
from recsys.search.options import SearchOptions


def test_default_location_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(EVENTS_DB_ENV, raising=False)
    assert Settings().events_db == DEFAULT_EVENTS_DB
    monkeypatch.setenv(EVENTS_DB_ENV, str(tmp_path / "x.sqlite3"))
    assert Settings().events_db == tmp_path / "x.sqlite3"
    monkeypatch.setenv(EVENTS_DB_ENV, "")  # set but empty: the default, not "."
    assert Settings().events_db == DEFAULT_EVENTS_DB


def test_search_knobs_come_from_nested_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().search == SearchOptions()
    monkeypatch.setenv("RECSYS_SEARCH__RRF_K", "30")
    monkeypatch.setenv("RECSYS_SEARCH__FUSION_DEPTH", "150")
    search = Settings().search
    assert (search.rrf_k, search.fusion_depth) == (30.0, 150)
    assert search.localized_list_weight == SearchOptions().localized_list_weight
    monkeypatch.setenv("RECSYS_SEARCH__RRF_K", "many")
    with pytest.raises(ValidationError, match="rrf_k"):
        Settings()
    monkeypatch.delenv("RECSYS_SEARCH__RRF_K")
    monkeypatch.setenv("RECSYS_SEARCH__NO_SUCH_KNOB", "1")
    with pytest.raises(ValidationError, match="no_such_knob"):
        Settings()


def test_the_query_cache_has_one_knob(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_QUERY_CACHE_SIZE", "7")
    assert Settings().search_options.query_cache_size == 7
    monkeypatch.setenv("RECSYS_SEARCH__QUERY_CACHE_SIZE", "9")
    with pytest.raises(ValidationError, match="RECSYS_QUERY_CACHE_SIZE"):
        Settings()


def test_query_encoder_backend_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().query_encoder == "auto"
    monkeypatch.setenv("RECSYS_QUERY_ENCODER", "onnx-int8")
    assert Settings().query_encoder == "onnx-int8"
    monkeypatch.setenv("RECSYS_QUERY_ENCODER", "tensorrt")
    with pytest.raises(ValidationError, match="query_encoder"):
        Settings()


def test_an_empty_experiments_path_turns_experiments_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECSYS_EXPERIMENTS_PATH", "")
    assert Settings().experiments_path is None


def test_events_url_must_be_postgresql_and_wins_over_the_file() -> None:
    from pydantic import ValidationError

    from api.settings import Settings

    url = "postgresql://recsys@db:5432/events"
    assert Settings(events_url=url).event_store_target() == url
    assert Settings(events_url="").event_store_target() == Settings().events_db
    with pytest.raises(ValidationError, match="postgresql://"):
        Settings(events_url="mysql://db/events")


def test_empty_request_log_means_no_request_log() -> None:
    from api.settings import Settings

    assert Settings(request_log="").request_log is None  # not Path("."), a directory


def test_reads_in_flight_default_to_the_usable_cores_plus_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A process pinned to one core (a cpuset, taskset) admits 2 reads, not cores + 1 of
    the whole machine."""
    monkeypatch.setattr("api.settings.cgroup_cpu_limit", lambda: None)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert Settings().max_in_flight_read == 2
    assert Settings().admission_queue == 1
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert Settings().max_in_flight_read == 17
    monkeypatch.setattr("api.settings.cgroup_cpu_limit", lambda: 2)  # limits.cpu: 2
    assert Settings().max_in_flight_read == 3


@pytest.mark.parametrize(
    ("v2", "v1", "expected"),
    [
        ("200000 100000\n", None, 2),
        ("150000 100000\n", None, 2),  # 1.5 cores: rounded up
        ("50000 100000\n", None, 1),
        ("max 100000\n", None, None),  # no quota
        ("garbage\n", None, None),
        (None, ("400000", "100000"), 4),  # cgroup v1
        (None, ("-1", "100000"), None),
        (None, None, None),  # neither: not in a cgroup with a CPU controller
    ],
)
def test_a_cgroup_cpu_quota_is_read_as_cores(
    tmp_path: Path, v2: str | None, v1: tuple[str, str] | None, expected: int | None
) -> None:
    cpu_max, cpu_v1 = tmp_path / "cpu.max", tmp_path / "cpu"
    if v2 is not None:
        cpu_max.write_text(v2)
    if v1 is not None:
        cpu_v1.mkdir()
        (cpu_v1 / "cpu.cfs_quota_us").write_text(v1[0] + "\n")
        (cpu_v1 / "cpu.cfs_period_us").write_text(v1[1] + "\n")
    assert cgroup_cpu_limit(cpu_max, cpu_v1) == expected
