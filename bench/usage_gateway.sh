#!/usr/bin/env bash
# What usage recording costs the gateway under load, and whether its queue keeps up: the shared
# harness (../shared/bench: wrk, fixed nginx upstream, gateway pinned to one core) run three times,
# usage off / SQLite / PostgreSQL, with a sampler reading the gateway's /metrics once a second
# (queue depth, records written). Results: $BENCH_HOME/results/usage-*.json and usage-queue-*.log.
#
#   bash bench/usage_gateway.sh                   # CONC="1 16 64", DURATION=15 (harness defaults)
#   CONC=16 DURATION=30 bash bench/usage_gateway.sh
#   PG_URL=postgresql://postgres@127.0.0.1:5432/test bash bench/usage_gateway.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench}
export BENCH_HOME=${BENCH_HOME:-/tmp/tierroute-bench}
export BASELINE=${BASELINE:-0}
PG_URL=${PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
mkdir -p "$BENCH_HOME"
CFG=$ROOT/bench/usage_config/tierroute.yaml
SAMPLER="$ROOT/.venv/bin/python $ROOT/bench/usage_queue_sampler.py"

run() {  # name, env assignments...
  local name=$1; shift
  rm -f "$BENCH_HOME/usage.db"*
  env "$@" NAME="usage-$name" bash "$HARNESS/run.sh" \
    "$SAMPLER \$PORT $BENCH_HOME/usage-queue-$name.log & exec $ROOT/.venv/bin/tierroute serve --config $CFG"
  [ -f "$BENCH_HOME/usage-queue-$name.log" ] && $ROOT/.venv/bin/python "$ROOT/bench/usage_queue_sampler.py" \
    --summary "$BENCH_HOME/usage-queue-$name.log"
}

run off BENCH_USAGE=false
run sqlite BENCH_USAGE=true
# After SIGTERM the gateway flushed everything: every request served is a row.
echo "sqlite rows after shutdown: $($ROOT/.venv/bin/python -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM bench_usage_events').fetchone()[0])" "$BENCH_HOME/usage.db")"
PREFIX="bench_$(date +%s)_"
run postgresql BENCH_USAGE=true BENCH_DATABASE_URL="$PG_URL" BENCH_TABLE_PREFIX="$PREFIX"
echo "postgresql rows after shutdown: $(psql "$PG_URL" -tAc "SELECT COUNT(*) FROM ${PREFIX}usage_events")"
psql "$PG_URL" -qc "DROP TABLE IF EXISTS ${PREFIX}usage_events; DROP TABLE IF EXISTS ${PREFIX}schema_version" || true
