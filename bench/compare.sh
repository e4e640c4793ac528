#!/usr/bin/env bash
# Every variant the issues ask about, one after another on the same machine, then one summary table:
#   tierroute as shipped for the benchmark (quotas + health in process, usage to SQLite), LiteLLM,
#   and tierroute with quotas/health off, with them in Redis, with usage off, with usage in PostgreSQL.
# Each gateway run measures its own direct-to-upstream baseline right before it (overhead = difference).
#   bash bench/compare.sh              # CONC="1 16 64" DURATION=10 WARMUP=3 by default
#   VARIANTS="full litellm" bash bench/compare.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export BENCH_HOME=${BENCH_HOME:-/tmp/tierroute-bench} CONC=${CONC:-"1 16 64"} DURATION=${DURATION:-10} WARMUP=${WARMUP:-3}
export IDLE_SETTLE=${IDLE_SETTLE:-3}
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
export RESULTS=$BENCH_HOME/compare-$RUN_ID
HARNESS=${HARNESS:-$ROOT/../shared/bench}
GW="exec $ROOT/.venv/bin/tierroute serve --config $ROOT/bench/config/tierroute.yaml"
PG=${BENCH_PG_URL:-postgresql://postgres@127.0.0.1:5432/test}
for v in ${VARIANTS:-full litellm no-limits redis-limits no-usage postgres-usage}; do
  case $v in
    full)           NAME=tierroute bash "$HARNESS/run.sh" "$GW" ;;
    litellm)        NAME=litellm bash "$HARNESS/run.sh" litellm ;;
    no-limits)      NAME=tr-no-limits BENCH_LIMITS=false bash "$HARNESS/run.sh" "$GW" ;;
    redis-limits)   NAME=tr-redis-limits BENCH_REDIS_URL=redis://127.0.0.1:6379/0 bash "$HARNESS/run.sh" "$GW" ;;
    no-usage)       NAME=tr-no-usage BENCH_USAGE=false bash "$HARNESS/run.sh" "$GW" ;;
    postgres-usage) NAME=tr-postgres-usage BENCH_DATABASE_URL=$PG bash "$HARNESS/run.sh" "$GW" ;;
    *) echo "unknown variant $v" >&2; exit 2 ;;
  esac
done
"$ROOT/.venv/bin/python" "$ROOT/bench/summarize.py" "$RESULTS"/*.json
