"""A non-streaming client that disconnects cancels its request: the upstream call is dropped, its
quota slot (here the deployment's only concurrency slot) is free again at once, and the request is
recorded as cancelled by the client (ClientClosed, 499), not as a 200."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from gateway_process import MASTER_KEY, GatewayProcess, SimThread, provider_env, write_config

SLOW_MS = 2500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = tmp_path_factory.mktemp("disconnect")
    sim = SimThread({"models": {"gpt-4.1": {"latency_ms": SLOW_MS}}}).start()
    limits = d / "rate_limits.yaml"
    limits.write_text("deployments:\n  openai/gpt-4.1: {max_concurrent: 1}\n")
    cfg = write_config(d, {"cache": {"enabled": False}, "rate_limits": str(limits),
                           "fallbacks": {"models": {"gpt-4.1": []}}})
    gw = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start()
    yield sim, gw, d
    gw.stop()
    sim.stop()


def _row(d: Path, request_id: str | None = None) -> tuple | None:  # type: ignore[type-arg]
    db = d / ".tierroute" / "usage.db"
    if not db.exists():
        return None
    sql = "SELECT status, error_class, latency_ms, attempts FROM usage_events"
    rows = sqlite3.connect(db).execute(sql + " ORDER BY ts").fetchall()
    return rows[0] if rows else None


def test_a_client_that_leaves_frees_its_slot_and_is_recorded(stack) -> None:  # type: ignore[no-untyped-def]
    sim, gw, d = stack
    body = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "Take your time."}]}
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    with pytest.raises(httpx.ReadTimeout):  # the client gives up after 0.4 s and closes the connection
        httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=0.4)
    time.sleep(0.3)
    # The only concurrency slot is free again long before the abandoned upstream call would have ended:
    # the next request is admitted (not 429) and answered after the simulator's own latency.
    t0 = time.monotonic()
    r = httpx.post(gw.url + "/v1/chat/completions", json=body, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    assert time.monotonic() - t0 < SLOW_MS / 1000 + 1.5
    for _ in range(50):
        row = _row(d)
        if row is not None:
            break
        time.sleep(0.1)
    assert row is not None, "the abandoned request has no usage record"
    status, error_class, latency_ms, attempts = row
    assert (status, error_class) == (499, "ClientClosed")
    assert latency_ms < SLOW_MS  # recorded when the client left, not when the upstream would have answered
    assert '"cancelled"' in attempts
