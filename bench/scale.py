"""Growth curves: synthesize, build and serve at several sizes; time, memory and size per
stage, and each stage's fitted growth exponent.

    python -m bench.scale --size 10000:1000:100000 --size 100000:10000:1000000 \\
        [--work /tmp/scale] [--encoder hashing] [--out bench/results/scale.json] \\
        [--reuse-builds]

A size is ITEMS:USERS:INTERACTIONS (``recsys synth``). Each build runs in its own process
(``recsys build --encoder hashing``, model-free, so that the pipeline and not the encoder is
measured); its manifest records seconds and peak RSS after every stage. Then the artifact is
loaded and served in process: search (titles and description fragments of the catalog),
suggest (title prefixes) and recommendations (users of the synthetic log), p50 / p99 each.
The exponent of a stage is the slope of log(seconds) against log(items) over the sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import RESULTS_DIR, percentile, run_header, write_json

REQUESTS = 200


def parse_size(text: str) -> tuple[int, int, int]:
    items, users, interactions = (int(part) for part in text.split(":"))
    return items, users, interactions


def build(data: Path, out: Path, encoder: str) -> dict[str, Any]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "pipelines.cli", "build", "--data", str(data)]
    command += ["--out", str(out), "--encoder", encoder]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log_path = out.with_suffix(".log")  # the build's progress, readable while it runs
    with log_path.open("w") as log_file:
        done = subprocess.run(command, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        tail = log_path.read_text()[-2000:]
        return {"failed": True, "returncode": done.returncode, "error_tail": tail}
    version = max(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    manifest = json.loads((version / "manifest.json").read_text())
    size = sum(p.stat().st_size for p in version.iterdir() if p.is_file())
    return {
        "wall_s": round(time.perf_counter() - started, 1),
        "stages_s": manifest["reports"]["timings_s"],
        "peak_rss_mb_after_stage": manifest["reports"].get("peak_rss_mb", {}),
        "artifact_mb": round(size / 1e6, 1),
        "files_mb": {p.name: round(p.stat().st_size / 1e6, 2) for p in version.iterdir()},
        "version": str(version),
    }


def latency(call: Any, inputs: list[Any]) -> dict[str, float]:
    times = []
    for value in inputs:
        started = time.perf_counter()
        call(value)
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(percentile(times, 50), 2), "p99_ms": round(percentile(times, 99), 2)}


def serve(version: str) -> dict[str, Any]:
    import polars as pl

    from recsys.core.types import RecommendRequest, SearchRequest, SuggestRequest
    from recsys.service import Engine

    started = time.perf_counter()
    engine = Engine.load(Path(version))
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    catalog = pl.read_parquet(Path(version) / "catalog.parquet", columns=["title", "description"])
    rows = rng.choice(catalog.height, REQUESTS, replace=False)
    titles = [catalog["title"][int(i)] for i in rows]
    fragments = [" ".join((catalog["description"][int(i)] or "").split()[3:9]) for i in rows]
    users = pl.read_parquet(Path(version) / "interactions.parquet", columns=["user_id"])
    user_ids = users["user_id"].unique().sort().sample(REQUESTS, seed=0, with_replacement=True)
    return {
        "engine_load_s": round(load_s, 1),
        "peak_rss_mb_serving": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "search_title": latency(lambda q: engine.search(SearchRequest(q, k=10)), titles),
        "search_description": latency(lambda q: engine.search(SearchRequest(q, k=10)), fragments),
        "suggest": latency(lambda q: engine.suggest(SuggestRequest(q[:4], k=8)), titles),
        "recommendations": latency(
            lambda u: engine.recommend(RecommendRequest(u, k=10)), user_ids.to_list()
        ),
    }


def exponents(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Slope of log(seconds) on log(items), per build stage (two sizes or more)."""
    done = [r for r in runs if not r["build"].get("failed")]
    if len(done) < 2:
        return {}
    x = np.log([r["items"] for r in done])
    out = {}
    for stage in done[0]["build"]["stages_s"]:
        y = [max(r["build"]["stages_s"].get(stage, 0.0), 1e-3) for r in done]
        out[stage.removesuffix("_s")] = round(float(np.polyfit(x, np.log(y), 1)[0]), 2)
    return out


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [r for r in runs if not r["build"].get("failed")]
    items = [r["items"] for r in done]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for stage in done[0]["build"]["stages_s"] if done else []:
        left.plot(items, [r["build"]["stages_s"][stage] for r in done], "o-", label=stage)
    left.set(xscale="log", yscale="log", xlabel="items", ylabel="seconds", title="build stages")
    left.legend(fontsize=7)
    peaks = [max(r["build"]["peak_rss_mb_after_stage"].values(), default=0) for r in done]
    right.plot(items, peaks, "o-")
    right.set(xscale="log", yscale="log", xlabel="items", ylabel="MB", title="build peak RSS")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", action="append", type=parse_size, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/scale"))
    parser.add_argument("--encoder", default="hashing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "scale.json")
    parser.add_argument(
        "--reuse-builds",
        action="store_true",
        help="serve (and report) the builds an earlier run of these sizes made, not rebuild",
    )
    args = parser.parse_args(argv)

    from pipelines.synth import SynthSpec, write_data_dir

    args.work.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {**run_header(), "encoder": args.encoder, "runs": []}
    for items, users, interactions in sorted(args.size):
        name = f"{items}-{users}-{interactions}-{args.seed}"
        data, out = args.work / f"data-{name}", args.work / f"artifacts-{name}"
        spec = SynthSpec(items, users, interactions, args.seed)
        synth = write_data_dir(spec, data) if not data.exists() else {"reused": True}
        run: dict[str, Any] = {"items": items, "users": users, "interactions": interactions}
        run["synth"] = synth
        saved = out.with_suffix(".build.json")
        if args.reuse_builds and saved.exists():  # serve again what an earlier run built
            run["build"] = {**json.loads(saved.read_text()), "reused": True}
        else:
            run["build"] = build(data, out, args.encoder)
            saved.write_text(json.dumps(run["build"]))
        print(f"{items} items: build {run['build']}", flush=True)
        if not run["build"].get("failed"):
            run["serve"] = serve(run["build"]["version"])
            print(f"{items} items: serve {run['serve']}", flush=True)
        payload["runs"].append(run)
        write_json(args.out, payload)  # what is done so far survives a later failure
    payload["exponents"] = exponents(payload["runs"])
    print(f"exponents: {payload['exponents']}")
    plot(payload["runs"], args.out.with_suffix(".png"))
    write_json(args.out, payload)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
