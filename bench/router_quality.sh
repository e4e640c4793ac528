#!/usr/bin/env bash
# Router quality on held-out data, over several random splits: for each seed, train on half of each
# source of the shared routing data (every hyper-parameter is chosen by cross-validation inside that
# half) and report the other half; then the mean and spread per source and metric, and the decision
# latency of the first split's router.
#   bash bench/router_quality.sh [OUT_DIR]      SEEDS="7 1 2" by default
# Embeddings are cached in $TIERROUTE_EMBED_CACHE (default OUT_DIR/emb-cache): the first run embeds
# the ~7,900 prompts (about 5 minutes on this CPU), later runs and splits reuse them. Each split
# then trains in about 1.5 minutes (3 repeats of 5-fold CV per expert).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TIERROUTE_ROUTING_DATA:-../shared/data/routing}
OUT=${1:-/tmp/tierroute-router-bench}
SEEDS=${SEEDS:-7 1 2}
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src
export TIERROUTE_EMBED_CACHE=${TIERROUTE_EMBED_CACHE:-$OUT/emb-cache}
FILES=(--data "$DATA/mmlu.dev.jsonl.gz" --data "$DATA/gsm8k.dev.jsonl" --data "$DATA/mtbench.dev.jsonl")
FIRST=""
for s in $SEEDS; do
  echo "== split seed $s: train on half, held-out metrics on the other half"
  $PY -m tierroute router train "${FILES[@]}" --holdout 0.5 --seed "$s" --out "$OUT/router_s$s.npz" \
    --quiet | tee "$OUT/train_s$s.log"
  FIRST=${FIRST:-$OUT/router_s$s.npz}
done
echo "== held-out mean (spread = sample std, min..max) over seeds: $SEEDS"
$PY - "$OUT" $SEEDS <<'EOF'
import json, re, statistics, sys
out, seeds = sys.argv[1], sys.argv[2:]
pat = re.compile(r"^(\S+) held-out APGR ([\d.]+)  CPT50 ([\d.]+)  CPT80 ([\d.]+)  strong@95 ([\d.]+)  cost@95 ([\d.]+)")
keys = ("apgr", "cpt50", "cpt80", "strong_share_at_95", "cost_fraction_at_95")
per: dict = {}
for s in seeds:
    for line in open(f"{out}/train_s{s}.log"):
        m = pat.match(line)
        if m:
            per.setdefault(m.group(1), {}).setdefault(s, dict(zip(keys, map(float, m.groups()[1:]))))
summary = {}
for src, by_seed in per.items():
    summary[src] = {}
    for k in keys:
        v = [by_seed[s][k] for s in seeds if s in by_seed]
        sd = statistics.stdev(v) if len(v) > 1 else 0.0
        summary[src][k] = {"mean": round(statistics.mean(v), 4), "std": round(sd, 4), "min": min(v), "max": max(v)}
        print(f"{src:8} {k:20} {statistics.mean(v):.3f} ± {sd:.3f}  ({min(v):.3f}..{max(v):.3f})")
json.dump({"seeds": seeds, "per_seed": per, "summary": summary}, open(f"{out}/heldout_summary.json", "w"), indent=1)
print(f"wrote {out}/heldout_summary.json")
EOF
$PY bench/router_latency.py --router "$FIRST" --n 300
