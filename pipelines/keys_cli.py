"""``recsys keys new``: make an API key, print it once, store only its hash.

The keys file (``RECSYS_API_KEYS_FILE``) is TOML, written with mode 0600; see ``api.auth``
for the format and the scopes. The service reads it at startup.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from api.auth import SCOPES, ApiKeyConfigError, hash_key, load_keys, new_key

keys_app = typer.Typer(no_args_is_help=True, help="API keys for the service.")


@keys_app.command("new")
def new(
    name: Annotated[str, typer.Option(help="a label for the key (logs, metrics)")],
    scopes: Annotated[str, typer.Option(help=f"comma-separated: {', '.join(SCOPES)}")],
    file: Annotated[Path, typer.Option(help="the keys file (created with mode 0600)")] = Path(
        "keys.toml"
    ),
    rate_per_s: Annotated[
        float, typer.Option(min=0, help="token refill per second; 0: none")
    ] = 0.0,
    burst: Annotated[float | None, typer.Option(min=1, help="bucket size (default: rate)")] = None,
) -> None:
    """Append a new key to FILE and print it (the file keeps only its sha256)."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    unknown = sorted(set(wanted) - set(SCOPES))
    if not wanted or unknown:
        typer.secho(f"error: scopes must be some of {', '.join(SCOPES)}", fg="red", err=True)
        raise typer.Exit(code=2)
    try:
        existing = load_keys(file, None) if file.exists() else []
    except ApiKeyConfigError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(code=2) from exc
    if any(k.name == name for k in existing):
        typer.secho(f"error: {file} already has a key named {name!r}", fg="red", err=True)
        raise typer.Exit(code=2)
    key = new_key()
    entry = [
        "",
        "[[keys]]",
        f"name = {json.dumps(name)}",
        f'sha256 = "{hash_key(key)}"',
        f"scopes = {json.dumps(wanted)}",
        f"rate_per_s = {float(rate_per_s)}",
    ]
    if burst is not None:
        entry.append(f"burst = {float(burst)}")
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a") as handle:
        handle.write("\n".join(entry) + "\n")
    load_keys(file, None)  # the file still parses
    typer.echo(key)
    typer.secho(
        f"key {name!r} ({', '.join(wanted)}) added to {file}; it is shown only once", err=True
    )
