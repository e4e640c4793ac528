"""Running the real Claude Code and Codex CLI non-interactively against a local model server
(the gateway, or the recorder), with nothing of this machine's own setup leaking in: a clean
environment, a temporary HOME / CLAUDE_CONFIG_DIR / CODEX_HOME, no telemetry, no updater.

The binaries come from scripts/ensure-agents.sh (``make test`` runs it) in ``.agents/``, or from
``TIERROUTE_AGENTS_DIR``. See docs/agents.md for the same settings as a user would write them.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
AGENTS_DIR = Path(os.environ.get("TIERROUTE_AGENTS_DIR", ROOT / ".agents"))
TIMEOUT_S = 60

# The directive the simulator (and the recorder) obey: call tool NAME with these JSON arguments,
# then answer with the tool's result verbatim.
CLAUDE_TOOL_PROMPT = 'Run it: [[sim:call:Bash {"command":"echo tierroute-$((6*7))","description":"print"}]]'
CODEX_TOOL_PROMPT = 'Run it: [[sim:call:exec_command {"cmd":"echo tierroute-$((6*7))"}]]'
TOOL_OUTPUT = "tierroute-42"


def binary(name: str) -> Path:
    path = AGENTS_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        pytest.fail(f"{name} is not installed at {path}: run `bash scripts/ensure-agents.sh` "
                    "(make test runs it) to install Claude Code and the Codex CLI from npm", pytrace=False)
    return path


def _base_env(home: Path) -> dict[str, str]:
    """Only what a shell needs; none of this machine's ANTHROPIC_* / OPENAI_* / CODEX_* settings."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"), "HOME": str(home),
           "LANG": "C.UTF-8", "TERM": "dumb", "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
           "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    home.mkdir(parents=True, exist_ok=True)
    return env


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    result: Any = None  # claude: the parsed --output-format json object

    def explain(self) -> str:
        said = f"result: {self.result.get('result')!r}\n" if isinstance(self.result, dict) else ""
        return f"{said}exit {self.returncode}\n--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"


def _run(cmd: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Run:
    try:
        p = subprocess.run(cmd, env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"{cmd[0]} did not finish in {timeout}s\n--- stdout ---\n{out[-4000:]}\n--- stderr ---\n"
                    f"{err[-4000:]}", pytrace=False)
    return Run(p.returncode, p.stdout, p.stderr)


# --- Claude Code ---------------------------------------------------------------------------------

def claude_env(base_url: str, key: str, home: Path, headers: dict[str, str] | None = None) -> dict[str, str]:
    env = _base_env(home)
    env.update({
        "ANTHROPIC_BASE_URL": base_url,  # the gateway's root: Claude Code appends /v1/messages
        "ANTHROPIC_API_KEY": key,  # sent as x-api-key (ANTHROPIC_AUTH_TOKEN would be a Bearer header)
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        "CLAUDE_CODE_MAX_RETRIES": "1",  # fail fast in tests, not after ten backoffs
    })
    if headers:
        env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return env


def run_claude(prompt: str, base_url: str, key: str, tmp: Path, *, model: str | None = None,
               headers: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> Run:
    """``claude -p PROMPT --output-format json``, the Bash tool allowed without asking."""
    work = tmp / "work"
    work.mkdir(parents=True, exist_ok=True)
    cmd = [str(binary("claude")), "-p", prompt, "--output-format", "json", "--allowedTools", "Bash",
           "--max-turns", "4"]
    if model:
        cmd += ["--model", model]
    run = _run(cmd, claude_env(base_url, key, tmp / "home", headers), work, timeout)
    try:
        run.result = json.loads(run.stdout)
    except ValueError:
        run.result = None
    return run


# --- Codex CLI -----------------------------------------------------------------------------------

def codex_config(base_url: str, model: str) -> str:
    """config.toml for CODEX_HOME: tierroute as the model provider, over HTTP + SSE."""
    return f"""model = "{model}"
model_provider = "tierroute"

[model_providers.tierroute]
name = "tierroute"
base_url = "{base_url}/v1"
wire_api = "responses"
env_key = "TIERROUTE_API_KEY"
supports_websockets = false
# fail fast in tests: one retry, not five with backoff
request_max_retries = 1
stream_max_retries = 1

[analytics]
enabled = false

[feedback]
enabled = false
"""


def run_codex(prompt: str, base_url: str, key: str, tmp: Path, *, model: str = "gpt-5.1-codex",
              timeout: float = TIMEOUT_S) -> Run:
    """``codex exec PROMPT``: no git repo needed, no approvals, no sandbox (this is a throwaway
    directory); the final answer is on stdout, the transcript on stderr."""
    home, work, codex_home = tmp / "home", tmp / "work", tmp / "codex-home"
    for d in (work, codex_home):
        d.mkdir(parents=True, exist_ok=True)
    (codex_home / "config.toml").write_text(codex_config(base_url, model))
    env = _base_env(home)
    env.update({"CODEX_HOME": str(codex_home), "TIERROUTE_API_KEY": key})
    cmd = [str(binary("codex")), "exec", "--skip-git-repo-check", "--dangerously-bypass-approvals-and-sandbox",
           "--color", "never", prompt]
    return _run(cmd, env, work, timeout)
