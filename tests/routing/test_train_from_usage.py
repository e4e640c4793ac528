"""`tierroute router train --from-usage`: a gateway (simulated vendors) serves a cascade with the
prompts logged, clients send feedback, and the router trained from that log loads in `router eval`
and in the gateway's router. The rows built from the log are checked one by one: which records are
used, the scores cascade outcomes and feedback give, the imputed ones, and the costs (SQLite and
PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np
import psycopg
import pytest
from click.testing import CliRunner

from gateway_process import GatewayProcess, SimThread, provider_env, write_config
from tierroute.config.loader import load_settings
from tierroute.routing.cli import route_cmd, router_group
from tierroute.routing.usage_data import build_usage_data, load_usage, read_records
from tierroute.types import AttemptRecord, UsageEvent
from tierroute.usage import UsageConfig, UsageMetrics, build_recorder, schema

PG_URL = os.environ.get("TIERROUTE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
CHEAP, STRONG = "mistral-small", "claude-sonnet-4"
RULES = f"""
rules:
  - {{name: coding-cascade, when: {{task: coding}}, models: [{CHEAP}, {STRONG}], cascade: true}}
  - {{name: default, tier: standard, order: price}}
"""
# The cheap model refuses the hard kind of prompt, so the cascade escalates those to the strong one.
REFUSE = "[[sim:refuse@mistral-small*]]"
EASY = "Write a python function that adds {a} and {b} and returns the sum."
HARD = ("Implement a lock-free concurrent skip list in Python with {a} levels, range scans and "
        "linearizable deletes under {b} writer threads. " + REFUSE)
N = 12  # prompts of each kind


class Log:
    """What the test sent: request ids by kind, and the config and usage file the gateway used."""

    def __init__(self, config: Path, db: Path) -> None:
        self.config, self.db = config, db
        self.easy: list[str] = []
        self.hard: list[str] = []


@pytest.fixture(scope="module")
def log(sim: SimThread, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    d = tmp_path_factory.mktemp("from-usage")
    (d / "rate_limits.yaml").write_text("providers: {}\n")
    (d / "routing_rules.yaml").write_text(RULES)
    cfg = write_config(d, {"rate_limits": str(d / "rate_limits.yaml"), "routing_rules": str(d / "routing_rules.yaml"),
                           "cache": {"enabled": False},
                           "usage": {"log_content": True, "sqlite_path": str(d / "usage.db")}})
    gw = GatewayProcess(cfg, env=provider_env(sim.base_url), workdir=d).start()
    out = Log(cfg, d / "usage.db")
    try:
        def ask(text: str, model: str = "auto") -> httpx.Response:
            return httpx.post(gw.url + "/v1/chat/completions", timeout=30,
                              headers={**gw.headers(), "X-Tierroute-Task": "coding"},
                              json={"model": model, "messages": [{"role": "user", "content": text}]})

        for i in range(N):
            r = ask(EASY.format(a=i * 7 + 3, b=i * 11 + 5))
            assert r.status_code == 200 and r.headers["x-tierroute-model"] == CHEAP, r.text
            out.easy.append(r.headers["x-request-id"])
            r = ask(HARD.format(a=i + 4, b=i * 3 + 2))
            assert r.status_code == 200 and r.headers["x-tierroute-model"] == STRONG, r.text
            assert r.headers["x-tierroute-escalated"].startswith(f"{CHEAP}:")
            out.hard.append(r.headers["x-request-id"])
        assert ask("hello", model="no-such-model").status_code == 404  # recorded, as a failure
        # The client disliked one kept cheap answer, and half liked one escalated answer.
        for rid, score in ((out.easy[0], 0.0), (out.hard[0], 0.5)):
            r = httpx.post(gw.url + "/v1/feedback", headers=gw.headers(), json={"request_id": rid, "score": score})
            assert r.status_code == 200, r.text
    finally:
        assert gw.stop() == 0  # a clean stop writes every queued record
    yield out


def test_rows_from_a_cascade_log(log: Log) -> None:
    catalog = load_settings(str(log.config), environ={}).catalog
    ud = load_usage(UsageConfig(sqlite_path=str(log.db)), catalog)
    assert ud.read == 2 * N + 1
    assert dict(ud.skipped) == {"failed request (no answer)": 1}
    # Every answered request, in the order sent (the failed one is not there).
    order = [rid for pair in zip(log.easy, log.hard, strict=True) for rid in pair]
    assert ud.request_ids == order
    d = ud.data
    assert d is not None and set(d.models) == {CHEAP, STRONG}
    c, s = d.models.index(CHEAP), d.models.index(STRONG)
    row = {rid: i for i, rid in enumerate(ud.request_ids)}
    strong_seen = (N - 1 + 0.5) / N  # the strong model's observed scores: 1 each, 0.5 from feedback
    for rid in log.hard:
        # escalated away from (score 0); the strong answer stood (1, or the feedback)
        assert d.scores[row[rid], c] == 0.0
        assert d.scores[row[rid], s] == (0.5 if rid == log.hard[0] else 1.0)
    for rid in log.easy:
        # the cheap answer stood: 1, or the client's 0; the strong model did not run, so it is imputed
        # as no worse than the answer that stood, nor than its own mean
        assert d.scores[row[rid], c] == (0.0 if rid == log.easy[0] else 1.0)
        assert d.scores[row[rid], s] == pytest.approx(strong_seen if rid == log.easy[0] else 1.0)
    assert ud.imputed == N and ud.with_feedback == 2 and ud.escalated == N
    assert {d.sources[i] for i in range(len(d))} == {"coding"}

    events = _events(log.db)
    for rid in log.easy + log.hard:
        e = events[rid]
        cheap = catalog.models[CHEAP].cost(e.prompt_tokens, e.completion_tokens)
        strong = catalog.models[STRONG].cost(e.prompt_tokens, e.completion_tokens)
        if rid in log.easy:
            assert d.costs[row[rid], c] == pytest.approx(e.cost_usd)  # what the answer cost
            assert d.costs[row[rid], s] == pytest.approx(strong)  # what the strong model would have cost
        else:
            assert d.costs[row[rid], s] == pytest.approx(strong)
            # the refused cheap answer was paid for too: the rest of the record's cost
            assert d.costs[row[rid], c] == pytest.approx(e.cost_usd - strong) and e.cost_usd > strong
            assert cheap > 0


def _events(db: Path) -> dict[str, UsageEvent]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"SELECT {', '.join(schema.COLUMN_NAMES)} FROM usage_events").fetchall()
    return {e.request_id: e for e in map(schema.from_row, rows)}


def test_train_eval_and_route_with_a_router_from_usage(log: Log, tmp_path: Path) -> None:
    out = tmp_path / "router.npz"
    runner = CliRunner()
    # Two folds: the cross-validation grid is what takes the time, and 24 rows do not need five.
    r = runner.invoke(router_group, ["train", "--from-usage", str(log.db), "--config", str(log.config),
                                     "--out", str(out), "--quiet", "--folds", "2"])
    assert r.exit_code == 0, r.output
    assert f"{2 * N + 1} read, {2 * N} used (2 scored by feedback, {N} escalated), 1 skipped" in r.output
    assert "skipped 1: failed request" in r.output
    assert f"{2 * N} of {2 * N} rows score both {STRONG} and {CHEAP}" in r.output  # imputed where not run
    assert f"strong={STRONG} weak={CHEAP}" in r.output
    r = runner.invoke(router_group, ["eval", "--router", str(out), "--from-usage", str(log.db),
                                     "--config", str(log.config), "--json"])
    assert r.exit_code == 0, r.output
    m = json.loads(r.stdout)
    # Half the prompts carry all the gain, so the best order (the escalated ones first) scores an
    # APGR of about 0.75, a random one about 0.5. On its own log the router is near the best.
    assert m["apgr"] > 0.7 and m["random"]["apgr"] < 0.6

    # The gateway's config takes it (`tierroute route` plans with the gateway's own Router): new
    # prompts of the kind the cheap model failed need the strong model more than new easy ones
    # (complexity picks the rule and tier for `model: auto`).
    cfg = write_config(tmp_path, {**_overrides(log), "routing": {"router": str(out)}})
    prompts = tmp_path / "new.jsonl"
    prompts.write_text(json.dumps({"id": "hard", "prompt": HARD.replace(REFUSE, "").format(a=9, b=40)}) + "\n"
                       + json.dumps({"id": "easy", "prompt": EASY.format(a=81, b=19)}) + "\n")
    r = runner.invoke(route_cmd, ["--json", "--config", str(cfg), "--file", str(prompts)])
    assert r.exit_code == 0, r.output
    plans = {p["id"]: p["classification"] for p in map(json.loads, r.stdout.splitlines())}
    assert all(any(x.startswith("trained router") for x in c["reasons"]) for c in plans.values())
    assert plans["hard"]["complexity"] > plans["easy"]["complexity"]


def test_a_wrong_table_prefix_is_named_and_creates_nothing(log: Log, tmp_path: Path) -> None:
    r = CliRunner().invoke(router_group, ["train", "--from-usage", str(log.db), "--table-prefix", "prod_",
                                          "--config", str(log.config), "--out", str(tmp_path / "r.npz")])
    assert r.exit_code == 1 and "no table prod_usage_events" in r.output
    with sqlite3.connect(log.db) as conn:  # opening it as a store would have made empty prod_ tables
        assert not conn.execute("SELECT name FROM sqlite_master WHERE name LIKE 'prod_%'").fetchall()


def _overrides(log: Log) -> dict[str, Any]:
    d = log.config.parent
    return {"rate_limits": str(d / "rate_limits.yaml"), "cache": {"enabled": False},
            "usage": {"sqlite_path": str(d / "usage-2.db")}}


def test_a_log_without_prompts_says_what_to_turn_on(tmp_path: Path) -> None:
    cfg = UsageConfig(sqlite_path=str(tmp_path / "u.db"), spill_dir=str(tmp_path / "spill"))
    _write(cfg, [(_event("req_a"), "hi")])  # usage.log_content is off: the prompt is dropped
    r = CliRunner().invoke(router_group, ["train", "--from-usage", cfg.sqlite_path, "--out", str(tmp_path / "r.npz"),
                                          "--config", str(Path(__file__).parents[2] / "config" / "tierroute.yaml")])
    assert r.exit_code == 1
    assert "skipped 1: no logged prompt (usage.log_content was off)" in r.output
    assert "turn on usage.log_content" in r.output and not (tmp_path / "r.npz").exists()


def test_a_log_without_escalations_cannot_teach_a_router(tmp_path: Path) -> None:
    """Two models, each on prompts of its own (no cascade): nothing compares them on one prompt."""
    cfg = UsageConfig(sqlite_path=str(tmp_path / "u.db"), spill_dir=str(tmp_path / "spill"), log_content=True)
    _write(cfg, [(_event(f"req_{i}", ts=i, model=m, attempts=_ok(m)), f"question {i}")
                 for i, m in enumerate([CHEAP, STRONG] * 3)])
    r = CliRunner().invoke(router_group, ["train", "--from-usage", cfg.sqlite_path, "--out", str(tmp_path / "r.npz"),
                                          "--config", str(Path(__file__).parents[2] / "config" / "tierroute.yaml")])
    assert r.exit_code == 1
    assert "6 read, 6 used" in r.output and "0 of 6 rows score both" in r.output
    assert "cascade rule" in r.output and not (tmp_path / "r.npz").exists()


# ---------------------------------------------------------------------------- PostgreSQL, by hand


def _event(rid: str, **kw: Any) -> UsageEvent:
    base: dict[str, Any] = dict(request_id=rid, ts=1_760_000_000.0, key_id=None, endpoint="chat",
                                requested_model="auto", model="a", provider="p", deployment="p/a", route="rule:x",
                                task="coding", complexity=0.3, prompt_tokens=1000, completion_tokens=1000,
                                cost_usd=0.0, attempts=[AttemptRecord(deployment="p/a", outcome="ok", latency_ms=1)])
    base.update(kw)
    return UsageEvent(**base)


def _write(cfg: UsageConfig, items: list[tuple[UsageEvent, str]]) -> None:
    """Record events with their prompts through a real recorder, as the gateway does."""
    async def run() -> None:
        rec = build_recorder(cfg, UsageMetrics())
        await rec.start()
        for e, prompt in items:
            rec.record(e, json.dumps({"messages": [{"role": "user", "content": prompt}], "answer": "ok"}))
        await rec.close()

    asyncio.run(run())


def _ok(*models: str) -> list[AttemptRecord]:
    return [AttemptRecord(deployment=f"p/{m}", outcome="ok", latency_ms=1.0) for m in models]


async def test_rows_from_postgresql_by_hand(tmp_path: Path) -> None:
    """Three models a < b < c escalating in that order, every kind of record that is skipped, and
    feedback given twice; no catalog, so costs come from the records alone."""
    prefix = f"ud_{uuid.uuid4().hex[:10]}_"
    cfg = UsageConfig(database_url=PG_URL, table_prefix=prefix, log_content=True, spill_dir=str(tmp_path / "spill"))
    rec = build_recorder(cfg, UsageMetrics())
    content = msgspec.json.encode({"messages": [{"role": "system", "content": "be brief"},
                                                {"role": "user", "content": "What is 2+2?"}], "answer": "4"}).decode()
    events = [
        _event("r1", ts=1, model="a", cost_usd=0.001),  # a kept
        _event("r2", ts=2, model="c", cost_usd=0.030, escalated=True,  # a, then b, refused: c answered
               attempts=[*_ok("a"), AttemptRecord(deployment="p/b", outcome="RateLimited", latency_ms=1), *_ok("b"),
                         *_ok("c")]),
        _event("r3", ts=3, model="b", cost_usd=0.012, escalated=True, attempts=_ok("a", "b")),  # b stood
        _event("r4", ts=4, model="a", cache="hit-exact"),  # no model ran
        _event("r5", ts=5, model=None, status=429, error_class="QuotaExhausted", attempts=[]),
        _event("r6", ts=6, model="a", endpoint="embeddings"),
        _event("r7", ts=7, model="a", cost_usd=0.001),  # kept, but the client scores it 0.2
    ]
    await rec.start()
    try:
        for e in events:
            rec.record(e, content)
        rec.record(_event("r8", ts=8), None)  # no prompt logged for this one
        await rec.flush()
        store = rec.store
        assert store is not None
        for rid, score in (("r7", 0.9), ("r7", 0.2), ("r2", 0.75), ("r4", 1.0)):
            await store.put_feedback(rid, 9.0, None, score, None)
        ud = build_usage_data(await read_records(store), catalog=None)
    finally:
        await rec.close()
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for t in ("usage_events", "schema_version", "feedback"):
                conn.execute(f"DROP TABLE IF EXISTS {prefix}{t}")
    assert ud.request_ids == ["r1", "r2", "r3", "r7"]
    assert dict(ud.skipped) == {"answered from the cache (no model ran on the prompt)": 1,
                                "failed request (no answer)": 1, "not a chat request": 1,
                                "no logged prompt (usage.log_content was off)": 1}
    assert ud.skipped_feedback == 1  # r4's
    d = ud.data
    assert d is not None and d.texts[0] == "What is 2+2?"  # the last user turn
    s = {m: d.scores[:, d.models.index(m)] for m in "abc"}
    cost = {m: d.costs[:, d.models.index(m)] for m in "abc"}
    # b's observed scores: 0 (r2), 1 (r3); c's: 0.75 (r2). Escalations say a < b < c.
    assert list(s["a"]) == [1.0, 0.0, 0.0, 0.2]
    assert list(s["b"]) == [1.0, 0.0, 1.0, 0.5]  # r1, r7: imputed max(stood, mean of b = 0.5)
    assert list(s["c"]) == [1.0, 0.75, 1.0, 0.75]  # r1, r3 imputed from what stood; r7: c's mean 0.75
    assert ud.imputed == 5
    # Without a catalog only a record that was not escalated prices its model (its cost); nothing
    # splits an escalated record's cost, nor prices a model that did not run.
    assert cost["a"][0] == cost["a"][3] == 0.001
    assert int(np.isnan(d.costs).sum()) == d.costs.size - 2
