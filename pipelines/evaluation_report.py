"""Write an offline-evaluation report: evaluation.json, evaluation.md and two PNG plots.

``results`` is the dict the evaluation pipeline produces: ``split`` (scalars), ``models``
(name -> {"metrics": {name: {"mean", "low", "high"}}, "coverage@10", "fit_s",
"predict_ms_per_user", "vs_reference"}; insertion order is display order), optional
``reference`` (a model name), ``search`` (dict of dicts of numbers) and ``notes`` (strings).
Every field of a model except its name is optional; missing values render as "–".

All files are rendered into a temporary folder next to ``out_dir`` and only then moved into
place, so a crash while rendering never leaves a half-written report.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

MAIN_METRICS: tuple[tuple[str, str], ...] = (
    ("ndcg@10", "NDCG@10"),
    ("recall@10", "Recall@10"),
    ("recall@50", "Recall@50"),
    ("mrr", "MRR"),
)
RATIO_METRIC = "ndcg@10"
DASH = "–"
PLOTS = {"metrics_by_model": "metrics_by_model.png", "metric_vs_k": "metric_vs_k.png"}


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars/arrays, dataclasses, paths and sets converted;
    NaN and infinities become null (strict JSON has no spelling for them)."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return [to_jsonable(v) for v in sorted(value, key=str)]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def _summary(value: Any) -> tuple[float, float, float] | None:
    """(mean, low, high) from a {"mean", "low", "high"} dict or a MetricSummary-like object."""
    if isinstance(value, Mapping):
        parts = [
            value.get("mean"),
            value.get("low", value.get("mean")),
            value.get("high", value.get("mean")),
        ]
    elif value is not None and hasattr(value, "mean"):
        parts = [value.mean, getattr(value, "low", value.mean), getattr(value, "high", value.mean)]
    else:
        return None
    try:
        mean, low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(mean) else (mean, low, high)


def _metric(model: Mapping[str, Any], name: str) -> tuple[float, float, float] | None:
    return _summary((model.get("metrics") or {}).get(name))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _fmt_ci(s: tuple[float, float, float] | None, signed: bool = False) -> str:
    if s is None:
        return DASH
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(s[0])} [{f.format(s[1])}, {f.format(s[2])}]"


def _fmt_scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return DASH if value is None else str(value)
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        return DASH if math.isnan(value) else f"{float(value):.4g}"
    return str(value)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = [
        "| " + " | ".join(_cell(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_markdown(results: Mapping[str, Any]) -> str:
    """The Markdown report: split, main table, differences, search table, notes, plots."""
    models: Mapping[str, Mapping[str, Any]] = results.get("models") or {}
    reference = results.get("reference")
    ref_model = models.get(reference) if reference is not None else None
    ref_ndcg = _metric(ref_model, RATIO_METRIC) if ref_model is not None else None
    lines = ["# Offline evaluation", ""]

    split = results.get("split") or {}
    if split:
        lines += ["## Split", ""]
        lines += [f"- **{_cell(k)}**: {_fmt_scalar(v)}" for k, v in split.items()]
        lines.append("")

    lines += ["## Models", ""]
    ratio_label = f"NDCG@10 / {reference}" if reference is not None else "NDCG@10 ratio"
    header = [
        "Model",
        *(label for _, label in MAIN_METRICS),
        "Coverage@10",
        ratio_label,
        "Fit (s)",
        "Predict (ms/user)",
    ]
    rows = []
    for name, model in models.items():
        ndcg = _metric(model, RATIO_METRIC)
        ratio = DASH
        if ndcg is not None and ref_ndcg is not None and ref_ndcg[0] > 0:
            ratio = f"{ndcg[0] / ref_ndcg[0]:.2f}×"
        coverage = _number(model.get("coverage@10"))
        fit, predict = _number(model.get("fit_s")), _number(model.get("predict_ms_per_user"))
        label = f"{name} (reference)" if name == reference else name
        rows.append(
            [
                label,
                *(_fmt_ci(_metric(model, key)) for key, _ in MAIN_METRICS),
                DASH if coverage is None else f"{coverage:.1%}",
                ratio,
                DASH if fit is None else f"{fit:.3g}",
                DASH if predict is None else f"{predict:.3g}",
            ]
        )
    lines += _table(header, rows) if rows else ["No models evaluated."]
    lines += ["", "Means over test users with 95% bootstrap confidence intervals.", ""]

    diffs = {n: m["vs_reference"] for n, m in models.items() if m.get("vs_reference")}
    if diffs:
        columns = list(dict.fromkeys(k for d in diffs.values() for k in d))
        lines += [f"## Difference vs reference ({reference})", ""]
        diff_rows = []
        for name, diff in diffs.items():
            cells = []
            for col in columns:
                s = _summary(diff.get(col))
                excludes_zero = s is not None and (s[1] > 0 or s[2] < 0)
                cells.append(_fmt_ci(s, signed=True) + (" *" if excludes_zero else ""))
            diff_rows.append([name, *cells])
        lines += _table(["Model", *(f"Δ {c}" for c in columns)], diff_rows)
        lines += ["", "Paired bootstrap over the same users; * marks a CI excluding 0.", ""]

    liked = results.get("liked")
    if liked:
        liked_models: Mapping[str, Mapping[str, Any]] = liked.get("models") or {}
        lines += [
            f"## Liked items (held-out ratings >= {liked.get('liked_rating')}, "
            f"{liked.get('users')} users)",
            "",
        ]
        rows = [
            [name, *(_fmt_ci(_metric(model, key)) for key, _ in MAIN_METRICS)]
            for name, model in liked_models.items()
        ]
        lines += _table(["Model", *(label for _, label in MAIN_METRICS)], rows) + [""]

    search = results.get("search")
    if search:
        # Rows are the outer keys; a scalar entry becomes a row with a single "value" column.
        table = {k: v if isinstance(v, Mapping) else {"value": v} for k, v in search.items()}
        columns = list(dict.fromkeys(k for row in table.values() for k in row))
        rows = [[str(n), *(_fmt_scalar(r.get(c)) for c in columns)] for n, r in table.items()]
        title = "## Personal search (rank of the consumed item among the top 50 results)"
        lines += [title, "", *_table(["", *columns], rows), ""]

    notes = results.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {note}" for note in notes] + [""]

    lines += [
        "## Plots",
        "",
        f"![Main metrics by model]({PLOTS['metrics_by_model']})",
        "",
        f"![NDCG@k and Recall@k against k]({PLOTS['metric_vs_k']})",
        "",
    ]
    return "\n".join(lines)


def _plot_metrics_by_model(models: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    fig = Figure(figsize=(max(6.0, 1.6 * len(MAIN_METRICS) + 0.4 * len(models)), 4.0))
    ax = fig.add_subplot()
    x = np.arange(len(MAIN_METRICS))
    width = 0.8 / max(len(models), 1)
    for i, (name, model) in enumerate(models.items()):
        stats = [_metric(model, key) for key, _ in MAIN_METRICS]
        means = np.array([s[0] if s else np.nan for s in stats])
        err = np.array(
            [[max(s[0] - s[1], 0.0), max(s[2] - s[0], 0.0)] if s else [0.0, 0.0] for s in stats]
        ).T
        ax.bar(
            x + (i - (len(models) - 1) / 2) * width,
            np.nan_to_num(means),
            width,
            yerr=err,
            capsize=3,
            label=name,
        )
    ax.set_xticks(x, [label for _, label in MAIN_METRICS])
    ax.set_ylabel("mean over users (95% CI)")
    ax.set_title("Main metrics by model")
    if models:
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)


def _curve(model: Mapping[str, Any], prefix: str) -> list[tuple[int, float, float, float]]:
    points = []
    for key in model.get("metrics") or {}:
        match = re.fullmatch(rf"{prefix}@(\d+)", key)
        s = _metric(model, key) if match else None
        if match and s is not None:
            points.append((int(match.group(1)), *s))
    return sorted(points)


def _plot_metric_vs_k(models: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    fig = Figure(figsize=(10.0, 4.0))
    axes = fig.subplots(1, 2)
    for ax, (prefix, label) in zip(axes, (("ndcg", "NDCG@k"), ("recall", "Recall@k")), strict=True):
        all_ks: set[int] = set()
        for name, model in models.items():
            points = _curve(model, prefix)
            if not points:
                continue
            ks, means, lows, highs = (np.array(col) for col in zip(*points, strict=True))
            line = ax.plot(ks, means, marker="o", label=name)[0]
            ax.fill_between(ks, lows, highs, color=line.get_color(), alpha=0.15)
            all_ks.update(int(k) for k in ks)
        if all_ks:
            ax.set_xscale("log")
            ax.set_xticks(sorted(all_ks), [str(k) for k in sorted(all_ks)])
            ax.minorticks_off()
            ax.legend(fontsize="small")
        ax.set_xlabel("k")
        ax.set_ylabel(label)
        ax.set_title(label)
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)


def write_report(results: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write evaluation.json, evaluation.md and the two plots into ``out_dir``.

    Everything is rendered into a temporary folder beside ``out_dir`` first, then each file
    is moved into place with ``os.replace``; returns the final paths by name.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    models: Mapping[str, Mapping[str, Any]] = results.get("models") or {}
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        names = {"json": "evaluation.json", "markdown": "evaluation.md", **PLOTS}
        _plot_metrics_by_model(models, staging / names["metrics_by_model"])
        _plot_metric_vs_k(models, staging / names["metric_vs_k"])
        (staging / names["json"]).write_text(
            json.dumps(to_jsonable(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n",
            encoding="utf-8",
        )
        (staging / names["markdown"]).write_text(render_markdown(results), encoding="utf-8")
        out_dir.mkdir(parents=True, exist_ok=True)
        written = {}
        # Plots first, the Markdown that links them last.
        for key in ("metrics_by_model", "metric_vs_k", "json", "markdown"):
            written[key] = out_dir / names[key]
            os.replace(staging / names[key], written[key])
        return written
    finally:
        shutil.rmtree(staging, ignore_errors=True)
