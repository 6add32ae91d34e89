"""The evaluation report: JSON, Markdown and PNG files, written all-or-nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines import evaluation_report
from pipelines.evaluation_report import render_markdown, to_jsonable, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
KS = (1, 5, 10, 20, 50)


def ci(mean: float, half: float = 0.01) -> dict[str, Any]:
    return {"mean": np.float64(mean), "low": mean - half, "high": mean + half}


def model(scale: float, **extra: Any) -> dict[str, Any]:
    metrics = {"mrr": ci(0.2 * scale)}
    for k in KS:
        metrics[f"ndcg@{k}"] = ci(scale * (0.05 + 0.002 * k))
        metrics[f"recall@{k}"] = ci(scale * (0.02 + 0.006 * k))
        metrics[f"hit@{k}"] = ci(min(1.0, scale * 0.05 * k))
    return {"metrics": metrics, **extra}


@pytest.fixture
def results() -> dict[str, Any]:
    return {
        "split": {
            "kind": "temporal leave-last-N-out",
            "n_test": 10,
            "users": np.int64(600),
            "catalog_items": 17613,
            "test_fraction": 0.06,
        },
        "models": {
            "popularity": model(1.0, **{"coverage@10": 0.012, "fit_s": 0.1}),
            "lightgbm": model(
                2.0,
                **{
                    "coverage@10": np.float32(0.25),
                    "fit_s": 12.5,
                    "predict_ms_per_user": 0.8,
                    "vs_reference": {"ndcg@10": ci(0.07), "mrr": ci(0.001, 0.01)},
                },
            ),
            # Optional fields missing: no coverage, timings, differences, most metrics.
            "bare": {"metrics": {"ndcg@10": ci(0.01)}},
        },
        "reference": "popularity",
        "search": {"lightgbm": {"num_leaves": 31, "learning_rate": 0.05, "ndcg@10": 0.14}},
        "notes": ["Users with fewer than 20 interactions were dropped."],
    }


def test_write_report_files(results: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "eval"
    paths = write_report(results, out)

    assert set(paths) == {"json", "markdown", "metrics_by_model", "metric_vs_k"}
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["evaluation.json", "evaluation.md", "metrics_by_model.png", "metric_vs_k.png"]
    )
    assert all(p.parent == out and p.is_file() for p in paths.values())
    assert [p.name for p in out.parent.iterdir()] == ["eval"]  # no staging folder left

    loaded = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert loaded == to_jsonable(results)
    assert loaded["split"]["users"] == 600
    assert list(loaded["models"]) == ["popularity", "lightgbm", "bare"]
    assert loaded["models"]["lightgbm"]["coverage@10"] == pytest.approx(0.25)

    assert paths["markdown"].read_text(encoding="utf-8") == render_markdown(results)
    for name in ("metrics_by_model", "metric_vs_k"):
        data = paths[name].read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 5_000


def test_markdown_tables(results: dict[str, Any]) -> None:
    md = render_markdown(results)
    lines = md.splitlines()
    assert lines[0].startswith("# ")
    assert "- **kind**: temporal leave-last-N-out" in lines
    assert "- **catalog_items**: 17,613" in lines

    row = next(line for line in lines if line.startswith("| lightgbm |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.140 [0.130, 0.150]"  # NDCG@10
    assert cells[2] == "0.160 [0.150, 0.170]"  # Recall@10
    assert cells[3] == "0.640 [0.630, 0.650]"  # Recall@50
    assert cells[4] == "0.400 [0.390, 0.410]"  # MRR
    assert cells[5] == "25.0%"
    assert cells[6] == "2.00×"  # NDCG@10 ratio to popularity
    assert "| popularity (reference) | 0.070 [0.060, 0.080] |" in md
    assert "1.00×" in next(line for line in lines if line.startswith("| popularity"))

    bare = next(line for line in lines if line.startswith("| bare |"))
    assert bare.count("–") == 6 and "0.14×" in bare

    assert "## Difference vs reference (popularity)" in md
    assert "| lightgbm | +0.070 [+0.060, +0.080] * | +0.001 [-0.009, +0.011] |" in md
    assert "| lightgbm | 31 | 0.05 | 0.14 |" in md
    assert "- Users with fewer than 20 interactions were dropped." in lines
    assert "(metrics_by_model.png)" in md and "(metric_vs_k.png)" in md


def test_markdown_without_optional_sections() -> None:
    md = render_markdown({"models": {"only": {"metrics": {}}}})
    assert "| only | – | – | – | – | – | – | – | – |" in md
    for heading in ("## Split", "## Difference", "## Hyper-parameter", "## Notes"):
        assert heading not in md
    assert "No models evaluated." in render_markdown({"models": {}})


def test_minimal_results_still_write(tmp_path: Path) -> None:
    paths = write_report({"models": {"a": {"metrics": {"ndcg@10": ci(0.1)}}}}, tmp_path / "r")
    assert all(p.is_file() for p in paths.values())
    assert paths["metric_vs_k"].read_bytes().startswith(PNG_SIGNATURE)


def test_failure_leaves_previous_report(
    results: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "eval"
    write_report(results, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def broken(*args: Any) -> None:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(evaluation_report, "_plot_metric_vs_k", broken)
    changed = {**results, "notes": ["second run"]}
    with pytest.raises(RuntimeError):
        write_report(changed, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["eval"]


def test_to_jsonable_handles_non_finite_and_numpy() -> None:
    value = {"a": np.array([1, 2]), "b": float("nan"), "c": (np.float32(0.5), {3})}
    assert to_jsonable(value) == {"a": [1, 2], "b": None, "c": [0.5, [3]]}
