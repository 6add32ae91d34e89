"""A/B and interleaving analysis over logged exposures and events (pure, frames in).

Units and definitions (why: the user is the randomization unit, so every interval resamples
users, never requests or clicks, which are correlated within a user):

* Events are placed on served pages, and impressions, clicks, plays and per-page NDCG
  counted, by ``recsys.experiments.outcomes``.
* **CTR** = clicks / impressions and **play rate** = plays / impressions, both ratios of
  sums over the variant's users (a heavy user weighs by their traffic, as in a dashboard).
* **NDCG@10 from clicks**, per exposure with at least one click: DCG of the clicked
  positions (gain 1 / log2(position + 2), positions < 10) over the ideal DCG of the same
  number of clicks at the top. Exposures without clicks have no NDCG (that is CTR's job);
  it is averaged per user first, then over users with at least one clicked exposure.
* **95% CI**: percentile bootstrap resampling users (``n_boot`` replicates, seedable). A
  difference vs control resamples the two groups independently (different users).
* **SRM**: chi-square goodness of fit of users per configured variant against the weights;
  flagged when p < 0.001 (the usual threshold: rare by chance, and the split is a bug).
* **Interleaving**: an impression is won by the team with more credited clicks. Each user
  casts one vote, for the team that won more of their impressions (ties abstain); the win
  rate is the challenger's share of votes, with a two-sided exact binomial test against
  0.5 and a Clopper-Pearson CI. Votes per user, not per impression, because impressions of
  one user are not independent and counting them separately overstates significance.

Users seen in more than one variant (a config change, or forced variants logged as real
exposures) are dropped from the experiment's analysis and counted in ``excluded``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl
from scipy import stats

from recsys.evaluation.offline import CI_LEVEL, MetricSummary
from recsys.experiments.config import Experiment
from recsys.experiments.outcomes import exposure_outcomes, user_table

SRM_THRESHOLD = 0.001
ALPHA = 0.05
METRICS = ("ctr", "play_rate", "ndcg@10")
_BOOT_CELLS = 5_000_000  # replicates x users drawn per chunk (bounds memory)


def _replicate_sums(values: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, m) column sums of ``values`` (n_users, m) over bootstrap resamples of rows,
    drawn in chunks so that memory stays bounded for large experiments."""
    n = values.shape[0]
    if n == 0:
        return np.full((n_boot, values.shape[1]), np.nan)
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // n)
    out = []
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(size, n))
        flat = (draws + np.arange(size)[:, None] * n).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(np.float64)
        out.append(counts @ values)
    return np.concatenate(out)


def _summary(point: float, replicates: np.ndarray) -> MetricSummary:
    tail = (1.0 - CI_LEVEL) / 2 * 100
    finite = replicates[np.isfinite(replicates)]
    if not math.isfinite(point) or finite.size == 0:
        return MetricSummary(point, math.nan, math.nan)
    low, high = np.percentile(finite, [tail, 100 - tail])
    return MetricSummary(point, float(low), float(high))


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def variant_metrics(
    users: pl.DataFrame, impressions: str, n_boot: int, seed: int
) -> tuple[dict[str, MetricSummary], dict[str, np.ndarray]]:
    """CTR, play rate and NDCG@10 of one variant's users, and their bootstrap replicates."""
    sums = users.select(pl.col("clicks", "plays", impressions).cast(pl.Float64)).to_numpy()
    sums = sums.reshape(-1, 3)
    total = sums.sum(axis=0)
    reps = _replicate_sums(sums, n_boot, seed)
    ndcg = users["ndcg"].drop_nulls().to_numpy().astype(np.float64)
    ndcg_reps = _replicate_sums(ndcg[:, None], n_boot, seed + 1)[:, 0] / max(ndcg.size, 1)
    points = {
        "ctr": float(_ratio(total[0:1], total[2:3])[0]),
        "play_rate": float(_ratio(total[1:2], total[2:3])[0]),
        "ndcg@10": float(ndcg.mean()) if ndcg.size else math.nan,
    }
    replicates = {
        "ctr": _ratio(reps[:, 0], reps[:, 2]),
        "play_rate": _ratio(reps[:, 1], reps[:, 2]),
        "ndcg@10": ndcg_reps if ndcg.size else np.full(n_boot, np.nan),
    }
    return {m: _summary(points[m], replicates[m]) for m in METRICS}, replicates


def srm_check(
    observed: Mapping[str, int], shares: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> dict[str, Any]:
    """Chi-square goodness of fit of users per variant against the configured shares."""
    names = list(shares)
    counts = np.array([observed.get(n, 0) for n in names], dtype=np.float64)
    total = counts.sum()
    expected = np.array([shares[n] for n in names]) / sum(shares.values()) * total
    result: dict[str, Any] = {
        "observed": {n: int(c) for n, c in zip(names, counts, strict=True)},
        "expected": {n: float(e) for n, e in zip(names, expected, strict=True)},
        "threshold": threshold,
        "chi2": None,
        "p_value": None,
        "mismatch": False,
        # Chi-square's approximation needs about 5 expected users per variant.
        "small_sample": bool(total == 0 or expected.min() < 5),
    }
    if len(names) >= 2 and total > 0:
        chi2, p = stats.chisquare(counts, expected)
        result.update(chi2=float(chi2), p_value=float(p), mismatch=bool(p < threshold))
    return result


def user_votes(
    outcomes: pl.DataFrame, labels: tuple[str, str], aliases: Mapping[str, str] | None = None
) -> pl.DataFrame:
    """Per user of an interleaving variant: impressions won by each side, ties, and the
    vote (+1 challenger ``labels[1]``, -1 baseline ``labels[0]``, 0 abstain).

    A logged team matches a side by ranker name, by the generic "a"/"b", or through
    ``aliases`` (team -> ranker name, e.g. the plain variant serving that ranker).
    """
    names = [{labels[0], "a"}, {labels[1], "b"}]
    for team, ranker in (aliases or {}).items():
        for side, label in enumerate(labels):
            if ranker == label:
                names[side].add(team)
    clicked = pl.col("clicked_teams")
    per_impression = outcomes.filter(pl.col("teams").is_not_null()).with_columns(
        clicked.list.eval(pl.element().is_in(sorted(names[0])).sum()).list.first().alias("ca"),
        clicked.list.eval(pl.element().is_in(sorted(names[1])).sum()).list.first().alias("cb"),
    )
    return (
        per_impression.group_by("user_id", maintain_order=True)
        .agg(
            pl.len().alias("impressions"),
            (pl.col("ca") > pl.col("cb")).sum().cast(pl.Int64).alias("wins_a"),
            (pl.col("cb") > pl.col("ca")).sum().cast(pl.Int64).alias("wins_b"),
        )
        .with_columns(
            (pl.col("impressions") - pl.col("wins_a") - pl.col("wins_b")).alias("ties"),
            (pl.col("wins_b") - pl.col("wins_a")).sign().cast(pl.Int64).alias("vote"),
        )
        .sort("user_id")
    )


def interleaving_preference(
    outcomes: pl.DataFrame,
    labels: tuple[str, str],
    alpha: float = ALPHA,
    aliases: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The challenger's (``labels[1]``) win rate over user votes (binomial test, exact CI),
    and the per-user win margin (t-test), the more sensitive of the two."""
    votes = user_votes(outcomes, labels, aliases)
    wins_b = int((votes["vote"] > 0).sum())
    wins_a = int((votes["vote"] < 0).sum())
    decided = wins_a + wins_b
    result: dict[str, Any] = {
        "baseline": labels[0],
        "challenger": labels[1],
        "unit": "user majority vote",
        "users": votes.height,
        "impressions": int(votes["impressions"].sum()),
        "impression_wins": {
            labels[0]: int(votes["wins_a"].sum()),
            labels[1]: int(votes["wins_b"].sum()),
            "tie": int(votes["ties"].sum()),
        },
        "user_votes": {labels[0]: wins_a, labels[1]: wins_b, "tie": votes.height - decided},
        "win_rate": MetricSummary(math.nan, math.nan, math.nan),
        "p_value": None,
        "significant": False,
    }
    if decided:
        test = stats.binomtest(wins_b, decided, 0.5)
        ci = test.proportion_ci(confidence_level=CI_LEVEL, method="exact")
        result["win_rate"] = MetricSummary(wins_b / decided, float(ci.low), float(ci.high))
        result["p_value"] = float(test.pvalue)
        result["significant"] = bool(test.pvalue < alpha)
    result["margin"] = _margin_test(
        (votes["wins_b"] - votes["wins_a"]).to_numpy().astype(np.float64), alpha
    )
    return result


def _margin_test(margins: np.ndarray, alpha: float) -> dict[str, Any]:
    """Per user, pages won by the challenger minus pages won by the baseline: mean with a
    t-interval and a one-sample t-test. Unlike the majority vote it weighs how strongly a
    user preferred a side (a user with nine wins counts more than one tipped by a single,
    possibly random, click); users stay the independent unit."""
    if margins.size < 2:
        return {"mean": None, "low": None, "high": None, "p_value": None, "significant": False}
    mean, se = float(margins.mean()), float(margins.std(ddof=1) / math.sqrt(margins.size))
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, margins.size - 1)) * se
    p = float(stats.ttest_1samp(margins, 0.0).pvalue) if se > 0 else (1.0 if mean == 0 else 0.0)
    return {
        "unit": "per-user page wins, challenger minus baseline",
        "mean": mean,
        "low": mean - half,
        "high": mean + half,
        "p_value": p,
        "significant": bool(p < alpha),
    }


def analyze_experiment(
    exposures: pl.DataFrame,
    events: pl.DataFrame,
    experiment: Experiment,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Everything ``recsys ab-report`` prints for one experiment, as a JSON-ready dict.

    The control is the variant named "control", else the first configured one.
    """
    outcomes = exposure_outcomes(exposures, events, experiment.key)
    spread = outcomes.group_by("user_id").agg(pl.col("variant").n_unique().alias("k"))
    mixed = spread.filter(pl.col("k") > 1)["user_id"]
    outcomes = outcomes.filter(~pl.col("user_id").is_in(mixed.implode()))
    users = user_table(outcomes)
    logged = int(outcomes["impression_events"].sum()) > 0
    impressions = "seen" if logged else "served"
    configured = [v.name for v in experiment.variants]
    seen_names = sorted(set(users["variant"].unique().to_list()) - set(configured))
    names = configured + seen_names
    control = "control" if "control" in configured else configured[0]

    summaries = _variant_summaries(users, experiment, names, control, impressions, n_boot, seed)
    aliases = {v.name: v.ranker for v in experiment.variants if v.ranker is not None}
    interleaving = {
        v.name: interleaving_preference(
            outcomes.filter(pl.col("variant") == v.name), v.interleave, alpha, aliases
        )
        for v in experiment.variants
        if v.interleave is not None
    }
    for entry in interleaving.values():
        entry["win_rate"] = entry["win_rate"].as_dict()
    observed = {n: summaries[n]["users"] for n in configured}
    return {
        "experiment": experiment.key,
        "status": experiment.status,
        "control": control,
        "impressions_from": "impression events" if logged else "served positions",
        "n_boot": n_boot,
        "variants": summaries,
        "srm": srm_check(observed, experiment.shares()),
        "interleaving": interleaving,
        "excluded": {"users_in_several_variants": mixed.len(), "unknown_variants": seen_names},
    }


def _variant_summaries(
    users: pl.DataFrame,
    experiment: Experiment,
    names: list[str],
    control: str,
    impressions: str,
    n_boot: int,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Per variant: counts, metrics with CIs and, but for the control, the difference."""
    summaries: dict[str, dict[str, Any]] = {}
    replicates: dict[str, dict[str, np.ndarray]] = {}
    for index, name in enumerate(names):
        group = users.filter(pl.col("variant") == name)
        metrics, replicates[name] = variant_metrics(group, impressions, n_boot, seed + 2 * index)
        v = next((v for v in experiment.variants if v.name == name), None)
        summaries[name] = {
            "mode": "unknown" if v is None else "interleave" if v.interleave else "ranker",
            "rankers": [] if v is None else list(v.rankers),
            "users": group.height,
            "exposures": int(group["exposures"].sum()),
            "impressions": int(group[impressions].sum()),
            "clicks": int(group["clicks"].sum()),
            "plays": int(group["plays"].sum()),
            "users_with_clicks": int(group["ndcg"].is_not_null().sum()),
            "metrics": {m: s.as_dict() for m, s in metrics.items()},
        }
    for name in names:
        if name == control:
            continue
        summaries[name]["vs_control"] = {
            m: _summary(
                summaries[name]["metrics"][m]["mean"] - summaries[control]["metrics"][m]["mean"],
                replicates[name][m] - replicates[control][m],
            ).as_dict()
            for m in METRICS
        }
    return summaries
