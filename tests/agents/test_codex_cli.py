"""The real Codex CLI (`codex exec`, from scripts/ensure-agents.sh) against tierroute, with a
`[model_providers.tierroute]` block in a temporary CODEX_HOME (agent_cli.codex_config).

Against the recording server first (recorder.py plays the model), which pins down what Codex sends
and that the harness drives it right; then straight at the provider simulator; then against an
offline `tierroute serve`, whose built-in simulator answers every model: a plain prompt, and a tool
loop through its exec_command tool.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent_cli import CODEX_TOOL_PROMPT, TOOL_OUTPUT, Run, run_codex
from recorder import RECORDER_TEXT, Recorded, Recorder

from gateway_process import MASTER_KEY, GatewayProcess, SimThread

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
KEY = "sk-agent-test-key"
PLAIN = "Say hello in one short line. [[sim:notool]]"
SIM_TEXT = re.compile(r"\[[^\]]+\] answer to: ")  # how every simulator answer starts


def _ok(run: Run, log: str = "") -> str:
    assert run.returncode == 0, run.explain() + (f"\n--- gateway log ---\n{log[-4000:]}" if log else "")
    return run.stdout  # codex exec prints the final answer alone on stdout


def _shape(r: Recorded | dict) -> dict:
    """What should stay the same between two runs of the same Codex version."""
    d = r.redacted() if isinstance(r, Recorded) else r
    body = d["body"]
    return {"method": d["method"], "path": d["path"], "headers": sorted(d["headers"]), "body": sorted(body),
            "tools": [t.get("name", t["type"]) for t in body.get("tools", [])],
            "input": [(i.get("type"), i.get("role")) for i in body["input"]]}


def test_codex_request_against_recorder(recorder: Recorder, tmp_path: Path) -> None:
    out = _ok(run_codex(PLAIN, recorder.url, KEY, tmp_path))
    assert RECORDER_TEXT in out
    # One HTTP request: no WebSocket upgrade, no /v1/models, nothing else.
    assert [(r.method, r.path, r.websocket_upgrade) for r in recorder.requests] == [("POST", "/v1/responses", False)]
    first = recorder.requests[0]
    headers = {k.lower(): v for k, v in first.headers}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "text/event-stream" and first.body["stream"] is True
    assert first.body["model"] == "gpt-5.1-codex" and first.body["store"] is False
    fixture = json.loads((FIXTURES / "codex_request.json").read_text())
    assert _shape(first) == _shape(fixture), "Codex now sends another request: recapture with tests/agents/capture.py"


def test_codex_tool_loop_against_recorder(recorder: Recorder, tmp_path: Path) -> None:
    out = _ok(run_codex(CODEX_TOOL_PROMPT, recorder.url, KEY, tmp_path))
    assert TOOL_OUTPUT in out
    calls = recorder.model_requests("/v1/responses")
    assert len(calls) == 2
    call, output = calls[1].body["input"][-2:]
    assert call["type"] == "function_call" and call["name"] == "exec_command"
    assert output["type"] == "function_call_output" and output["call_id"] == call["call_id"]
    assert TOOL_OUTPUT in output["output"]
    fixture = json.loads((FIXTURES / "codex_tool_result_request.json").read_text())
    assert _shape(calls[1]) == _shape(fixture), "recapture with tests/agents/capture.py"


def test_codex_tool_loop_against_simulator(sim: SimThread, tmp_path: Path) -> None:
    """Straight at the provider simulator (its Responses API), no gateway in between."""
    run = run_codex(CODEX_TOOL_PROMPT, sim.base_url, KEY, tmp_path, model="gpt-4.1")
    out = _ok(run)
    assert SIM_TEXT.search(out) and TOOL_OUTPUT in out, run.explain()


def test_codex_answers_through_offline_gateway(offline_gateway: GatewayProcess, tmp_path: Path) -> None:
    run = run_codex(PLAIN, offline_gateway.url, MASTER_KEY, tmp_path, model="auto")
    assert SIM_TEXT.search(_ok(run, offline_gateway.log())), run.explain()


def test_codex_runs_shell_tool_through_offline_gateway(offline_gateway: GatewayProcess, tmp_path: Path) -> None:
    run = run_codex(CODEX_TOOL_PROMPT, offline_gateway.url, MASTER_KEY, tmp_path, model="auto")
    # 42 appears only if exec_command really ran `echo tierroute-$((6*7))` and its output went back.
    assert TOOL_OUTPUT in _ok(run, offline_gateway.log()), run.explain()
