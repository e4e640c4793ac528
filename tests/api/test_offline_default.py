"""`tierroute serve` with no provider key: every model is served by the built-in simulator, and the
gateway says so in its banner and in /v1/models."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from gateway_process import GatewayProcess


def test_offline_start_answers_within_seconds(tmp_path: Path) -> None:
    t0 = time.monotonic()
    gw = GatewayProcess(workdir=tmp_path).start()
    try:
        r = httpx.post(gw.url + "/v1/chat/completions", headers=gw.headers(), timeout=30,
                       json={"model": "auto", "messages": [{"role": "user", "content": "Say hello."}]})
        elapsed = time.monotonic() - t0
        assert r.status_code == 200, r.text
        assert r.json()["choices"][0]["message"]["content"]
        assert elapsed < 10
        assert "OFFLINE" in gw.log() and "simulator" in gw.log()
        models = httpx.get(gw.url + "/v1/models", headers=gw.headers()).json()["data"]
        assert models and all(m["simulated"] for m in models)
        ready = httpx.get(gw.url + "/health/readiness", headers=gw.headers()).json()
        assert ready["simulator"].startswith("http://127.0.0.1:")
    finally:
        assert gw.stop() == 0  # a graceful SIGTERM exit


def test_health_probe_calls_each_deployment(tmp_path: Path) -> None:
    gw = GatewayProcess(workdir=tmp_path).start()
    try:
        h = httpx.get(gw.url + "/health?probe=true", headers=gw.headers(), timeout=60).json()
        chat = [d for d in h["deployments"] if d.get("probe") != "skipped (embedding model)"]
        assert chat and all(d["probe"] == "ok" for d in chat), chat
        assert {d["deployment"] for d in chat} >= {"anthropic/claude-opus-4", "gemini/gemini-2.0-flash"}
    finally:
        gw.stop()
