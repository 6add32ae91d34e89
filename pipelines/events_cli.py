"""``recsys events ...``: the event store from the command line.

recsys events export [--db PATH] [--out FILE] [--type click --type play]

The store is the one the server writes (``$RECSYS_EVENTS_DB``, else ``var/events.sqlite3``,
relative to the working directory), read through WAL so exporting while the server runs is
safe: the export is a consistent snapshot as of its start.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Annotated

import orjson
import polars as pl
import typer

from api.settings import Settings
from recsys.core.errors import RecsysError
from recsys.events.postgres import redacted
from recsys.events.schema import EVENT_TYPES
from recsys.events.store import EVENTS_DB_ENV, open_event_store

events_app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Inspect the event store."
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@contextmanager
def _output(out: Path | None) -> Iterator[IO[bytes]]:
    if out is None:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        yield fh


def event_lines(frame: pl.DataFrame) -> Iterator[bytes]:
    """One JSON object per event (every column, timestamps as ``...T12:00:00.000Z``)."""
    text_ts = frame.with_columns(
        pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S%.3fZ") for name in ("ts", "received_at")
    )
    for row in text_ts.iter_rows(named=True):
        yield orjson.dumps(row) + b"\n"


@events_app.command()
def export(
    db: Annotated[
        str | None,
        typer.Option(
            help="event store: a SQLite file or postgresql://... (default $RECSYS_EVENTS_URL, "
            f"${EVENTS_DB_ENV} or var/events.sqlite3)"
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", help=f"only these types (repeatable): {', '.join(EVENT_TYPES)}"),
    ] = None,
) -> None:
    """Write the stored events as JSON lines, oldest first, one event per line."""
    path = db if db is not None else Settings().event_store_target()
    unknown = sorted(set(event_type or ()) - set(EVENT_TYPES))
    if unknown:
        _fail(f"--type must be one of {', '.join(EVENT_TYPES)}, not {unknown[0]!r}")
    try:
        store = open_event_store(path, create=False)
        try:
            frame = store.read_events(types=event_type or None)
        finally:
            store.close()
    except RecsysError as exc:
        _fail(str(exc))
    with _output(out) as sink:
        for line in event_lines(frame):
            sink.write(line)
    typer.echo(f"exported {frame.height} events from {redacted(str(path))}", err=True)
