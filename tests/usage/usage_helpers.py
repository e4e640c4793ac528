"""Shared helpers for the usage tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import os
import uuid
from typing import Any

import psycopg

from tierroute.types import AttemptRecord, UsageEvent
from tierroute.usage import UsageRecorder

PG_URL = os.environ.get("TIERROUTE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CONFIG_YAML = """
simulator: {mode: "on"}
baseline_model: opus
providers:
  anthropic: {dialect: anthropic, base_url: "http://127.0.0.1:9"}
  gemini: {dialect: gemini, base_url: "http://127.0.0.1:9"}
  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1"}
usage: {sqlite_path: "usage.db"}
"""
MODELS_YAML = """
models:
  opus: {tier: premium, provider: anthropic, upstream: o, input_per_m: 15, output_per_m: 75,
         context_window: 200000, capabilities: [vision, tools, json], strengths: [architecture, reasoning]}
  flash: {tier: standard, provider: gemini, upstream: f, input_per_m: 0.10, output_per_m: 0.40,
          context_window: 1000000, capabilities: [vision], strengths: [documentation, chat, vision]}
  coder: {tier: standard, provider: openai, upstream: c, input_per_m: 0.20, output_per_m: 0.60,
          context_window: 32768, strengths: [coding]}
  freebie: {tier: standard, provider: openai, upstream: r, input_per_m: 0, output_per_m: 0,
            context_window: 32768, strengths: [reasoning]}
"""
RULES_YAML = """
rules:
  - {name: vision, when: {vision: true}, models: [flash]}
  - {name: coding, when: {task: coding}, models: [coder, opus], cascade: true}
  - {name: reasoning-hard, when: {task: reasoning, min_complexity: 0.6}, models: [opus]}
  - {name: reasoning, when: {task: reasoning}, models: [freebie]}
  - {name: documentation, when: {task: documentation}, models: [flash]}
  - {name: architecture, when: {task: architecture}, models: [opus]}
"""


def make_event(i: int = 0, **kw: Any) -> UsageEvent:
    base: dict[str, Any] = dict(
        request_id=f"req-{i}-{uuid.uuid4().hex[:8]}", ts=1_760_000_000.0 + i, key_id="k1", endpoint="chat",
        requested_model="auto", model="coder", provider="openai", deployment="openai/coder",
        route="rule:coding", task="coding", complexity=0.25, prompt_tokens=100, completion_tokens=50,
        cost_usd=0.00005, baseline_model="opus", baseline_cost_usd=0.00525, latency_ms=120.0,
    )  # fmt: skip
    base.update(kw)
    return UsageEvent(**base)


def full_event() -> UsageEvent:
    """Every field set to a non-default value."""
    return UsageEvent(
        request_id="req-full-" + uuid.uuid4().hex, ts=1_760_000_123.456, key_id="key-abc", endpoint="messages",
        requested_model="claude-sonnet", model="flash", provider="gemini", deployment="gemini/flash",
        route="rule:doc-simple", task="documentation", complexity=0.375, prompt_tokens=1234,
        completion_tokens=567, cost_usd=0.0003502, baseline_model="opus", baseline_cost_usd=0.061035,
        latency_ms=842.5, ttft_ms=95.25, stream=True, cache="hit-semantic", cache_similarity=0.9312,
        saved_usd=0.0003502,
        attempts=[AttemptRecord(deployment="openai/coder", outcome="RateLimited", latency_ms=12.5, detail="429"),
                  AttemptRecord(deployment="gemini/flash", outcome="ok", latency_ms=830.0)],
        fallbacks=1, escalated=True, escalation_reason="judge:low-confidence", status=200, error_class=None,
    )  # fmt: skip


async def drop_prefix(prefix: str) -> None:
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {prefix}usage_events")
        await conn.execute(f"DROP TABLE IF EXISTS {prefix}feedback")
        await conn.execute(f"DROP TABLE IF EXISTS {prefix}schema_version")


async def all_events(rec: UsageRecorder) -> list[UsageEvent]:
    from tierroute.usage import schema

    assert rec.store is not None
    cols = ", ".join(schema.COLUMN_NAMES)
    rows = await rec.store.query(f"SELECT {cols} FROM {rec.store.table} ORDER BY ts, request_id")
    return [schema.from_row(tuple(r)) for r in rows]


# Hand-priced traffic on the test catalog (coder 0.20/0.60, flash 0.10/0.40, freebie 0/0,
# baseline opus 15/75 USD per 1M tokens). HOUR is an hour boundary; NOW is 10 hours later.
HOUR = 1_759_996_800.0
NOW = HOUR + 10 * 3600


def priced_traffic(catalog: Any) -> list[UsageEvent]:
    def ev(i: int, ts: float, task: str, model: str | None, provider: str | None, p: int, c: int,
           **kw: Any) -> UsageEvent:  # fmt: skip
        cost = (
            0.0 if kw.get("cache", "miss").startswith("hit") or model is None else catalog.cost(model, p, c)
        )
        return make_event(i, ts=ts, task=task, model=model, provider=provider, prompt_tokens=p,
                          completion_tokens=c, cost_usd=cost,
                          baseline_cost_usd=catalog.cost("opus", p, c) if model else 0.0, **kw)  # fmt: skip

    return [
        ev(1, HOUR + 10, "coding", "coder", "openai", 1000, 500, latency_ms=100.0),
        ev(2, HOUR + 3610, "coding", "coder", "openai", 2000, 1000, latency_ms=300.0, fallbacks=1, key_id="k2"),
        ev(3, HOUR + 20, "documentation", "flash", "gemini", 1000, 1000, latency_ms=200.0, ttft_ms=50.0),
        ev(4, HOUR + 3620, "documentation", "flash", "gemini", 1000, 1000, latency_ms=2.0, cache="hit-exact",
           saved_usd=0.0005),
        ev(5, HOUR + 3630, "reasoning", "freebie", "openai", 500, 500, latency_ms=400.0, escalated=True),
        ev(6, HOUR + 3640, "reasoning", None, None, 0, 0, latency_ms=1.0, status=429,
           error_class="QuotaExhausted"),
    ]  # fmt: skip
