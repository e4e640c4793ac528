"""The real Claude Code (`claude -p`, from scripts/ensure-agents.sh) against tierroute.

Against the recording server first (recorder.py plays the model), which pins down what Claude Code
sends and that the harness drives it right; then straight at the provider simulator; then against
an offline `tierroute serve`, whose built-in simulator answers every model: a plain prompt, and a
tool loop through the Bash tool.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from agent_cli import CLAUDE_TOOL_PROMPT, TOOL_OUTPUT, Run, run_claude
from recorder import RECORDER_TEXT, Recorded, Recorder

from gateway_process import MASTER_KEY, GatewayProcess, SimThread

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents"
KEY = "sk-agent-test-key"
PLAIN = "Say hello in one short line. [[sim:notool]]"
SIM_TEXT = re.compile(r"\[[^\]]+\] answer to: ")  # how every simulator answer starts


def _ok(run: Run, log: str = "") -> dict:
    assert run.returncode == 0, run.explain() + (f"\n--- gateway log ---\n{log[-4000:]}" if log else "")
    assert isinstance(run.result, dict), run.explain()
    assert run.result.get("is_error") is False and run.result.get("subtype") == "success", run.explain()
    return run.result


def _shape(r: Recorded | dict) -> dict:
    """What should stay the same between two runs of the same Claude Code version."""
    d = r.redacted() if isinstance(r, Recorded) else r
    body = d["body"]
    return {"method": d["method"], "path": d["path"], "headers": sorted(d["headers"]),
            "anthropic-beta": d["headers"].get("anthropic-beta"), "body": sorted(body),
            "tools": [t["name"] for t in body.get("tools", [])],
            "roles": [m["role"] for m in body["messages"]]}


def test_claude_code_request_against_recorder(recorder: Recorder, tmp_path: Path) -> None:
    run = run_claude(PLAIN, recorder.url, KEY, tmp_path, headers={"X-Tierroute-Task": "coding"})
    assert _ok(run)["result"] == RECORDER_TEXT
    # One model request and nothing else: no count_tokens, no /v1/models, no telemetry.
    assert [(r.method, r.path) for r in recorder.requests] == [("POST", "/v1/messages?beta=true")]
    first = recorder.requests[0]
    headers = {k.lower(): v for k, v in first.headers}
    assert headers["x-api-key"] == KEY and "authorization" not in headers
    assert headers["x-tierroute-task"] == "coding"  # ANTHROPIC_CUSTOM_HEADERS arrive as headers
    assert first.body["stream"] is True and first.body["model"]
    fixture = json.loads((FIXTURES / "claude_code_request.json").read_text())
    assert _shape(first)["headers"] == sorted([*fixture["headers"], "x-tierroute-task"])
    assert {**_shape(first), "headers": None} == {**_shape(fixture), "headers": None}, \
        "Claude Code now sends another request: recapture with tests/agents/capture.py"


def test_claude_code_tool_loop_against_recorder(recorder: Recorder, tmp_path: Path) -> None:
    result = _ok(run_claude(CLAUDE_TOOL_PROMPT, recorder.url, KEY, tmp_path))
    assert TOOL_OUTPUT in result["result"]
    calls = recorder.model_requests("/v1/messages")
    assert len(calls) == 2
    last = calls[1].body["messages"][-1]
    results = [b for b in last["content"] if isinstance(b, dict) and b.get("type") == "tool_result"]
    assert last["role"] == "user" and results and TOOL_OUTPUT in json.dumps(results[0]["content"])
    fixture = json.loads((FIXTURES / "claude_code_tool_result_request.json").read_text())
    assert _shape(calls[1]) == _shape(fixture), "recapture with tests/agents/capture.py"


def test_claude_code_tool_loop_against_simulator(sim: SimThread, tmp_path: Path) -> None:
    """Straight at the provider simulator (its Anthropic dialect), no gateway in between."""
    run = run_claude(CLAUDE_TOOL_PROMPT, sim.base_url, KEY, tmp_path)
    result = _ok(run)["result"]
    assert SIM_TEXT.search(result) and TOOL_OUTPUT in result, run.explain()


def test_claude_code_answers_through_offline_gateway(offline_gateway: GatewayProcess, tmp_path: Path) -> None:
    run = run_claude(PLAIN, offline_gateway.url, MASTER_KEY, tmp_path)
    result = _ok(run, offline_gateway.log())
    assert SIM_TEXT.search(result["result"]), run.explain()


def test_claude_code_runs_bash_tool_through_offline_gateway(offline_gateway: GatewayProcess,
                                                              tmp_path: Path) -> None:
    run = run_claude(CLAUDE_TOOL_PROMPT, offline_gateway.url, MASTER_KEY, tmp_path)
    result = _ok(run, offline_gateway.log())
    # 42 appears only if the Bash tool really ran `echo tierroute-$((6*7))` and its result went back.
    assert TOOL_OUTPUT in result["result"], run.explain()
    assert result["num_turns"] >= 2, run.explain()
