"""Virtual keys: made with `tierroute keys`, stored hashed, each a tenant with its own cache, budget,
model list and usage; revoked without a restart."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config


@pytest.fixture(scope="module")
def gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    d = tmp_path_factory.mktemp("keys")
    g = GatewayProcess(write_config(d), env=provider_env(sim.base_url), workdir=d).start()
    yield g
    g.stop()


def make_key(gw: GatewayProcess, *args: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-m", "tierroute", "keys", "create", "--config", str(gw.config), *args],
                         cwd=gw.workdir, capture_output=True, text=True, check=True).stdout
    key_id, key = out.split()[:2]
    return key_id, key


def chat(gw: GatewayProcess, key: str, text: str, model: str = "gpt-4o") -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0})


def test_keys_are_hashed_at_rest(gw: GatewayProcess) -> None:
    _, key = make_key(gw, "--name", "hashed")
    db = Path(gw.workdir, ".tierroute", "keys.db").read_bytes()
    assert key.encode() not in db and key[3:].encode() not in db


def test_tenants_never_share_cache_entries(gw: GatewayProcess) -> None:
    _, a = make_key(gw, "--name", "team-a")
    _, b = make_key(gw, "--name", "team-b")
    q = "What is the capital of Australia? (tenant test)"
    assert chat(gw, a, q).headers["x-tierroute-cache"] == "miss"
    assert chat(gw, b, q).headers["x-tierroute-cache"] == "miss"
    assert chat(gw, a, q).headers["x-tierroute-cache"] == "hit-exact"


def test_no_cache_key_never_hits(gw: GatewayProcess) -> None:
    _, k = make_key(gw, "--name", "fresh", "--no-cache")
    q = "Give me a random fact. (no-cache key)"
    chat(gw, k, q)
    assert "x-tierroute-cache" not in chat(gw, k, q).headers


def test_budget_stops_spending(gw: GatewayProcess) -> None:
    key_id, k = make_key(gw, "--name", "small", "--budget-usd", "0.0000001", "--period", "day")
    first = chat(gw, k, "Explain quicksort. (budget)", model="claude-opus-4")
    assert first.status_code == 200
    second = chat(gw, k, "Explain mergesort. (budget)", model="claude-opus-4")
    assert second.status_code == 429
    err = second.json()["error"]
    assert err["type"] == "insufficient_quota" and "budget" in err["message"]
    rows = httpx.get(gw.url + "/admin/usage", params={"by": "key"}, headers=gw.headers()).json()["data"]
    row = next(r for r in rows if r["key"] == key_id)
    assert row["requests"] == 2 and row["errors"] == 1  # the refusal is recorded too


def test_model_allow_list(gw: GatewayProcess) -> None:
    _, k = make_key(gw, "--name", "cheap-only", "--models", "standard,deepseek-v3")
    assert chat(gw, k, "hi", model="standard").status_code == 200
    r = chat(gw, k, "hi", model="claude-opus-4")
    assert r.status_code == 403 and r.json()["error"]["param"] == "model"


def test_usage_by_key_and_revocation(gw: GatewayProcess) -> None:
    key_id, k = make_key(gw, "--name", "revoke-me")
    assert chat(gw, k, "hello (revocation)").status_code == 200
    rows = httpx.get(gw.url + "/admin/usage", params={"by": "key"}, headers=gw.headers()).json()["data"]
    assert any(r["key"] == key_id and r["requests"] >= 1 for r in rows)
    assert httpx.get(gw.url + "/admin/usage", headers={"Authorization": f"Bearer {k}"}).status_code == 401
    subprocess.run([sys.executable, "-m", "tierroute", "keys", "revoke", key_id, "--config", str(gw.config)],
                   cwd=gw.workdir, check=True, capture_output=True)
    deadline = time.monotonic() + 10
    while chat(gw, k, "hello again").status_code != 401:
        assert time.monotonic() < deadline, "revoked key still accepted"
        time.sleep(0.5)
