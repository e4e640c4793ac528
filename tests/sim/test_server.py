"""The server's public entry points: ``create_app``, ``start_background`` and the blocking ``run``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from aiohttp import web

from tierroute.sim.config import SimConfig
from tierroute.sim.server import create_app, start_background

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"),
                                                    os.environ.get("PYTHONPATH", "")])}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_start_background_and_close() -> None:
    handle = await start_background(SimConfig())
    assert handle.base_url == f"http://127.0.0.1:{handle.port}" and handle.port > 0
    async with httpx.AsyncClient(base_url=handle.base_url) as c:
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
                         headers={"Authorization": "Bearer k"})  # fmt: skip
        assert r.status_code == 200
        assert handle.state.stats["m"]["ok"] == 1
    await handle.close()


def test_create_app_is_an_aiohttp_application() -> None:
    app = create_app(SimConfig())
    assert isinstance(app, web.Application)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    assert {
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/embeddings",
        "/v1beta/models/{name}",
        "/_sim/stats",
    } <= paths


def test_run_prints_one_line_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "sim.yaml"
    config.write_text("seed: 3\nmodels:\n  m: {latency_ms: 1}\n")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tierroute.sim", "--port", str(port), "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)  # fmt: skip
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}" in line and str(config) in line
        r = httpx.post(f"http://127.0.0.1:{port}/v1/messages", timeout=5,
                       json={"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
                       headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})  # fmt: skip
        assert r.status_code == 200 and r.json()["stop_reason"] == "max_tokens"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        assert proc.stdout.read() == ""  # type: ignore[union-attr]  # one line, no access log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_refuses_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("models:\n  m:\n    faults: {429: 7}\n")
    proc = subprocess.run([sys.executable, "-m", "tierroute.sim", "--port", "0", "--config", str(config)],
                          capture_output=True, text=True, env=ENV, timeout=30)  # fmt: skip
    assert proc.returncode == 2 and str(config) in proc.stderr and "models.m.faults.429" in proc.stderr
