"""Where the parallel parts of a build run: in this process (``LocalRunner``, the default) or
on a Ray cluster (``pipelines.ray_engine.RayRunner``, ``recsys build --engine ray``).

A stage that parallelizes splits its work into shards and calls ``runner.map_shards(fn,
shards, shared)``: ``fn(shard, **shared)`` for every shard, results in shard order. The
stages join the results in that order, so a build gives the same artifact on either runner.
``shared`` holds the large read-only inputs (models, logs): Ray puts them in its object
store once instead of shipping them with every shard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

R = TypeVar("R")


class Runner(Protocol):
    name: str
    workers: int  # how many shards run at once

    def map_shards(
        self, fn: Callable[..., R], shards: Sequence[Any], shared: dict[str, Any]
    ) -> list[R]: ...


class LocalRunner:
    """Every shard in this process, one after the other."""

    name = "local"
    workers = 1

    def map_shards(
        self, fn: Callable[..., R], shards: Sequence[Any], shared: dict[str, Any]
    ) -> list[R]:
        return [fn(shard, **shared) for shard in shards]


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous [start, stop) ranges covering range(n), sizes differing by <= 1."""
    parts = max(1, min(parts, n)) if n else 1
    bounds = [n * k // parts for k in range(parts + 1)]
    return [(bounds[k], bounds[k + 1]) for k in range(parts)]
