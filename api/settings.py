"""Service settings, read from ``RECSYS_*`` environment variables (or passed explicitly)."""

from __future__ import annotations

import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recsys.defaults import DEFAULT_EXPERIMENTS
from recsys.events.store import DEFAULT_EVENTS_DB, is_database_url
from recsys.search.options import SearchOptions

LogLevel = Literal["critical", "error", "warning", "info", "debug"]


# A container's CPU quota: cgroup v2, then v1 (as seen from inside the container).
CGROUP_V2_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")


def cgroup_cpu_limit(v2: Path = CGROUP_V2_CPU_MAX, v1: Path = CGROUP_V1_CPU) -> int | None:
    """Cores the process's CPU quota allows, rounded up ("200000 100000" -> 2; a Kubernetes
    ``limits.cpu``); None without a quota or where it cannot be read."""
    try:
        quota, period = v2.read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (v1 / "cpu.cfs_quota_us").read_text().strip()
            period = (v1 / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        allowed, per = int(quota), int(period)  # "max" (v2) or -1 (v1): no quota
    except ValueError:
        return None
    if allowed <= 0 or per <= 0:
        return None
    return max(1, math.ceil(allowed / per))


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity (a cpuset, ``taskset``) where
    the platform has one, else every core; fewer where a CPU quota allows fewer."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_limit()
    return min(cores, quota) if quota else cores


class Settings(BaseSettings):
    """Everything the HTTP layer needs to know; one instance per app, no globals."""

    model_config = SettingsConfigDict(
        env_prefix="RECSYS_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    artifacts_dir: Path = Path("artifacts")
    # An artifact store shared by replicas on several machines (s3://bucket/prefix with
    # s3fs installed, or any fsspec URL): mirrored into artifacts_dir, which then only
    # caches it (recsys/core/artifact_store.py; `recsys artifacts push` fills the store).
    artifacts_url: str | None = None
    max_query_chars: int = Field(default=512, ge=1, le=10_000)
    max_k: int = Field(default=100, ge=1, le=10_000)
    default_k: int = Field(default=10, ge=1)
    log_level: LogLevel = "info"
    # `json`: one JSON object per log line (request id, route, status, latency, model
    # version, variant as fields); `text` for a terminal. Used by `recsys serve`.
    log_format: Literal["text", "json"] = "text"
    # When set, one JSON line per served search/similar/item/recommendations request is
    # appended here.
    request_log: Path | None = None
    # Size-based rotation of the request log: served.jsonl -> .1 ... -> .{backups}.
    request_log_max_bytes: int = Field(default=100 << 20, ge=1024)
    request_log_backups: int = Field(default=5, ge=0, le=100)
    # The event store (POST /v1/events and the exposure log); `recsys events export` reads the
    # same file by default (both honour RECSYS_EVENTS_DB).
    events_db: Path = DEFAULT_EVENTS_DB
    # A shared PostgreSQL store instead (replicas on several machines): postgresql://...;
    # when set it wins over events_db.
    events_url: str | None = None
    # Online experiments (the shipped recsys/defaults/experiments.toml by default); None (an
    # empty RECSYS_EXPERIMENTS_PATH): no experiments. A file that exists but is invalid
    # stops startup with the reason.
    experiments_path: Path | None = DEFAULT_EXPERIMENTS
    # Passed to the engine loader (e.g. "cpu", "cuda", "cuda:1"); None lets the engine choose.
    encoder_device: str | None = None
    # How queries are encoded: auto (ONNX Runtime on CPU where the model supports it: int8
    # weights for MiniLM, fp32 for e5, as measured; else PyTorch), torch, onnx (fp32) or
    # onnx-int8. The artifact's vectors are the same either way; bench/README.md, "Query
    # encoding on ONNX Runtime", has the numbers.
    query_encoder: Literal["auto", "torch", "onnx", "onnx-int8"] = "auto"
    # Query embeddings cached for repeated queries (0 disables the cache).
    query_cache_size: int = Field(default=4096, ge=0, le=1_000_000)
    # Retrieval and fusion knobs, e.g. RECSYS_SEARCH__FUSION_DEPTH=150 (validated). The query
    # cache has one knob, query_cache_size above: see ``search_options``.
    search: SearchOptions = Field(default_factory=SearchOptions)
    # Browser origins allowed to call the API (CORS), e.g.
    # RECSYS_CORS_ORIGINS=https://app.example.com,http://localhost:3000; "*" allows any.
    # Empty (the default): no CORS headers, so browsers on other origins cannot call it.
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Seconds between checks of the artifact root's `current` pointer; a new version is
    # loaded, validated and swapped in without downtime (api/reload.py). 0: only on
    # POST /v1/admin/reload or SIGHUP. The same watcher replays events other replicas stored
    # into the online user state, so replicas sharing an event store converge this fast.
    reload_interval_s: float = Field(default=5.0, ge=0, le=86_400)
    # Threads per worker for torch, BLAS (OpenBLAS/MKL via threadpoolctl) and faiss; scale
    # with more workers, not more threads (unpinned, a query encode under contention took
    # 0.4-1 s instead of 30-110 ms).
    threads: int = Field(default=1, ge=1, le=256)
    # Admission control (api/admission.py): requests in flight per route class; past that a
    # request waits in a short line (admission_queue places, at most admission_wait_s) for
    # the next free slot, and past the line gets a fast 503 `overloaded`; the deadline after
    # which a request still waiting is answered 504. (reads: usable cores + 1 in flight by
    # default; measured in bench/README.md, "Overload")
    max_in_flight_read: int = Field(default_factory=lambda: usable_cores() + 1, ge=1)
    max_in_flight_events: int = Field(default=32, ge=1, le=10_000)
    max_in_flight_admin: int = Field(default=2, ge=1, le=100)
    request_deadline_s: float = Field(default=5.0, gt=0, le=600)
    admission_queue: int = Field(default_factory=usable_cores, ge=0, le=10_000)
    admission_wait_s: float = Field(default=0.05, ge=0, le=600)
    # The HTTP edge (api/server.py, `recsys serve`): request head size, time to receive a
    # whole request, idle keep-alive, connections at once.
    max_header_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
    request_read_timeout_s: float = Field(default=10.0, gt=0, le=600)
    keep_alive_s: float = Field(default=5.0, ge=1, le=600)
    max_connections: int = Field(default=512, ge=1, le=100_000)
    # API keys (api/auth.py): a TOML file of hashed keys with scopes and rate limits, and/or
    # one admin key with every scope. Neither: dev mode, every route open.
    api_keys_file: Path | None = None
    admin_api_key: SecretStr | None = None

    @field_validator(
        "api_keys_file",
        "admin_api_key",
        "experiments_path",
        "request_log",
        "artifacts_url",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("events_url", mode="before")
    @classmethod
    def _events_url_is_postgres(cls, value: object) -> object:
        if value in ("", None):
            return None
        if not is_database_url(value):
            raise ValueError("must be a postgresql:// URL (a SQLite file goes in events_db)")
        return value

    def event_store_target(self) -> Path | str:
        """Where the event store is: the PostgreSQL URL if set, else the SQLite file."""
        return self.events_url or self.events_db

    @field_validator("events_db", mode="before")
    @classmethod
    def _empty_events_db_is_the_default(cls, value: object) -> object:
        return DEFAULT_EVENTS_DB if value == "" else value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            value = [origin.strip() for origin in value.split(",") if origin.strip()]
        if isinstance(value, list | tuple):
            for origin in value:
                if origin != "*" and not (
                    isinstance(origin, str) and origin.startswith(("http://", "https://"))
                ):
                    raise ValueError(f"CORS origin {origin!r} must be '*' or start with http(s)://")
            return tuple(origin.rstrip("/") for origin in value)
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _lowercase_log_level(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _default_k_within_max_k(self) -> Settings:
        if self.default_k > self.max_k:
            raise ValueError(f"default_k ({self.default_k}) must be <= max_k ({self.max_k})")
        return self

    @model_validator(mode="after")
    def _one_query_cache_knob(self) -> Settings:
        if self.search.query_cache_size not in (
            SearchOptions().query_cache_size,
            self.query_cache_size,
        ):
            raise ValueError(
                "set the query cache size with RECSYS_QUERY_CACHE_SIZE, "
                "not RECSYS_SEARCH__QUERY_CACHE_SIZE"
            )
        return self

    @property
    def search_options(self) -> SearchOptions:
        """What the engine searches with: ``search`` with the query cache size of
        ``query_cache_size``."""
        return replace(self.search, query_cache_size=self.query_cache_size)
