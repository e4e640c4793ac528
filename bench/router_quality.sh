#!/usr/bin/env bash
# Train the router on half of the shared routing data (per source), report train and held-out
# metrics, then evaluate the saved router on each file and measure its decision latency.
#   bash bench/router_quality.sh [OUT_DIR]      (about 5-10 minutes on 2 cores, mostly embedding)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${TIERROUTE_ROUTING_DATA:-../shared/data/routing}
OUT=${1:-/tmp/tierroute-router-bench}
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src
$PY -m tierroute router train --data "$DATA/mmlu.dev.jsonl.gz" --data "$DATA/gsm8k.dev.jsonl" \
  --data "$DATA/mtbench.dev.jsonl" --holdout 0.5 --seed 7 --out "$OUT/router_half.npz"
for f in mmlu.dev.jsonl.gz gsm8k.dev.jsonl; do
  echo "== $f (whole file; half of it was training data)"
  $PY -m tierroute router eval --router "$OUT/router_half.npz" --data "$DATA/$f" --json
done
$PY bench/router_latency.py --router "$OUT/router_half.npz" --n 300
