"""Model configuration: candidate sizes, CF and feature knobs, ranker hyperparameters, split.

Defaults live in the dataclasses; ``recsys/defaults/recsys.toml`` (or ``--config FILE``) overrides
any subset. The resolved configuration is recorded in each artifact's manifest.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.core.errors import InputDataError
from recsys.defaults import DEFAULT_CONFIG
from recsys.ranking.features import FeatureConfig
from recsys.ranking.rankers import LightGBMParams
from recsys.ranking.search_training import SearchTrainingConfig
from recsys.recommend.candidates import CandidateConfig


@dataclass(frozen=True)
class CFConfig:
    ease_l2: float = 500.0
    ease_min_count: int = 2  # items with fewer consumptions stay out of EASE
    ease_top_k: int = 200  # neighbours kept per item in the served (pruned) EASE model
    covis_window: int = 10  # positions apart in a user's sequence that still co-visit
    covis_top_k: int = 100
    covis_popularity_alpha: float = 0.5


@dataclass(frozen=True)
class SplitConfig:
    holdout: int = 10  # last N consumptions per user become labels
    min_history: int = 5  # users with fewer earlier consumptions are not used
    valid_share: float = 0.15  # users kept aside for LightGBM early stopping


@dataclass(frozen=True)
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
        sections: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            section_type = type(getattr(cls(), f.name))
            values = data.get(f.name, {})
            if not isinstance(values, dict):
                raise InputDataError(source, f"[{f.name}] must be a table")
            known = {x.name for x in dataclasses.fields(section_type)}
            unknown = sorted(set(values) - known)
            if unknown:
                raise InputDataError(source, f"unknown keys in [{f.name}]: {', '.join(unknown)}")
            values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
            try:
                sections[f.name] = section_type(**values)
            except TypeError as exc:
                raise InputDataError(source, f"[{f.name}]: {exc}") from exc
        unknown_sections = sorted(set(data) - set(sections))
        if unknown_sections:
            raise InputDataError(source, f"unknown sections: {', '.join(unknown_sections)}")
        return cls(**sections)

    @classmethod
    def load(cls, path: Path | None = None) -> RecsysConfig:
        """Read a TOML file; with no path, the shipped recsys/defaults/recsys.toml."""
        if path is None:
            if not DEFAULT_CONFIG.is_file():
                return cls()
            path = DEFAULT_CONFIG
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputDataError(str(path), f"cannot read config: {exc}") from exc
        return cls.from_dict(data, str(path))
