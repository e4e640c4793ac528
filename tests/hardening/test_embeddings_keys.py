"""Item 4 of issue 12: /v1/embeddings spends, so a virtual key's model list and budget apply to it
as to chat, and each request leaves a usage record (endpoint "embeddings", cost from the catalog).
Real HTTP against `tierroute serve` on the simulator."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config

MODEL = "text-embedding-3-small"
PRICE_PER_M = 0.02  # config/models.yaml


@pytest.fixture(scope="module")
def gw(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    d = tmp_path_factory.mktemp("embed-keys")
    g = GatewayProcess(write_config(d), env=provider_env(sim.base_url), workdir=d).start()
    yield g
    g.stop()


def make_key(gw: GatewayProcess, *args: str) -> tuple[str, str]:
    out = subprocess.run([sys.executable, "-m", "tierroute", "keys", "create", "--config", str(gw.config), *args],
                         cwd=gw.workdir, capture_output=True, text=True, check=True).stdout
    key_id, key = out.split()[:2]
    return key_id, key


def embed(gw: GatewayProcess, key: str, text: str = "a sentence to embed") -> httpx.Response:
    return httpx.post(gw.url + "/v1/embeddings", headers={"Authorization": f"Bearer {key}"}, timeout=30,
                      json={"model": MODEL, "input": text})


def records(gw: GatewayProcess, key_id: str) -> list[sqlite3.Row]:
    httpx.get(gw.url + "/admin/usage", headers=gw.headers(), timeout=30)  # flushes the recorder first
    with sqlite3.connect(Path(gw.workdir, ".tierroute", "usage.db")) as db:
        db.row_factory = sqlite3.Row
        table = next(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%usage_events'"))
        return list(db.execute(f"SELECT * FROM {table} WHERE key_id = ? ORDER BY ts", (key_id,)))


def test_model_list_applies(gw: GatewayProcess) -> None:
    key_id, k = make_key(gw, "--name", "chat-only", "--models", "standard,gpt-4o")
    r = embed(gw, k)
    assert r.status_code == 403 and r.json()["error"]["param"] == "model"
    rows = records(gw, key_id)
    assert [(row["endpoint"], row["status"]) for row in rows] == [("embeddings", 403)]
    _, allowed = make_key(gw, "--name", "embed-ok", "--models", MODEL)
    assert embed(gw, allowed).status_code == 200


def test_budget_applies_and_usage_is_recorded(gw: GatewayProcess) -> None:
    key_id, k = make_key(gw, "--name", "tiny-embed", "--budget-usd", "0.0000001", "--period", "day")
    first = embed(gw, k, "the first text to embed, long enough to cost something " * 4)
    assert first.status_code == 200, first.text
    assert first.headers["x-request-id"].startswith("req_")
    tokens = first.json()["usage"]["prompt_tokens"]
    second = embed(gw, k)
    assert second.status_code == 429 and second.json()["error"]["type"] == "insufficient_quota"
    rows = records(gw, key_id)
    assert [(row["endpoint"], row["status"]) for row in rows] == [("embeddings", 200), ("embeddings", 429)]
    ok = rows[0]
    assert ok["model"] == MODEL and ok["prompt_tokens"] == tokens > 0
    assert ok["cost_usd"] == pytest.approx(tokens * PRICE_PER_M / 1e6)
    assert ok["request_id"] == first.headers["x-request-id"]


def test_master_key_embeddings_are_recorded_too(gw: GatewayProcess) -> None:
    r = httpx.post(gw.url + "/v1/embeddings", headers=gw.headers(), json={"model": MODEL, "input": ["a", "b"]},
                   timeout=30)
    assert r.status_code == 200
    httpx.get(gw.url + "/admin/usage", headers=gw.headers(), timeout=30)
    with sqlite3.connect(Path(gw.workdir, ".tierroute", "usage.db")) as db:
        table = next(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE name LIKE '%usage_events'"))
        rid = r.headers["x-request-id"]
        row = db.execute(f"SELECT endpoint, key_id, status FROM {table} WHERE request_id = ?", (rid,)).fetchone()
    assert row == ("embeddings", None, 200)
