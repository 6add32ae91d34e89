"""Model configuration: candidate sizes, CF and feature knobs, ranker hyperparameters, split.

Each section is declared next to the code it configures (``recsys.core.config``); this module
gathers them. Defaults live in the sections; ``recsys/defaults/recsys.toml`` (or ``--config
FILE``) overrides any subset, validated by pydantic. The resolved configuration is recorded in
each artifact's manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION, load_toml, validate_config
from recsys.defaults import DEFAULT_CONFIG
from recsys.ranking.features import FeatureConfig
from recsys.ranking.rankers import LightGBMParams
from recsys.ranking.search_training import SearchTrainingConfig
from recsys.recommend.candidates import CandidateConfig


@pydantic_dataclass(frozen=True, config=SECTION)
class CFConfig:
    ease_l2: float = 500.0
    ease_min_count: int = 2  # items with fewer consumptions stay out of EASE
    ease_top_k: int = 200  # neighbours kept per item in the served (pruned) EASE model
    # EASE is dense (n^2 floats): at most this many of the most consumed items (15,000: a
    # 1.8 GB float64 model; at most 16,000, where scipy's LAPACK still works; the demo has
    # fewer than 15,000 items with 2+ consumptions, all kept)
    ease_max_items: int = Field(default=15_000, ge=1, le=16_000)
    covis_window: int = 10  # positions apart in a user's sequence that still co-visit
    covis_top_k: int = 100
    covis_popularity_alpha: float = 0.5


@pydantic_dataclass(frozen=True, config=SECTION)
class SplitConfig:
    holdout: int = 10  # last N consumptions per user become labels
    min_history: int = 5  # users with fewer earlier consumptions are not used
    valid_share: float = 0.15  # users kept aside for LightGBM early stopping
    # graded labels: a held-out rating at or above this is "liked" (label 2), any other
    # consumption 1, the rest 0; None: every consumption 1 (binary)
    liked_rating: float | None = 4.0
    # training lists (recommendations and personal search) from a seeded sample of at most
    # this many users: list building and LambdaMART grow with it, not with the log
    max_training_users: int = Field(default=20_000, ge=10)
    sample_seed: int = 0


@pydantic_dataclass(frozen=True, config=SECTION)
class RecsysConfig:
    candidates: CandidateConfig = field(default_factory=CandidateConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    cf: CFConfig = field(default_factory=CFConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    ranker: LightGBMParams = field(default_factory=LightGBMParams)
    search_training: SearchTrainingConfig = field(default_factory=SearchTrainingConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config") -> RecsysConfig:
        return validate_config(cls, data, source)

    @classmethod
    def load(cls, path: Path | None = None) -> RecsysConfig:
        """Read a TOML file; with no path, the shipped recsys/defaults/recsys.toml."""
        if path is None:
            if not DEFAULT_CONFIG.is_file():
                return cls()
            path = DEFAULT_CONFIG
        return cls.from_dict(load_toml(path), str(path))
