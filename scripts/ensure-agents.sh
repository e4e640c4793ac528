#!/usr/bin/env bash
# The real coding agents that tests/agents/ runs against `tierroute serve`: Claude Code and the
# Codex CLI, from the npm registry, pinned, in the project-local (gitignored) .agents/ folder.
# Both ship their native binary in an optional per-platform package (@anthropic-ai/claude-code-linux-x64,
# @openai/codex-linux-x64 = @openai/codex@<v>-linux-x64), so no download outside npm happens.
# Idempotent: when both binaries already answer --version with the pinned versions it does nothing.
#   bash scripts/ensure-agents.sh          # install if missing, print the two binaries
#   AGENTS_DIR=/elsewhere bash scripts/ensure-agents.sh
set -euo pipefail

CLAUDE_CODE_VERSION=2.1.332
CODEX_VERSION=0.171.0

cd "$(dirname "$0")/.."
DIR="${AGENTS_DIR:-$PWD/.agents}"
CLAUDE="$DIR/node_modules/.bin/claude"
CODEX="$DIR/node_modules/.bin/codex"

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
ok() {
  "$CLAUDE" --version 2>/dev/null | grep -qF "$CLAUDE_CODE_VERSION" &&
    "$CODEX" --version 2>/dev/null | grep -qF "$CODEX_VERSION"
}

if ok; then
  echo "agents: claude $CLAUDE_CODE_VERSION ($CLAUDE), codex $CODEX_VERSION ($CODEX)"
  exit 0
fi

if ! command -v npm >/dev/null || ! command -v node >/dev/null; then
  as_root apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
fi

mkdir -p "$DIR"
# Exact versions, and the platform packages pinned through the wrappers' own optionalDependencies.
# allowScripts: npm 11 runs no dependency's install script unless approved here; Claude Code's
# postinstall (node install.cjs) copies the native binary over its bin/claude.exe placeholder.
cat >"$DIR/package.json" <<EOF
{
  "name": "tierroute-test-agents",
  "private": true,
  "description": "Written by scripts/ensure-agents.sh: the coding agents tests/agents/ runs.",
  "dependencies": {
    "@anthropic-ai/claude-code": "$CLAUDE_CODE_VERSION",
    "@openai/codex": "$CODEX_VERSION"
  },
  "allowScripts": {
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION": true
  }
}
EOF
echo "agents: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION @openai/codex@$CODEX_VERSION into $DIR"
# engine-strict off: claude-code declares node >=22, but what runs is its native binary, not node
# (only the postinstall runs on node, and it runs on 20).
(cd "$DIR" && npm install --no-audit --no-fund --engine-strict=false --loglevel=error \
  --include=optional >/dev/null)

# Should npm still have skipped the postinstall (an npm that ignores allowScripts, or
# --ignore-scripts set in a user's npmrc), do by hand what it does.
if ! "$CLAUDE" --version >/dev/null 2>&1; then
  (cd "$DIR/node_modules/@anthropic-ai/claude-code" && node install.cjs)
fi

if ! ok; then
  echo "agents: the installed binaries do not run:" >&2
  "$CLAUDE" --version >&2 || true
  "$CODEX" --version >&2 || true
  exit 1
fi
echo "agents: claude $CLAUDE_CODE_VERSION ($CLAUDE), codex $CODEX_VERSION ($CODEX)"
