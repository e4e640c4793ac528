"""POST /v1/feedback through a real gateway (simulated vendors) on a real SQLite file and a real
PostgreSQL database: stored, last one wins, bad bodies name the field, and a tenant can neither
score nor learn about another tenant's requests."""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gateway_process import GatewayProcess, SimThread, provider_env, write_config
from tierroute.keys import KeyStore
from tierroute.usage import schema
from tierroute.usage.store_postgres import PostgresStore
from tierroute.usage.store_sqlite import SQLiteStore

PG_URL = os.environ.get("TIERROUTE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ("usage_events", "schema_version", "feedback")


def drop(prefix: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for t in TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {prefix}{t}")


class Store:
    """Reads the feedback table the gateway writes, whichever database it is."""

    def __init__(self, kind: str, path: Path, prefix: str) -> None:
        self.kind, self.path, self.prefix = kind, path, prefix

    def feedback(self, request_id: str) -> tuple[Any, ...] | None:
        sql = f"SELECT score, comment, key_id, given FROM {self.prefix}feedback WHERE request_id = "
        if self.kind == "sqlite":
            with sqlite3.connect(self.path) as db:
                return db.execute(sql + "?", (request_id,)).fetchone()
        with psycopg.connect(PG_URL) as conn:
            return conn.execute(sql + "%s", (request_id,)).fetchone()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gw(request: pytest.FixtureRequest, sim: SimThread, tmp_path_factory: pytest.TempPathFactory
       ) -> Iterator[tuple[GatewayProcess, Store]]:
    d = tmp_path_factory.mktemp(f"feedback-{request.param}")
    prefix = f"fb_{uuid.uuid4().hex[:10]}_" if request.param == "postgresql" else ""
    usage: dict[str, Any] = {"sqlite_path": str(d / "usage.db")}
    if prefix:
        usage = {"database_url": PG_URL, "table_prefix": prefix}
    g = GatewayProcess(write_config(d, {"cache": {"enabled": False}, "usage": usage}),
                       env=provider_env(sim.base_url), workdir=d).start()
    yield g, Store(request.param, d / "usage.db", prefix)
    g.stop()
    if prefix:
        drop(prefix)


def chat(gw: GatewayProcess, headers: dict[str, str], text: str, stream: bool = False) -> str:
    r = httpx.post(gw.url + "/v1/chat/completions", headers=headers, timeout=30,
                   json={"model": "gpt-4o", "messages": [{"role": "user", "content": text}], "stream": stream})
    assert r.status_code == 200, r.text
    return r.headers["x-request-id"]


def feedback(gw: GatewayProcess, headers: dict[str, str], body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(gw.url + "/v1/feedback", headers=headers, content=body, timeout=30)
    return httpx.post(gw.url + "/v1/feedback", headers=headers, json=body, timeout=30)


def key(gw: GatewayProcess, name: str) -> tuple[str, dict[str, str]]:
    # The gateway reads the key file again when it meets a key it does not know.
    secret, info = KeyStore(Path(gw.workdir, ".tierroute", "keys.db")).create(name)
    return info.id, {"Authorization": f"Bearer {secret}"}


def test_feedback_is_stored_and_the_last_one_wins(gw: tuple[GatewayProcess, Store]) -> None:
    g, store = gw
    rid = chat(g, g.headers(), "What is the boiling point of water?")
    # Sent at once: the record may still be queued in the gateway (batched writes); it must be found.
    r = feedback(g, g.headers(), {"request_id": rid, "score": 0.25, "comment": "too vague"})
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "feedback", "request_id": rid, "score": 0.25, "comment": "too vague",
                        "replaced": False}
    assert store.feedback(rid) == (0.25, "too vague", None, 1)
    r = feedback(g, g.headers(), {"request_id": rid, "score": 1})
    assert r.status_code == 200 and r.json()["replaced"] is True
    assert store.feedback(rid) == (1.0, None, None, 2)  # the whole later feedback replaces the earlier


def test_feedback_right_after_a_stream(gw: tuple[GatewayProcess, Store]) -> None:
    g, store = gw
    rid = chat(g, g.headers(), "Name three rivers in Europe.", stream=True)
    assert feedback(g, g.headers(), {"request_id": rid, "score": 0.75}).status_code == 200
    assert store.feedback(rid)[0] == 0.75


def test_unknown_request_is_404(gw: tuple[GatewayProcess, Store]) -> None:
    g, _ = gw
    r = feedback(g, g.headers(), {"request_id": "req_" + "0" * 24, "score": 1})
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "request_not_found" and err["param"] == "request_id"


def test_a_tenant_cannot_score_another_tenants_request(gw: tuple[GatewayProcess, Store]) -> None:
    g, store = gw
    a_id, a = key(g, "team-a")
    _, b = key(g, "team-b")
    rid = chat(g, a, "Summarise the plot of Hamlet in one line.")
    stolen = feedback(g, b, {"request_id": rid, "score": 0})
    unknown = feedback(g, b, {"request_id": "req_" + "f" * 24, "score": 0})
    # Exactly what an unknown id gets (status, code, wording): nothing says the id exists.
    assert stolen.status_code == unknown.status_code == 404
    assert stolen.json()["error"]["message"].replace(rid, "ID") == \
        unknown.json()["error"]["message"].replace("req_" + "f" * 24, "ID")
    assert store.feedback(rid) is None
    assert feedback(g, a, {"request_id": rid, "score": 0.5}).status_code == 200
    assert store.feedback(rid) == (0.5, None, a_id, 1)
    # The master key (the operator) may score any request.
    assert feedback(g, g.headers(), {"request_id": rid, "score": 0.9}).status_code == 200
    # A master-key request is no tenant's.
    mine = chat(g, g.headers(), "Which planet is largest?")
    assert feedback(g, a, {"request_id": mine, "score": 1}).status_code == 404


def test_feedback_needs_a_key(gw: tuple[GatewayProcess, Store]) -> None:
    g, _ = gw
    r = feedback(g, {}, {"request_id": "req_x", "score": 1})
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


# Validation happens before the store is touched: the SQLite gateway alone is enough.
@pytest.mark.parametrize("gw", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("body", "param"), [
    ({"score": 1}, "request_id"),
    ({"request_id": "req_x"}, "score"),
    ({"request_id": "", "score": 1}, "request_id"),
    ({"request_id": 12, "score": 1}, "request_id"),
    ({"request_id": "req_x", "score": "good"}, "score"),
    ({"request_id": "req_x", "score": 1.5}, "score"),
    ({"request_id": "req_x", "score": -0.1}, "score"),
    ({"request_id": "req_x", "score": True}, "score"),
    ({"request_id": "req_x", "score": 1, "comment": 5}, "comment"),
    ({"request_id": "req_x", "score": 1, "comment": "x" * 4001}, "comment"),
    ({"request_id": "req_x", "rating": 1}, "rating"),
])
def test_bad_body_names_the_field(gw: tuple[GatewayProcess, Store], body: dict, param: str) -> None:
    g, _ = gw
    r = feedback(g, g.headers(), body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param and param in err["message"]


@pytest.mark.parametrize("gw", ["sqlite"], indirect=True)
@pytest.mark.parametrize("raw", [b"", b"{not json", b"[1, 2]"])
def test_body_that_is_not_a_json_object(gw: tuple[GatewayProcess, Store], raw: bytes) -> None:
    g, _ = gw
    r = feedback(g, g.headers(), raw)
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


async def test_an_older_store_gains_the_feedback_table(tmp_path: Path) -> None:
    """A store made before feedback existed (schema version 1) is migrated when opened, rows kept."""
    prefix = f"mig_{uuid.uuid4().hex[:10]}_"
    old_sqlite = sqlite3.connect(tmp_path / "old.db")
    with old_sqlite:
        for stmt in [f"CREATE TABLE {prefix}schema_version (version INTEGER NOT NULL)",
                     f"INSERT INTO {prefix}schema_version VALUES (1)", *schema.migration_sql(prefix, "sqlite", 0)]:
            old_sqlite.execute(stmt)
        old_sqlite.execute(f"INSERT INTO {prefix}usage_events (request_id, ts, endpoint, requested_model, "
                           "prompt_tokens, completion_tokens, cost_usd, baseline_cost_usd, latency_ms, stream, "
                           "cache, saved_usd, attempts, fallbacks, escalated, status) "
                           "VALUES ('req_old', 1, 'chat', 'auto', 1, 1, 0, 0, 1, 0, 'miss', 0, '[]', 0, 0, 200)")
    old_sqlite.close()
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for stmt in [f"CREATE TABLE {prefix}schema_version (version INTEGER NOT NULL)",
                     f"INSERT INTO {prefix}schema_version VALUES (1)", *schema.migration_sql(prefix, "postgresql", 0)]:
            conn.execute(stmt)
    try:
        for store in (SQLiteStore(str(tmp_path / "old.db"), prefix), PostgresStore(PG_URL, prefix)):
            await store.open()
            versions = await store.query(f"SELECT version FROM {prefix}schema_version ORDER BY version")
            assert [v for (v,) in versions] == list(range(1, schema.SCHEMA_VERSION + 1))
            assert await store.put_feedback("req_old", 2.0, None, 0.5, None) == 1
            assert await store.put_feedback("req_old", 3.0, "key_x", 0.0, "wrong") == 2
            assert await store.query(f"SELECT request_id, score, comment, key_id FROM {prefix}feedback") == \
                [("req_old", 0.0, "wrong", "key_x")]
            await store.close()
    finally:
        drop(prefix)
