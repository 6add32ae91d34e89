"""The `recsys` command: thin wrappers over the offline pipelines and the service.

recsys build --data data --out artifacts [--encoder NAME_OR_PATH --query-prompt ...]
recsys serve --artifacts artifacts --host 127.0.0.1 --port 8000
recsys info  --artifacts artifacts
recsys evaluate --artifacts artifacts [--data data] [--out DIR]
recsys truncate-data --data data --before 2017-01-01 --out /tmp/data-2016
recsys holdout-data --data data --n 10 --out /tmp/data-holdout
recsys backtest --artifacts /tmp/artifacts-2016 --future data
recsys events export [--db var/events.sqlite3] [--out FILE]
recsys ab-report [--db ...] [--experiment KEY] [--json] [--plot FILE]
recsys simulate --url http://127.0.0.1:8000 --holdout /tmp/data-holdout/holdout.csv
recsys versions --artifacts artifacts
recsys rollback --artifacts artifacts [--to VERSION]
recsys keys new --name web-app --scopes search,events --file keys.toml
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pipelines.ab_report import ab_report
from pipelines.events_cli import events_app
from pipelines.keys_cli import keys_app
from pipelines.simulate_cli import simulate
from pipelines.versions_cli import push, rollback, versions
from recsys.core.errors import RecsysError
from recsys.search.encoder import DEFAULT_ENCODER

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
app.add_typer(events_app, name="events")
app.add_typer(keys_app, name="keys")
app.command("ab-report")(ab_report)
app.command("simulate")(simulate)
app.command("versions")(versions)
app.command("rollback")(rollback)
app.command("push")(push)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


EncoderOpt = Annotated[
    str,
    typer.Option(
        help="'bundled:multilingual-e5-small' (multilingual), 'bundled:all-MiniLM-L6-v2' "
        "(English, lighter), 'hashing', or a model path/name"
    ),
]
QueryPromptOpt = Annotated[
    str | None, typer.Option(help="prefix for queries, e.g. 'query: ' (default: the model's)")
]
DocumentPromptOpt = Annotated[
    str | None, typer.Option(help="prefix for documents (default: the model's)")
]
MaxSeqOpt = Annotated[int, typer.Option(min=8, max=8192)]
PrecisionOpt = Annotated[str, typer.Option(help="documents: auto|fp32|bf16|fp16")]
IndexOpt = Annotated[str, typer.Option(help="auto | flat | ivf | hnsw")]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        help="cpu, cuda, cuda:1 (default: auto): where documents are encoded and the faiss "
        "indexes trained and filled (cuda: faiss must see a GPU too)"
    ),
]


def _runner(engine: str, address: str | None) -> Any:
    if engine == "ray":
        from pipelines.ray_engine import RayRunner

        return RayRunner(address)
    from recsys.core.runner import LocalRunner

    return LocalRunner()


def index_device(device: str | None) -> str:
    """The faiss device for the encoder's: cpu -> cpu, cuda[:N] -> gpu, none -> auto."""
    if device is None:
        return "auto"
    return "cpu" if device == "cpu" else "gpu"


CacheDirOpt = Annotated[
    Path | None, typer.Option(help="embedding cache (default OUT/.cache/embeddings)")
]
ConfigOpt = Annotated[
    Path | None, typer.Option(help="model config TOML (default recsys/defaults/recsys.toml)")
]
EventsOpt = Annotated[
    str | None,
    typer.Option(
        help="also learn from events logged by the service: its store, a SQLite file (e.g. "
        "var/events.sqlite3) or postgresql://..."
    ),
]
INDEX_KINDS = ("auto", "flat", "ivf", "hnsw")


@app.command()
def build(
    data: Annotated[Path, typer.Option(help="raw data directory")] = Path("data"),
    out: Annotated[Path, typer.Option(help="artifact root")] = Path("artifacts"),
    encoder: EncoderOpt = DEFAULT_ENCODER,
    query_prompt: QueryPromptOpt = None,
    document_prompt: DocumentPromptOpt = None,
    max_seq_length: MaxSeqOpt = 128,
    precision: PrecisionOpt = "auto",
    index: IndexOpt = "auto",
    exact_threshold: Annotated[int, typer.Option(min=0)] = 20_000,
    device: DeviceOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, max=4096, help="documents per forward pass (default: 32 on CPU, 128 on CUDA)"
        ),
    ] = None,
    limit_items: Annotated[int | None, typer.Option(min=1, help="only the first N items")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="skip the embedding cache")] = False,
    cache_dir: CacheDirOpt = None,
    config: ConfigOpt = None,
    no_search_ranker: Annotated[
        bool, typer.Option("--no-search-ranker", help="skip training the personal search ranker")
    ] = False,
    events: EventsOpt = None,
    engine: Annotated[
        str, typer.Option(help="local (this process) or ray (the parallel stages on Ray)")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="--engine ray: the cluster to join (ray://host:10001, auto); none: "
            "a local Ray on this machine's CPUs"
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every offline pipeline over DATA and publish a new artifact version under OUT."""
    _setup_logging(verbose)
    from pipelines.build import BuildOptions
    from pipelines.build import build as run_build
    from recsys.recommend.config import RecsysConfig
    from recsys.search.encoder import EncoderConfig, model_prompts
    from recsys.search.vector_index import IndexParams

    if index not in INDEX_KINDS:
        _fail(ValueError(f"--index must be auto, flat, ivf or hnsw, not {index!r}"))
    if engine not in ("local", "ray"):
        _fail(ValueError(f"--engine must be local or ray, not {engine!r}"))
    if address is not None and engine != "ray":
        _fail(ValueError("--address needs --engine ray"))
    try:
        runner = _runner(engine, address)
        options = BuildOptions(
            encoder=EncoderConfig(
                encoder,
                *model_prompts(encoder, query_prompt, document_prompt),
                max_seq_length,
                precision,
            ),
            index=IndexParams(
                kind=index, exact_threshold=exact_threshold, device=index_device(device)
            ),
            device=device,
            batch_size=batch_size,
            use_cache=not no_cache,
            progress=sys.stderr.isatty(),
            limit_items=limit_items,
            config=RecsysConfig.load(config),
            train_search_ranker=not no_search_ranker,
            cache_dir=cache_dir,
            events_db=events,
            runner=runner,
        )
        final = run_build(data, out, options)
    except RecsysError as exc:
        _fail(exc)
    typer.echo(f"published {final}")


@app.command()
def info(
    artifacts: Annotated[Path, typer.Option(help="artifact root or version directory")] = Path(
        "artifacts"
    ),
) -> None:
    """Print the live artifact's manifest (verifying checksums)."""
    from recsys.core.artifacts import load_manifest

    try:
        directory, manifest = load_manifest(artifacts)
    except RecsysError as exc:
        _fail(exc)
    typer.echo(json.dumps({"path": str(directory), **manifest.to_dict()}, indent=2))


@app.command()
def evaluate(
    artifacts: Annotated[Path, typer.Option(help="artifact root or version")] = Path("artifacts"),
    data: Annotated[
        Path | None, typer.Option(help="read interactions from this data dir instead")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="default: <artifact>/reports")] = None,
    config: Annotated[Path | None, typer.Option(help="model config TOML")] = None,
    n_test: Annotated[int, typer.Option(min=1, help="consumptions held out per user")] = 10,
    models: Annotated[
        str | None, typer.Option(help="comma-separated subset, e.g. popularity,ease,lightgbm")
    ] = None,
    search: Annotated[
        bool, typer.Option("--search/--no-search", help="also evaluate personal search")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Offline evaluation: temporal leave-last-N-out, every model side by side."""
    _setup_logging(verbose)
    from pipelines.evaluate import run as run_evaluation
    from recsys.recommend.config import RecsysConfig

    try:
        results, paths = run_evaluation(
            artifacts,
            data,
            RecsysConfig.load(config),
            out,
            n_test=n_test,
            models=tuple(m.strip() for m in models.split(",")) if models else None,
            search=search,
        )
    except (RecsysError, FileNotFoundError, ValueError) as exc:
        _fail(exc)
    _print_table(results)
    for name, values in results.get("search", {}).items():
        typer.echo(f"search {name}: {values}")
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


def _print_table(results: dict[str, Any]) -> None:
    typer.echo(
        f"{'model':20s} {'NDCG@10':>8s} {'R@10':>7s} {'R@50':>7s} {'MRR':>7s} {'cov@10':>7s}"
    )
    for name, entry in results["models"].items():
        m = entry["metrics"]
        typer.echo(
            f"{name:20s} {m['ndcg@10']['mean']:8.4f} {m['recall@10']['mean']:8.4f} "
            f"{m['recall@50']['mean']:8.4f} {m['mrr']['mean']:8.4f} {entry['coverage@10']:8.3f}"
        )


@app.command("truncate-data")
def truncate_data(
    data: Annotated[Path, typer.Option(help="source data directory")] = Path("data"),
    before: Annotated[str, typer.Option(help="keep events strictly before this date")] = "",
    out: Annotated[Path, typer.Option(help="new data directory (must not exist)")] = Path(
        "data-truncated"
    ),
) -> None:
    """Copy DATA to OUT keeping only ratings and tags before a date (for backtests)."""
    _setup_logging(False)
    from pipelines.backtest import truncate_data_dir

    try:
        counts = truncate_data_dir(data, out, before)
    except (RecsysError, ValueError, FileExistsError) as exc:
        _fail(exc)
    for name, (kept, total) in counts.items():
        typer.echo(f"{name}: kept {kept} of {total} rows")


@app.command("holdout-data")
def holdout_data(
    data: Annotated[Path, typer.Option(help="source data directory")] = Path("data"),
    n: Annotated[int, typer.Option(min=1, help="latest ratings held out per user")] = 10,
    min_history: Annotated[
        int, typer.Option(min=0, help="ratings a user must keep to be held out")
    ] = 5,
    out: Annotated[Path, typer.Option(help="new data directory (must not exist)")] = Path(
        "data-holdout"
    ),
) -> None:
    """Copy DATA to OUT with each user's last N ratings moved to OUT/holdout.csv."""
    _setup_logging(False)
    from pipelines.holdout import holdout_data_dir

    try:
        summary = holdout_data_dir(data, out, n, min_history)
    except (RecsysError, ValueError, FileExistsError) as exc:
        _fail(exc)
    typer.echo(
        f"held out {summary['rows_held_out']} ratings of {summary['users_held_out']} users "
        f"(kept {summary['ratings_kept']} of {summary['ratings_total']}; "
        f"removed {summary['tags_removed']} later tags) -> {summary['holdout']}"
    )


@app.command()
def backtest(
    artifacts: Annotated[Path, typer.Option(help="artifact built on truncated data")] = Path(
        "artifacts"
    ),
    future: Annotated[Path, typer.Option(help="data dir holding the later events")] = Path("data"),
    out: Annotated[Path | None, typer.Option(help="default: <artifact>/reports/backtest")] = None,
) -> None:
    """Judge a built artifact's rankers on the events after its snapshot time."""
    _setup_logging(False)
    from pipelines.backtest import run_backtest

    try:
        results, paths = run_backtest(artifacts, future, out)
    except (RecsysError, ValueError) as exc:
        _fail(exc)
    _print_table(results)
    for name, path in paths.items():
        typer.echo(f"{name}: {path}")


@app.command()
def serve(
    artifacts: Annotated[Path | None, typer.Option(help="artifact root")] = None,
    host: Annotated[str | None, typer.Option(help="default $RECSYS_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default $RECSYS_PORT or 8000")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="processes on the port, each a whole replica with its own engine; they "
            "share the artifact root and the event store",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API over the live artifact."""
    _setup_logging(False)
    from pydantic import ValidationError

    from api.app import create_app
    from api.server import serve as run_server
    from api.server import serve_workers
    from api.settings import Settings

    overrides = {
        k: v for k, v in {"artifacts_dir": artifacts, "host": host, "port": port}.items() if v
    }
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:  # a RECSYS_* variable or an option the settings refuse
        _fail(ValueError(f"invalid settings: {exc}"))
    try:
        app = create_app(settings)
    except RecsysError as exc:  # an unreadable keys file or experiments file
        _fail(exc)
    if settings.api_keys_file is None and settings.admin_api_key is None:
        typer.secho(
            "dev mode: no API keys (set RECSYS_API_KEYS_FILE or RECSYS_ADMIN_API_KEY); "
            "every route is open",
            fg=typer.colors.YELLOW,
            err=True,
        )
    if workers == 1:
        run_server(app, settings)
        return
    del app  # checked the settings and files; each worker builds its own from the environment
    os.environ.update({f"RECSYS_{k.upper()}": str(v) for k, v in overrides.items()})
    serve_workers(settings, workers)


def main() -> None:
    app()


if __name__ == "__main__":
    main()


@app.command()
def synth(
    items: Annotated[
        int, typer.Option(min=10, help="catalog items (movies and TV shows)")
    ] = 10_000,
    users: Annotated[int, typer.Option(min=1, help="users who rate")] = 1_000,
    interactions: Annotated[int, typer.Option(min=1, help="ratings, about")] = 100_000,
    seed: Annotated[int, typer.Option(help="random seed: same arguments, same files")] = 0,
    out: Annotated[Path, typer.Option(help="new data directory (must not exist)")] = Path(
        "data-synth"
    ),
) -> None:
    """Write a synthetic data directory in the raw layout of data/ (pipelines/synth.py)."""
    _setup_logging(False)
    from pipelines.synth import SynthSpec, write_data_dir

    try:
        summary = write_data_dir(SynthSpec(items, users, interactions, seed), out)
    except (ValueError, FileExistsError, OSError) as exc:
        _fail(exc)
    typer.echo(
        f"{summary['items']} items ({summary['movies']} movies, {summary['tv_shows']} TV shows), "
        f"{summary['ratings']} ratings in {summary['seconds']} s -> {out}"
    )
