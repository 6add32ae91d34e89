"""`recsys keys new`: prints a key once, stores its hash (mode 0600), and the service
accepts it."""

from __future__ import annotations

import stat
from pathlib import Path

from typer.testing import CliRunner

from api.auth import hash_key, load_keys
from pipelines.cli import app

runner = CliRunner()


def test_new_key_is_stored_hashed(tmp_path: Path) -> None:
    file = tmp_path / "keys.toml"
    args = ["keys", "new", "--name", 'web "app"', "--scopes", "search,events", "--file", str(file)]
    result = runner.invoke(app, [*args, "--rate-per-s", "5"])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert key.startswith("rk_") and key not in file.read_text()
    assert stat.S_IMODE(file.stat().st_mode) == 0o600
    (loaded,) = load_keys(file, None)
    assert loaded.digest == hash_key(key) and loaded.scopes == {"search", "events"}
    assert loaded.name == 'web "app"' and loaded.bucket.rate_per_s == 5.0

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already has a key named" in again.output
    bad = runner.invoke(
        app, ["keys", "new", "--name", "x", "--scopes", "root", "--file", str(file)]
    )
    assert bad.exit_code == 2 and "scopes must be some of" in bad.output
