"""``recsys simulate``: the thin CLI over :mod:`pipelines.simulate` and the A/B report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from recsys.core.errors import RecsysError

SURFACES = ("recommendations", "search")


def format_sample_sizes(sizes: dict[str, Any]) -> str:
    lines = ["", "users needed for the verdict at 80% power (resampled, alpha 0.05):"]
    for name in ("ab", "interleaving", "interleaving_vote"):
        part = sizes.get(name)
        if not part:
            lines.append(f"  {name}: not measurable (variant missing or too few users)")
            continue
        users = part["users"]
        grid_max = sizes["grid"][-1]
        answer = f"{users} users" if users else f"more than {grid_max} users"
        lines.append(
            f"  {name:<13} {answer:<22} ({part['metric']}; observed {part['users_observed']})"
        )
    ratio = sizes.get("ratio_ab_to_interleaving")
    if ratio:
        lines.append(f"  A/B needs {ratio:.1f}x the users interleaving needs")
    return "\n".join(lines) + "\n"


def simulate(
    url: Annotated[str, typer.Option(help="the running service")] = "http://127.0.0.1:8000",
    holdout: Annotated[
        Path, typer.Option(help="held-out ratings (recsys holdout-data writes holdout.csv)")
    ] = Path("holdout.csv"),
    db: Annotated[
        str | None,
        typer.Option(
            help="the service's events store: a SQLite file or postgresql://... (default "
            "$RECSYS_EVENTS_URL, $RECSYS_EVENTS_DB or var/…)"
        ),
    ] = None,
    experiments: Annotated[
        Path | None, typer.Option(help="experiments TOML the service runs")
    ] = None,
    experiment: Annotated[
        str | None,
        typer.Option(help="experiment key (default: the one running on the surface)"),
    ] = None,
    surface: Annotated[
        str,
        typer.Option(
            help="recommendations (users look at their page) or search (users search for "
            "one of their held-out items)"
        ),
    ] = "recommendations",
    users: Annotated[int | None, typer.Option(min=1, help="only the first N holdout users")] = None,
    sessions: Annotated[int, typer.Option(min=1, help="pages per user")] = 3,
    k: Annotated[int, typer.Option(min=1, max=100)] = 10,
    seed: Annotated[int, typer.Option()] = 0,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
    plot: Annotated[Path | None, typer.Option(help="also write the report's PNG here")] = None,
) -> None:
    """Simulated users (held-out MovieLens ratings, position-biased clicks) drive the service
    through its experiment on one surface; then the A/B report of that surface's pages and
    the interleaving-vs-A/B sample sizes."""
    import httpx
    import polars as pl

    from api.settings import Settings
    from pipelines.ab_report import build_report, plot_report, render_table
    from pipelines.evaluation_report import to_jsonable
    from pipelines.simulate import read_holdout, run_simulation, sample_sizes, wait_for_exposures
    from pipelines.simulate_search import run_search_simulation
    from recsys.events.store import open_event_store
    from recsys.experiments.loading import load_experiments

    try:
        if surface not in SURFACES:
            raise RecsysError(f"--surface must be one of {', '.join(SURFACES)}, not {surface!r}")
        config = load_experiments(experiments)
        running = config.running(surface)
        chosen = config.get(experiment) if experiment else (running[0] if running else None)
        if chosen is None:
            raise RecsysError(f"no experiment runs on {surface}; pass --experiment")
        truth = read_holdout(holdout)
        simulated = sorted(truth, key=lambda u: (len(u), u))[:users]
        drive = run_search_simulation if surface == "search" else run_simulation
        stats = drive(url, truth, simulated, sessions, k, seed, workers)
        typer.echo(
            f"simulated {len(simulated)} users x {sessions} pages: {stats.requests} requests "
            f"({stats.failed_requests} failed), {stats.events_accepted} events accepted, "
            f"pages by variant {stats.by_variant}",
            err=as_json,
        )
        store = open_event_store(db or Settings().event_store_target(), create=False)
        try:
            pages = wait_for_exposures(
                lambda: store.read_exposures().filter(pl.col("route") == surface), stats.requests
            )
            events = store.read_events()
        finally:
            store.close()
        report = build_report(pages, events, config, chosen.key, seed=seed, surface=surface)
        sizes = sample_sizes(pages, events, chosen, seed)
        if plot is not None:
            plot_report(report, plot)
    except httpx.HTTPError as exc:
        typer.secho(f"error: talking to {url}: {exc} (is the service running?)", fg="red", err=True)
        raise typer.Exit(code=2) from exc
    except (RecsysError, OSError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    if as_json:
        payload = {"simulation": vars(stats), "report": report, "sample_sizes": sizes}
        typer.echo(json.dumps(to_jsonable(payload), indent=2, allow_nan=False))
    else:
        typer.echo(render_table(report), nl=False)
        typer.echo(format_sample_sizes(sizes), nl=False)
