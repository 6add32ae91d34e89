"""Online experiments: declaration (``recsys/defaults/experiments.toml``), deterministic
assignment.

Why hashing and not a stored table: a user's variant must be the same on every replica and
after every restart without any shared state, so it is a pure function of the config and the
user id. ``bucket`` hashes ``f"{salt}:{key}:{user_id}"`` with SHA-256 into 10,000 buckets
(never Python's ``hash()``, which is salted per process).

Assignment happens in two independent draws:

1. **Layer (traffic gate).** Experiments sharing a ``layer`` are mutually exclusive: a user's
   layer bucket (hash of the layer's salt and name) falls into at most one experiment's range.
   Ranges are contiguous, laid out in file order, each ``round(traffic * 10000)`` buckets
   wide; a layer's traffic must sum to <= 1. Stopped experiments keep their range (its users
   get no experiment), so stopping one never reshuffles the users of the others; appending a
   new experiment to a layer is safe, editing an earlier one's traffic moves later ranges.
   Experiments in different layers are independent (a user can be in one per layer).
2. **Variant.** Inside the range, the experiment's own bucket (hash of its salt, key and user)
   picks a variant by cumulative weight. Being a second hash, it is independent of the gate,
   so every variant sees the same mix of users.

When several layers have a running experiment for a surface, the first layer in file order
(order of first appearance) that assigns the user wins; ``assign`` returns at most one.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from recsys.core.errors import InputDataError, InvalidRequestError, NotFoundError

BUCKETS = 10_000
DEFAULT_LAYER = "default"
SURFACES: tuple[str, ...] = ("search", "recommendations")
STATUSES: tuple[str, ...] = ("running", "stopped")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # safe in URL paths and query strings


def bucket(salt: str, key: str, user_id: str) -> int:
    """Stable bucket in ``[0, BUCKETS)`` for a user (first 8 bytes of SHA-256, mod 10,000)."""
    digest = hashlib.sha256(f"{salt}:{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def _check_name(kind: str, value: str) -> None:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{kind} {value!r} must match {_NAME.pattern}")


@dataclass(frozen=True)
class Variant:
    """One arm: a ranker and/or retrieval configuration, or an interleaving of two rankers.

    ``None`` for ranker or retrieval means the service default. ``interleave = (a, b)``
    team-draft interleaves ranker ``a`` (baseline) with ranker ``b`` (challenger); the
    analysis reports ``b``'s win rate.
    """

    name: str
    weight: float
    ranker: str | None = None
    retrieval: str | None = None
    interleave: tuple[str, str] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("variant name", self.name)
        if not self.weight > 0:
            raise ValueError(f"variant {self.name!r}: weight must be > 0, got {self.weight}")
        if self.interleave is not None:
            if len(self.interleave) != 2 or self.interleave[0] == self.interleave[1]:
                raise ValueError(
                    f"variant {self.name!r}: interleave needs two different rankers, "
                    f"got {list(self.interleave)}"
                )
            if self.ranker is not None:
                raise ValueError(f"variant {self.name!r}: set either ranker or interleave")
        elif self.ranker is None and self.retrieval is None:
            raise ValueError(f"variant {self.name!r}: set a ranker, a retrieval or interleave")

    @property
    def rankers(self) -> tuple[str, ...]:
        if self.interleave is not None:
            return self.interleave
        return () if self.ranker is None else (self.ranker,)


@dataclass(frozen=True)
class Experiment:
    key: str
    salt: str
    traffic: float
    surfaces: tuple[str, ...]
    variants: tuple[Variant, ...]
    layer: str = DEFAULT_LAYER
    status: str = "running"
    description: str = ""
    _bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_name("experiment key", self.key)
        if not self.salt:
            raise ValueError("salt must be a non-empty string")
        if not 0 < self.traffic <= 1:
            raise ValueError(f"traffic must be in (0, 1], got {self.traffic}")
        if round(self.traffic * BUCKETS) == 0:
            raise ValueError(f"traffic {self.traffic} is below one bucket (1/{BUCKETS})")
        bad = sorted(set(self.surfaces) - set(SURFACES))
        if not self.surfaces or bad or len(set(self.surfaces)) != len(self.surfaces):
            raise ValueError(
                f"surfaces must be distinct values among {list(SURFACES)}, got "
                f"{list(self.surfaces)}"
            )
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {list(STATUSES)}, got {self.status!r}")
        if not self.layer:
            raise ValueError("layer must be a non-empty string")
        if not self.variants:
            raise ValueError("needs at least one variant")
        names = [v.name for v in self.variants]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate variant names: {', '.join(dupes)}")
        total = sum(v.weight for v in self.variants)
        cumulative, bounds = 0.0, []
        for v in self.variants:
            cumulative += v.weight
            bounds.append(round(cumulative / total * BUCKETS))
        bounds[-1] = BUCKETS
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def buckets(self) -> int:
        """Width of this experiment's range in its layer."""
        return round(self.traffic * BUCKETS)

    def shares(self) -> dict[str, float]:
        """Variant name -> weight normalised to sum to 1 (the expected split of users)."""
        total = sum(v.weight for v in self.variants)
        return {v.name: v.weight / total for v in self.variants}

    def variant(self, name: str) -> Variant:
        for v in self.variants:
            if v.name == name:
                return v
        raise InvalidRequestError(
            f"experiment {self.key!r} has no variant {name!r} "
            f"(variants: {', '.join(v.name for v in self.variants)})"
        )

    def pick(self, user_id: str) -> Variant:
        """The variant for a user already admitted by the traffic gate."""
        index = bisect_right(self._bounds, bucket(self.salt, self.key, user_id))
        return self.variants[index]


@dataclass(frozen=True)
class Assignment:
    """A user's (or a forced) arm; ``forced`` ones come from ``variant=`` and should not be
    logged as randomized exposures, or they would bias the analysis."""

    experiment: str
    variant: str
    config: Variant
    forced: bool = False


@dataclass(frozen=True)
class ExperimentConfig:
    experiments: tuple[Experiment, ...] = ()
    layer_salts: dict[str, str] = field(default_factory=dict)
    _ranges: dict[str, tuple[int, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [e.key for e in self.experiments]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"duplicate experiment keys: {', '.join(dupes)}")
        ranges: dict[str, tuple[int, int]] = {}
        used: dict[str, int] = {}
        for e in self.experiments:
            start = used.get(e.layer, 0)
            ranges[e.key] = (start, start + e.buckets)
            used[e.layer] = start + e.buckets
        for layer, total in used.items():
            if total > BUCKETS:
                members = [f"{e.key}={e.traffic}" for e in self.experiments if e.layer == layer]
                raise ValueError(
                    f"layer {layer!r}: traffic sums to {total / BUCKETS:g} > 1 "
                    f"({', '.join(members)}); lower traffic or use another layer"
                )
        object.__setattr__(self, "_ranges", ranges)

    @property
    def layers(self) -> list[str]:
        """Layer names in order of first appearance (the precedence order of ``assign``)."""
        return list(dict.fromkeys(e.layer for e in self.experiments))

    def get(self, key: str) -> Experiment:
        for e in self.experiments:
            if e.key == key:
                return e
        known = ", ".join(e.key for e in self.experiments) or "none"
        raise NotFoundError(f"unknown experiment {key!r} (configured: {known})")

    def layer_bucket(self, layer: str, user_id: str) -> int:
        return bucket(self.layer_salts.get(layer, layer), f"layer/{layer}", user_id)

    def assign_experiment(self, key: str, user_id: str) -> Assignment | None:
        """The user's variant in experiment ``key``, or None when the user is outside its
        traffic or the experiment is stopped. Unknown key -> NotFoundError."""
        e = self.get(key)
        start, end = self._ranges[key]
        if not e.running or not start <= self.layer_bucket(e.layer, user_id) < end:
            return None
        v = e.pick(user_id)
        return Assignment(e.key, v.name, v)

    def assign(self, user_id: str | None, surface: str) -> Assignment | None:
        """The running experiment on ``surface`` this user falls into (first layer wins).

        Anonymous requests (``user_id`` None) get no experiment: the user is the
        randomization unit and the analysis counts users.
        """
        if surface not in SURFACES:
            raise ValueError(f"surface must be one of {list(SURFACES)}, got {surface!r}")
        if user_id is None:
            return None
        for layer in self.layers:
            b = self.layer_bucket(layer, user_id)
            for e in self.experiments:
                start, end = self._ranges[e.key]
                if e.layer == layer and start <= b < end:
                    if e.running and surface in e.surfaces:
                        v = e.pick(user_id)
                        return Assignment(e.key, v.name, v)
                    break
        return None

    def force(self, key: str, variant_name: str) -> Assignment:
        """QA override: variant ``variant_name`` of experiment ``key`` (stopped ones too)."""
        v = self.get(key).variant(variant_name)
        return Assignment(key, v.name, v, forced=True)

    def force_on(self, surface: str, variant_name: str) -> Assignment:
        """QA override without a key (``?variant=``): the first running experiment on the
        surface, in layer precedence order, that has a variant of that name."""
        running = self.running(surface)
        for e in sorted(running, key=lambda e: self.layers.index(e.layer)):
            if any(v.name == variant_name for v in e.variants):
                return self.force(e.key, variant_name)
        offered = sorted({v.name for e in running for v in e.variants})
        raise InvalidRequestError(
            f"no running experiment on {surface} has variant {variant_name!r} "
            f"(variants: {', '.join(offered) or 'none'})"
        )

    def running(self, surface: str | None = None) -> list[Experiment]:
        return [e for e in self.experiments if e.running and (surface in e.surfaces or not surface)]

    def check_names(
        self, rankers: Collection[str] | None, retrievals: Collection[str] | None
    ) -> None:
        """Raise InputDataError when a variant names a ranker or retrieval outside the given
        sets (None skips that check). The service can call this again once it knows which
        rankers its artifact actually provides."""
        problems = []
        for e in self.experiments:
            for v in e.variants:
                if rankers is not None:
                    problems += [
                        f"{e.key}/{v.name}: unknown ranker {r!r} (known: "
                        f"{', '.join(sorted(rankers))})"
                        for r in v.rankers
                        if r not in rankers
                    ]
                if retrievals is not None and v.retrieval not in (None, *retrievals):
                    problems.append(
                        f"{e.key}/{v.name}: unknown retrieval {v.retrieval!r} (known: "
                        f"{', '.join(sorted(retrievals))})"
                    )
        if problems:
            raise InputDataError("experiments", "; ".join(problems))

    def to_public(self) -> dict[str, Any]:
        """The ``GET /v1/experiments`` body; weights are normalised shares of the users."""
        return {
            "experiments": [
                {
                    "key": e.key,
                    "traffic": e.traffic,
                    "status": e.status,
                    "surfaces": list(e.surfaces),
                    "layer": e.layer,
                    "variants": [
                        {"name": name, "weight": round(share, 6)}
                        for name, share in e.shares().items()
                    ],
                }
                for e in self.experiments
            ]
        }
