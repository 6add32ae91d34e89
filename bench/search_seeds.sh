#!/bin/bash
# Search quality across build seeds. For each SEED: `recsys build` with
# `[search_training] seed = SEED` (the sample of derived queries the search rankers learn
# from; everything else as shipped), then `bench.search_quality` on that artifact. The
# encoder's embeddings are computed once and shared (OUT/cache).
#
#     bench/search_seeds.sh ENCODER OUT SEED...
#     bench/search_seeds.sh bundled:multilingual-e5-small /tmp/seeds 0 1 2 3
#
# Writes OUT/<seed>/ (artifacts) and OUT/search_quality_seed<seed>.json.
set -euo pipefail
encoder=$1 out=$2
shift 2
cd "$(dirname "$0")/.."
mkdir -p "$out"
for seed in "$@"; do
  sed "s/^\[search_training\]\$/[search_training]\nseed = $seed/" recsys/defaults/recsys.toml \
    >"$out/seed$seed.toml"
  .venv/bin/recsys build --data data --out "$out/$seed" --encoder "$encoder" \
    --cache-dir "$out/cache" --config "$out/seed$seed.toml"
  .venv/bin/python -m bench.search_quality --artifacts "$out/$seed" \
    --out "$out/search_quality_seed$seed.json" | sed -n '/^split test/,/^overall/p'
done
