#!/usr/bin/env bash
# The gateway overhead benchmark: ../shared/bench's harness (wrk against a fixed upstream, then
# through the gateway pinned to one core) run against tierroute and, in the same run, LiteLLM.
#
#   bench/run.sh                 # tierroute then LiteLLM, default load (CONC="1 16 64")
#   ONLY=tierroute bench/run.sh  # just tierroute
#   NAME=tierroute-nousage BENCH_USAGE=0 ONLY=tierroute bench/run.sh   # a feature switched off
# Every knob of the harness (CONC, DURATION, UPSTREAM, STREAM, ...) passes through.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/../shared/bench}
export BENCH_HOME=${BENCH_HOME:-/tmp/tierroute-bench}
[ -x "$BENCH_HOME/.venv/bin/litellm" ] && command -v wrk >/dev/null || bash "$HARNESS/setup.sh"
cd "$ROOT"
NAME=${NAME:-tierroute} bash "$HARNESS/run.sh" "exec $ROOT/.venv/bin/tierroute serve --config $ROOT/bench/config/tierroute.yaml"
if [ "${ONLY:-}" != tierroute ]; then
  BASELINE=0 bash "$HARNESS/run.sh" litellm
fi
