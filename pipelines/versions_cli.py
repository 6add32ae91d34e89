"""``recsys versions`` and ``recsys rollback``: which artifact versions exist, and moving
the ``current`` pointer back (or to any published version) atomically.

A running service follows the pointer (``RECSYS_RELOAD_INTERVAL_S``, ``POST
/v1/admin/reload`` or SIGHUP) and swaps without downtime; a version that fails validation
there is refused and the old one keeps serving.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from recsys.core.artifacts import current_version, describe_versions, list_versions, set_current
from recsys.core.errors import RecsysError

ArtifactsOpt = Annotated[Path, typer.Option(help="artifact root (holds `current`)")]


def _fail(exc: Exception) -> None:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def versions(
    artifacts: ArtifactsOpt = Path("artifacts"),
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List the published versions, oldest first; `*` marks the one `current` names."""
    try:
        rows = describe_versions(artifacts)
    except RecsysError as exc:
        _fail(exc)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        detail = (
            f"{row['created_at']}  {row['encoder']}  code {row['code_version']}"
            if row["complete"]
            else f"INCOMPLETE: {row['problem']}"
        )
        typer.echo(f"{mark} {row['version']}  {detail}")


def rollback(
    artifacts: ArtifactsOpt = Path("artifacts"),
    to: Annotated[
        str | None, typer.Option(help="version to point at (default: the one before current)")
    ] = None,
) -> None:
    """Point `current` at the previous published version (or --to VERSION), after checking
    that version's manifest and checksums."""
    try:
        names = list_versions(artifacts)
        pointer = current_version(artifacts)
        if to is None:
            if pointer not in names:
                raise RecsysError(f"{artifacts}/current names no published version; use --to")
            earlier = names[: names.index(pointer)]
            if not earlier:
                raise RecsysError(f"{pointer} is the oldest version kept; nothing to roll back to")
            to = earlier[-1]
        elif to not in names:
            raise RecsysError(
                f"no version {to!r} in {artifacts}; published: {', '.join(names) or 'none'}"
            )
        set_current(artifacts, to)
    except RecsysError as exc:
        _fail(exc)
    typer.echo(f"current: {pointer} -> {to}")


def push(
    to: Annotated[str, typer.Option(help="the store: s3://bucket/prefix (s3fs), any fsspec URL")],
    artifacts: ArtifactsOpt = Path("artifacts"),
    version: Annotated[str | None, typer.Option(help="default: the local `current`")] = None,
) -> None:
    """Upload a version to an artifact store and point the store's `current` at it; replicas
    with RECSYS_ARTIFACTS_URL mirror it and swap."""
    from recsys.core.artifact_store import push as push_version

    try:
        name = push_version(artifacts, to, version)
    except (RecsysError, OSError) as exc:
        _fail(exc)
    typer.echo(f"pushed {name} to {to}; its current is {name}")
