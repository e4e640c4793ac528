"""Capture what the real agents send, as fixtures in tests/fixtures/agents/ (see its README.md):

    .venv/bin/python tests/agents/capture.py

Each agent runs against the recorder (recorder.py) exactly as the tests run it (agent_cli.py):
a plain prompt (its first request) and a tool loop (the request that carries the tool result).
Secret headers are replaced by "REDACTED"; nothing else is changed.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import agent_cli  # noqa: E402
from recorder import Recorded, Recorder  # noqa: E402

FIXTURES = agent_cli.ROOT / "tests" / "fixtures" / "agents"
KEY = "sk-capture-not-a-real-key"
PLAIN_PROMPT = "Say hello in one short line."


def capture(agent: str, prompt: str) -> list[Recorded]:
    rec = Recorder().start()
    try:
        with tempfile.TemporaryDirectory(prefix=f"capture-{agent}-") as tmp:
            run = (agent_cli.run_claude if agent == "claude" else agent_cli.run_codex)(prompt, rec.url, KEY, Path(tmp))
            if run.returncode != 0:
                raise SystemExit(f"{agent} failed:\n{run.explain()}")
        return list(rec.requests)
    finally:
        rec.stop()


def model_requests(requests: list[Recorded], path: str) -> list[Recorded]:
    return [r for r in requests if r.path.split("?")[0] == path]


def write(name: str, request: Recorded, **extra: Any) -> None:
    data = request.redacted()
    assert KEY not in json.dumps(data), f"the key leaked into {name}"
    data.update(extra)
    (FIXTURES / name).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {FIXTURES / name}")


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    summary = {}
    for agent, path, prompt_tool in (("claude", "/v1/messages", agent_cli.CLAUDE_TOOL_PROMPT),
                                     ("codex", "/v1/responses", agent_cli.CODEX_TOOL_PROMPT)):
        plain = capture(agent, PLAIN_PROMPT)
        tool = capture(agent, prompt_tool)
        summary[agent] = {"plain": [(r.method, r.path, r.websocket_upgrade) for r in plain],
                          "tool loop": [(r.method, r.path, r.websocket_upgrade) for r in tool]}
        prefix = "claude_code" if agent == "claude" else "codex"
        write(f"{prefix}_request.json", model_requests(plain, path)[0])
        write(f"{prefix}_tool_result_request.json", model_requests(tool, path)[-1])
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
