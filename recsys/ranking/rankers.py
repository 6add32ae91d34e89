"""Stage 7: rankers. One protocol, one return shape: ``score(features) -> (n,) float64``.

* ``LightGBMRanker``   LambdaMART (LightGBM ``lambdarank``) trained on temporal-split lists
* ``NoOpRanker``       the candidate sources' own order (best source rank first)
* ``PopularityRanker`` most consumed in the last year first

All read the same feature matrix (columns named by ``feature_names``), so any of them can
serve a list, and an A/B test can swap one for another by name.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic.dataclasses import dataclass as pydantic_dataclass

from recsys.core.config import SECTION
from recsys.core.errors import ArtifactError
from recsys.core.progress import Progress


class Ranker(Protocol):
    name: str
    feature_names: tuple[str, ...]

    def score(self, features: np.ndarray) -> np.ndarray:
        """Higher is better; one float per row of ``features`` (n, len(feature_names))."""
        ...


def _column(feature_names: Sequence[str], name: str) -> int:
    try:
        return list(feature_names).index(name)
    except ValueError:
        raise ArtifactError(f"feature {name!r} is not in this feature list") from None


def _check(features: np.ndarray, feature_names: Sequence[str]) -> None:
    if features.ndim != 2 or features.shape[1] != len(feature_names):
        raise ValueError(
            f"expected a (n, {len(feature_names)}) feature matrix, got {features.shape}"
        )


class NoOpRanker:
    """Keeps the candidate sources' order: the best (lowest) rank any source gave the item
    first. Reads the ``*_rank`` columns (or ``query_rank`` for search lists)."""

    name = "noop"

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self._ranks = [i for i, f in enumerate(self.feature_names) if f.endswith("_rank")]
        if not self._ranks:
            raise ArtifactError("the no-op ranker needs at least one *_rank feature")

    def score(self, features: np.ndarray) -> np.ndarray:
        _check(features, self.feature_names)
        ranks = np.where(np.isnan(features[:, self._ranks]), np.inf, features[:, self._ranks])
        best = ranks.min(axis=1) if len(features) else np.zeros(0)
        return np.where(np.isfinite(best), -best, -1e9).astype(np.float64)


class PopularityRanker:
    """Most consumed in the last year, then all time."""

    name = "popularity"

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self._recent = _column(self.feature_names, "item_pop_365d")
        self._all = _column(self.feature_names, "item_pop_all")

    def score(self, features: np.ndarray) -> np.ndarray:
        _check(features, self.feature_names)
        recent = np.nan_to_num(features[:, self._recent])
        total = np.nan_to_num(features[:, self._all])
        return (recent + 1e-3 * total).astype(np.float64)


class EaseRanker:
    """EASE alone: the candidates by their EASE score (the strongest single collaborative
    model offline), then by the sources' order for the ones EASE did not score. The
    challenger of the default experiment: what LightGBM must beat to earn its place."""

    name = "ease"

    def __init__(self, feature_names: Sequence[str]) -> None:
        self.feature_names = tuple(feature_names)
        self._ease = _column(self.feature_names, "ease_score")
        self._fallback = NoOpRanker(feature_names)

    def score(self, features: np.ndarray) -> np.ndarray:
        _check(features, self.feature_names)
        ease = features[:, self._ease]
        # unscored candidates below every scored one, in the sources' order among themselves
        best_rank = -self._fallback.score(features)  # 1, 2, ... (1e9: no source rank)
        below = ease[~np.isnan(ease)].min(initial=0.0) - 0.5
        fallback = below - best_rank / (best_rank + 1.0)  # in (below - 1, below - 0.5]
        return np.where(np.isnan(ease), fallback, ease).astype(np.float64)


@pydantic_dataclass(frozen=True, config=SECTION)
class LightGBMParams:
    """Hyperparameters (recsys/defaults/recsys.toml [ranker]); passed to lightgbm as is."""

    objective: str = "lambdarank"
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_data_in_leaf: int = 50
    feature_fraction: float = 0.8
    bagging_fraction: float = 0.8
    bagging_freq: int = 1
    lambda_l2: float = 1.0
    lambdarank_truncation_level: int = 20
    num_boost_round: int = 300
    early_stopping_rounds: int = 30
    eval_at: tuple[int, ...] = (10,)
    num_threads: int = 0  # 0 = LightGBM's default (all cores)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def lightgbm_params(self) -> dict[str, Any]:
        return {
            "objective": self.objective,
            "metric": "ndcg",
            "eval_at": list(self.eval_at),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "lambdarank_truncation_level": self.lambdarank_truncation_level,
            "num_threads": self.num_threads,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "verbosity": -1,
            **self.extra,
        }


class LightGBMRanker:
    name = "lightgbm"

    def __init__(self, booster: Any, feature_names: Sequence[str]) -> None:
        self.booster = booster
        self.feature_names = tuple(feature_names)
        if list(booster.feature_name()) != list(self.feature_names):
            raise ArtifactError("the LightGBM model was trained on a different feature list")

    @classmethod
    def train(
        cls,
        features: np.ndarray | list[np.ndarray],
        labels: np.ndarray,
        groups: np.ndarray,
        feature_names: Sequence[str],
        params: LightGBMParams | None = None,
        valid: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        weights: np.ndarray | None = None,
    ) -> LightGBMRanker:
        """``groups`` holds the length of each consecutive list (one per user or query);
        ``weights`` (one per row) scale each row's gradients (inverse propensities).
        ``features`` may come as a list of row blocks (their rows in order), not copied."""
        import lightgbm as lgb

        params = params or LightGBMParams()
        names = list(feature_names)
        train_set = lgb.Dataset(features, labels, group=groups, feature_name=names, weight=weights)
        callbacks: list[Callable[..., Any]] = [_progress(params.num_boost_round)]
        valid_sets = []
        if valid is not None:
            valid_sets = [lgb.Dataset(valid[0], valid[1], group=valid[2], reference=train_set)]
            callbacks.append(lgb.early_stopping(params.early_stopping_rounds, verbose=False))
        booster = lgb.train(
            params.lightgbm_params(),
            train_set,
            num_boost_round=params.num_boost_round,
            valid_sets=valid_sets,
            callbacks=callbacks,
        )
        return cls(booster, names)

    def score(self, features: np.ndarray) -> np.ndarray:
        _check(features, self.feature_names)
        if not len(features):
            return np.zeros(0)
        return np.asarray(self.booster.predict(features, num_threads=1), dtype=np.float64)

    def importance(self) -> dict[str, float]:
        gains = self.booster.feature_importance(importance_type="gain")
        total = float(gains.sum()) or 1.0
        return {
            n: round(float(g) / total, 4) for n, g in zip(self.feature_names, gains, strict=True)
        }

    def save(self, path: Path) -> None:
        self.booster.save_model(str(path))

    @classmethod
    def load(cls, path: Path, feature_names: Sequence[str]) -> LightGBMRanker:
        import lightgbm as lgb

        try:
            booster = lgb.Booster(model_file=str(path))
        except lgb.basic.LightGBMError as exc:
            raise ArtifactError(f"cannot load ranker model {path}: {exc}") from exc
        return cls(booster, feature_names)


def baseline_rankers(feature_names: Sequence[str]) -> dict[str, Ranker]:
    return {
        NoOpRanker.name: NoOpRanker(feature_names),
        PopularityRanker.name: PopularityRanker(feature_names),
        EaseRanker.name: EaseRanker(feature_names),
    }


# The one declaration of which ranker names each surface can serve (the names themselves are
# the classes' ``name``). Search has the personal LightGBM ranker or retrieval order.
RECOMMENDATION_RANKERS = (
    LightGBMRanker.name,
    NoOpRanker.name,
    PopularityRanker.name,
    EaseRanker.name,
)
SEARCH_RANKERS = (LightGBMRanker.name, NoOpRanker.name)


def _progress(rounds: int) -> Callable[[Any], None]:
    """A LightGBM callback reporting trees built, rate and time left (``recsys.core.progress``)."""
    progress = Progress(rounds, "LambdaMART", unit="trees")

    def callback(env: Any) -> None:
        progress.advance()
        if env.iteration + 1 >= env.end_iteration:
            progress.close()

    return callback
