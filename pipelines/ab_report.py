"""`recsys ab-report`: per-variant online metrics, SRM check and interleaving preference.

``build_report`` turns the event store's two frames into a JSON-ready dict (the numbers
and their definitions come from ``recsys.experiments.analysis``); ``render_table`` prints it as a
fixed-width table and ``plot_report`` draws CTR, NDCG@10 and the interleaving win rate with
their 95% intervals. The command reads the store, so it works on a copy of a live database.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import polars as pl
import typer
from matplotlib.figure import Figure

from pipelines.evaluation_report import to_jsonable
from recsys.core.errors import InputDataError, RecsysError
from recsys.events.schema import EXPOSURE_ROUTES
from recsys.experiments.analysis import analyze_experiment
from recsys.experiments.config import ExperimentConfig
from recsys.experiments.loading import load_experiments

DASH = "–"
PLOTTED = (("ctr", "CTR"), ("ndcg@10", "NDCG@10 from clicks"))


def build_report(
    exposures: pl.DataFrame,
    events: pl.DataFrame,
    config: ExperimentConfig,
    experiment_key: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    surface: str | None = None,
) -> dict[str, Any]:
    """The analysis of ``experiment_key`` (every configured experiment when None), over the
    pages of one ``surface`` (exposure route: search, recommendations) or of all.

    Exposures naming an experiment missing from the config are listed, not analysed: the
    SRM check and the control need the configured variants and weights.
    """
    if surface is not None:
        if surface not in EXPOSURE_ROUTES:
            raise InputDataError("--surface", f"must be one of {', '.join(EXPOSURE_ROUTES)}")
        exposures = exposures.filter(pl.col("route") == surface)
    chosen = [config.get(experiment_key)] if experiment_key else list(config.experiments)
    logged = exposures["experiment"].drop_nulls().unique().sort().to_list()
    known = {e.key for e in config.experiments}
    return {
        "surface": surface or "all",
        "exposures": exposures.height,
        "events": events.height,
        "experiments": [analyze_experiment(exposures, events, e, n_boot, seed) for e in chosen],
        "unconfigured_experiments": [k for k in logged if k not in known],
    }


def _ci(summary: dict[str, float] | None, signed: bool = False, digits: int = 4) -> str:
    if not summary or summary.get("mean") is None or math.isnan(summary["mean"]):
        return DASH
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    low, high = summary.get("low"), summary.get("high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return f.format(summary["mean"])
    mark = " *" if signed and (low > 0 or high < 0) else ""
    return f"{f.format(summary['mean'])} [{f.format(low)}, {f.format(high)}]{mark}"


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    """Fixed-width columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]


def _p(value: float | None) -> str:
    return DASH if value is None else f"{value:.3g}"


def render_table(report: dict[str, Any]) -> str:
    """Plain-text report: one block per experiment."""
    lines: list[str] = []
    for exp in report["experiments"]:
        lines += [
            f"Experiment {exp['experiment']} ({exp['status']}, {report.get('surface', 'all')} "
            f"pages); control: {exp['control']}; "
            f"impressions from {exp['impressions_from']}; 95% CIs bootstrap over users",
            "",
        ]
        header = ["variant", "rankers", "users", "exposures", "impressions", "clicks"]
        header += ["CTR", "play rate", "NDCG@10"]
        rows = []
        for name, v in exp["variants"].items():
            m = v["metrics"]
            rows.append(
                [
                    name,
                    " vs ".join(v["rankers"]) or DASH,
                    *(f"{v[k]:,}" for k in ("users", "exposures", "impressions", "clicks")),
                    *(_ci(m[k]) for k in ("ctr", "play_rate", "ndcg@10")),
                ]
            )
        lines += _grid(header, rows)
        diffs = [(n, v["vs_control"]) for n, v in exp["variants"].items() if "vs_control" in v]
        if diffs:
            lines += ["", f"Difference vs {exp['control']} (* = CI excludes 0)"]
            lines += _grid(
                ["variant", "Δ CTR", "Δ play rate", "Δ NDCG@10"],
                [
                    [n, *(_ci(d[k], signed=True) for k in ("ctr", "play_rate", "ndcg@10"))]
                    for n, d in diffs
                ],
            )
        srm = exp["srm"]
        observed = " / ".join(
            f"{n} {srm['observed'][n]:,} (exp. {srm['expected'][n]:,.1f})" for n in srm["observed"]
        )
        verdict = "MISMATCH - do not trust the results" if srm["mismatch"] else "ok"
        if srm.get("small_sample"):
            verdict += " (too few users for the chi-square approximation)"
        lines += ["", f"SRM: {verdict}; chi-square p = {_p(srm['p_value'])}; users {observed}"]
        for name, il in exp["interleaving"].items():
            a, b = il["baseline"], il["challenger"]
            votes, wins = il["user_votes"], il["impression_wins"]
            sig = "significant" if il["significant"] else "not significant"
            lines += [
                f"Interleaving {name}: {b} vs {a}: {b} win rate {_ci(il['win_rate'], digits=3)}, "
                f"binomial p = {_p(il['p_value'])} ({sig}); user votes {b} {votes[b]:,}, "
                f"{a} {votes[a]:,}, tie {votes['tie']:,}; impressions won {b} {wins[b]:,}, "
                f"{a} {wins[a]:,}, tie {wins['tie']:,}"
            ]
            margin = il.get("margin") or {}
            if margin.get("mean") is not None:
                msig = "significant" if margin["significant"] else "not significant"
                lines.append(
                    f"  per-user win margin ({b} - {a} pages won): "
                    f"{_ci(margin, signed=True, digits=3)}, t-test p = {_p(margin['p_value'])} "
                    f"({msig})"
                )
        excluded = exp["excluded"]
        if excluded["users_in_several_variants"] or excluded["unknown_variants"]:
            lines.append(
                f"Excluded: {excluded['users_in_several_variants']} users seen in several "
                f"variants; unknown variants: {', '.join(excluded['unknown_variants']) or 'none'}"
            )
        lines.append("")
    if report.get("unconfigured_experiments"):
        lines.append(f"Not in the config: {', '.join(report['unconfigured_experiments'])}")
    if not report["experiments"]:
        lines.append("No experiments configured.")
    return "\n".join(lines).rstrip() + "\n"


def _bars(ax: Any, names: list[str], stats: list[dict[str, float]], title: str) -> None:
    def value(s: dict[str, float], key: str) -> float:
        x = s.get(key)
        return math.nan if x is None else float(x)

    means = np.array([value(s, "mean") for s in stats])
    lows = np.array([value(s, "low") for s in stats])
    highs = np.array([value(s, "high") for s in stats])
    err = np.nan_to_num(np.clip(np.stack([means - lows, highs - means]), 0.0, None))
    ax.bar(names, np.nan_to_num(means), yerr=err, capsize=4)
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)


def plot_report(report: dict[str, Any], path: Path) -> Path:
    """One PNG row per experiment: CTR and NDCG@10 per variant, interleaving win rate."""
    experiments = report["experiments"] or [None]
    fig = Figure(figsize=(13.0, 3.8 * len(experiments)))
    axes = fig.subplots(len(experiments), 3, squeeze=False)
    for row, exp in zip(axes, experiments, strict=True):
        if exp is None:
            for ax in row:
                ax.set_axis_off()
            row[1].text(0.5, 0.5, "no experiments", ha="center")
            continue
        names = list(exp["variants"])
        for ax, (key, label) in zip(row[:2], PLOTTED, strict=True):
            stats = [exp["variants"][n]["metrics"][key] for n in names]
            _bars(ax, names, stats, f"{exp['experiment']}: {label} (95% CI)")
        ax = row[2]
        if exp["interleaving"]:
            labels = [
                f"{n}\n{il['challenger']} vs {il['baseline']}"
                for n, il in exp["interleaving"].items()
            ]
            stats = [il["win_rate"] for il in exp["interleaving"].values()]
            _bars(ax, labels, stats, "interleaving: challenger win rate (95% CI)")
            ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
            ax.set_ylim(0, 1)
        else:
            ax.set_axis_off()
            ax.text(0.5, 0.5, "no interleaving variant", ha="center")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=110)
    return path


def _read_store(db: Path | str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(exposures, events) from the store (a SQLite file or a PostgreSQL URL); never
    creates an empty one."""
    from recsys.history.logged_events import read_store

    events, exposures = read_store(db)
    return exposures, events


def ab_report(
    db: Annotated[
        str | None,
        typer.Option(
            help="events store: a SQLite file or postgresql://... (default $RECSYS_EVENTS_URL, "
            "$RECSYS_EVENTS_DB or var/events.sqlite3)"
        ),
    ] = None,
    experiments: Annotated[
        Path | None, typer.Option(help="experiments TOML (default: the shipped one)")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option(help="only this experiment key (default: all)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    plot: Annotated[Path | None, typer.Option(help="also write a PNG plot here")] = None,
    n_boot: Annotated[int, typer.Option(min=100, help="bootstrap replicates")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap seed")] = 0,
    surface: Annotated[
        str | None,
        typer.Option(help="only pages of this surface: search, recommendations (default: all)"),
    ] = None,
) -> None:
    """Per-variant users, impressions, CTR, play rate and NDCG@10 with 95% CIs, the
    sample-ratio-mismatch check and the interleaving win rate."""
    from api.settings import Settings

    try:
        config = load_experiments(experiments)
        exposures, events = _read_store(db or Settings().event_store_target())
        report = build_report(exposures, events, config, experiment, n_boot, seed, surface)
        if plot is not None:
            plot_report(report, plot)
    except (RecsysError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    if as_json:
        typer.echo(json.dumps(to_jsonable(report), indent=2, allow_nan=False))
    else:
        typer.echo(render_table(report), nl=False)
    if plot is not None:
        typer.echo(f"plot: {plot}", err=as_json)
