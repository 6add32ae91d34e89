"""bench.scale's arithmetic: sizes, the growth exponent of each stage, the plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.scale import exponents, parse_size, plot


def run(items: int, stages: dict[str, float], failed: bool = False) -> dict[str, Any]:
    build: dict[str, Any] = {"failed": True} if failed else {
        "stages_s": stages, "peak_rss_mb_after_stage": {"a": items / 100}
    }  # fmt: skip
    return {"items": items, "build": build}


def test_parse_size() -> None:
    assert parse_size("10000:1000:100000") == (10_000, 1_000, 100_000)
    with pytest.raises(ValueError):
        parse_size("10000:1000")


def test_exponents_are_log_log_slopes() -> None:
    runs = [
        run(1_000, {"linear_s": 1.0, "quadratic_s": 1.0}),
        run(10_000, {"linear_s": 10.0, "quadratic_s": 100.0}),
        run(100_000, {"linear_s": 100.0, "quadratic_s": 10_000.0}),
        run(1_000_000, {}, failed=True),  # a failed size does not count
    ]
    assert exponents(runs) == {"linear": 1.0, "quadratic": 2.0}
    assert exponents(runs[:1]) == {}


def test_plot_writes_a_png(tmp_path: Path) -> None:
    runs = [run(1_000, {"a_s": 1.0}), run(10_000, {"a_s": 5.0})]
    plot(runs, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_small_run_end_to_end(tmp_path: Path) -> None:
    """Synthesize, build (a subprocess) and serve two tiny sizes; then serve them again from
    the saved builds."""
    import json

    from bench.scale import main

    out = tmp_path / "scale.json"
    args = ["--size", "300:40:3000", "--size", "600:60:6000", "--work", str(tmp_path / "w")]
    assert main([*args, "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert [r["items"] for r in payload["runs"]] == [300, 600]
    for run in payload["runs"]:
        assert not run["build"].get("failed"), run["build"]
        assert run["build"]["stages_s"]["personalization_s"] > 0
        assert run["serve"]["recommendations"]["p99_ms"] > 0
        assert run["serve"]["search_title"]["p50_ms"] > 0
    assert set(payload["exponents"]) >= {"catalog", "embed", "personalization"}
    assert out.with_suffix(".png").stat().st_size > 0
    assert main([*args, "--out", str(out), "--reuse-builds"]) == 0
    again = json.loads(out.read_text())
    assert all(r["build"]["reused"] for r in again["runs"])
