"""End to end: known requests through the real gateway (``tierroute serve``) and the simulator, and
every field of the usage record they leave checked: tokens, cost from the catalog, baseline cost,
fallbacks and attempts, cache hits, failures."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway_process import GatewayProcess, provider_env, write_config
from tierroute.config.loader import load_settings
from tierroute.types import UsageEvent
from tierroute.usage import schema
from tierroute.usage.store_sqlite import SQLiteStore

approx = pytest.approx


@pytest.fixture(scope="module")
def usage_gateway(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    d = tmp_path_factory.mktemp("usage-gw")
    cfg = write_config(d, {"usage": {"sqlite_path": str(d / "usage.db"), "spill_dir": str(d / "spill"),
                                     "flush_interval_s": 0.05}})  # fmt: skip
    gw = GatewayProcess(config=cfg, env=provider_env(sim.base_url), workdir=d).start()
    yield gw, d / "usage.db"
    gw.stop()


def _chat(gw: GatewayProcess, model: str, text: str, **extra: Any) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 64, **extra}
    r = httpx.post(f"{gw.url}/v1/chat/completions", json=body, headers=gw.headers(), timeout=30)
    return r


def _records(gw: GatewayProcess, db: Path) -> dict[str, UsageEvent]:
    # Any report first flushes the gateway's queue, so the file holds everything answered so far.
    assert httpx.get(f"{gw.url}/admin/usage", headers=gw.headers(), timeout=10).status_code == 200

    async def read() -> list[UsageEvent]:
        s = SQLiteStore(str(db))
        await s.open()
        rows = await s.query(f"SELECT {', '.join(schema.COLUMN_NAMES)} FROM {s.table}")
        await s.close()
        return [schema.from_row(tuple(r)) for r in rows]

    return {e.request_id: e for e in asyncio.run(read())}


def _newest(records: dict[str, UsageEvent]) -> UsageEvent:
    return max(records.values(), key=lambda e: e.ts)


def test_fields_of_a_known_request(usage_gateway: Any) -> None:
    gw, db = usage_gateway
    catalog = load_settings(str(gw.config), environ={**gw.env}).catalog
    r = _chat(gw, "gpt-4o", f"Name one prime number. {uuid.uuid4().hex}")
    assert r.status_code == 200, r.text
    u = r.json()["usage"]
    e = _newest(_records(gw, db))
    assert (e.requested_model, e.model, e.provider, e.endpoint) == ("gpt-4o", "gpt-4o", "openai", "chat")
    assert e.deployment == "openai/gpt-4o" and e.key_id is None and e.status == 200 and e.error_class is None
    assert (e.prompt_tokens, e.completion_tokens) == (u["prompt_tokens"], u["completion_tokens"])
    assert e.cost_usd == approx(catalog.cost("gpt-4o", e.prompt_tokens, e.completion_tokens))
    assert e.baseline_model == "claude-opus-4"
    assert e.baseline_cost_usd == approx(catalog.cost("claude-opus-4", e.prompt_tokens, e.completion_tokens))
    assert e.fallbacks == 0 and [a.outcome for a in e.attempts] == ["ok"]
    assert e.latency_ms > 0 and e.cache == "miss" and not e.stream


def test_fallback_is_recorded(usage_gateway: Any) -> None:
    gw, db = usage_gateway
    # claude-sonnet-4 fails; tierroute.yaml's fallback chain for it answers instead.
    r = _chat(gw, "claude-sonnet-4", f"[[sim:error=500@claude-sonnet-4*]] Tell me a fact. {uuid.uuid4().hex}")
    assert r.status_code == 200, r.text
    e = _newest(_records(gw, db))
    assert e.requested_model == "claude-sonnet-4" and e.model != "claude-sonnet-4" and e.fallbacks >= 1
    assert any(
        a.deployment == "anthropic/claude-sonnet-4" and a.outcome == "UpstreamError" for a in e.attempts
    )
    assert e.attempts[-1].outcome == "ok" and e.attempts[-1].deployment == e.deployment
    assert e.deployment == r.headers["X-Tierroute-Provider"] + "/" + r.headers["X-Tierroute-Model"]


def test_failure_is_recorded(usage_gateway: Any) -> None:
    gw, db = usage_gateway
    r = _chat(gw, "gpt-4o", f"[[sim:error=500@gpt-4o]] Tell me a fact. {uuid.uuid4().hex}")
    assert r.status_code == 502
    e = _newest(_records(gw, db))
    assert (e.status, e.error_class, e.model, e.cost_usd) == (502, "AllAttemptsFailed", None, 0.0)
    assert e.attempts and all(a.outcome == "UpstreamError" for a in e.attempts)


def test_cache_hit_is_recorded(usage_gateway: Any) -> None:
    gw, db = usage_gateway
    text = f"What is the capital of France? {uuid.uuid4().hex}"
    first = _chat(gw, "gpt-4o", text, temperature=0)
    second = _chat(gw, "gpt-4o", text, temperature=0)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("X-Tierroute-Cache", "").startswith("hit")
    recs = sorted(_records(gw, db).values(), key=lambda e: e.ts)
    miss, hit = recs[-2], recs[-1]
    assert hit.cache.startswith("hit") and hit.cost_usd == 0
    assert hit.saved_usd == approx(miss.cost_usd)
    assert hit.baseline_cost_usd == approx(miss.baseline_cost_usd)
