"""The `recsys` command: thin wrappers over the offline pipelines and the service.

recsys build --data data --out artifacts [--encoder NAME_OR_PATH --query-prompt ...]
recsys serve --artifacts artifacts --host 127.0.0.1 --port 8000
recsys info  --artifacts artifacts
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from recsys.errors import RecsysError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


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


@app.command()
def build(
    data: Annotated[Path, typer.Option(help="raw data directory")] = Path("data"),
    out: Annotated[Path, typer.Option(help="artifact root")] = Path("artifacts"),
    encoder: Annotated[
        str, typer.Option(help="'bundled:all-MiniLM-L6-v2', 'hashing', or a model path/name")
    ] = "bundled:all-MiniLM-L6-v2",
    query_prompt: Annotated[str, typer.Option(help="prefix for queries, e.g. 'query: '")] = "",
    document_prompt: Annotated[str, typer.Option(help="prefix for documents")] = "",
    max_seq_length: Annotated[int, typer.Option(min=8, max=8192)] = 128,
    precision: Annotated[str, typer.Option(help="documents: auto|fp32|bf16|fp16")] = "auto",
    index: Annotated[str, typer.Option(help="auto | flat | ivf | hnsw")] = "auto",
    exact_threshold: Annotated[int, typer.Option(min=0)] = 20_000,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 (default: auto)")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 64,
    limit_items: Annotated[int | None, typer.Option(min=1, help="only the first N items")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="skip the embedding cache")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every offline pipeline over DATA and publish a new artifact version under OUT."""
    _setup_logging(verbose)
    from pipelines.build import BuildOptions
    from pipelines.build import build as run_build
    from recsys.encoder import EncoderConfig
    from recsys.index import IndexParams

    if index not in {"auto", "flat", "ivf", "hnsw"}:
        _fail(ValueError(f"--index must be auto, flat, ivf or hnsw, not {index!r}"))
    options = BuildOptions(
        encoder=EncoderConfig(encoder, query_prompt, document_prompt, max_seq_length, precision),
        index=IndexParams(kind=index, exact_threshold=exact_threshold),
        device=device,
        batch_size=batch_size,
        use_cache=not no_cache,
        progress=sys.stderr.isatty(),
        limit_items=limit_items,
    )
    try:
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
    from recsys.artifacts import load_manifest

    try:
        directory, manifest = load_manifest(artifacts)
    except RecsysError as exc:
        _fail(exc)
    typer.echo(json.dumps({"path": str(directory), **manifest.to_dict()}, indent=2))


@app.command()
def serve(
    artifacts: Annotated[Path | None, typer.Option(help="artifact root")] = None,
    host: Annotated[str | None, typer.Option(help="default $RECSYS_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default $RECSYS_PORT or 8000")] = None,
) -> None:
    """Serve the HTTP API over the live artifact."""
    _setup_logging(False)
    import uvicorn

    from api.app import create_app
    from api.settings import Settings

    overrides = {
        k: v for k, v in {"artifacts_dir": artifacts, "host": host, "port": port}.items() if v
    }
    settings = Settings(**overrides)  # type: ignore[arg-type]
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
