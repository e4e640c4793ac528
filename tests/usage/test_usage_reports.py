"""Reports from recorded traffic, checked against numbers computed by hand, identical on SQLite and
PostgreSQL, through the Python API, the admin HTTP API and ``tierroute report``."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from usage_helpers import HOUR, NOW, PG_URL, drop_prefix, priced_traffic

from tierroute.usage import (
    UsageConfig,
    UsageMetrics,
    UsageRecorder,
    admin_routes,
    build_recorder,
    reports,
    ui_routes,
    usage_cli,
)

approx = pytest.approx


async def test_seed_table_matches_hand_computation(recorder: UsageRecorder, settings: Any) -> None:
    for e in priced_traffic(settings.catalog):
        recorder.record(e)
    await recorder.flush()
    assert recorder.store is not None
    rows = {r["task"]: r for r in await reports.task_savings(recorder.store, 7 * 86400, now=NOW)}
    # coding: 1500+3000 tokens; cost 0.0005+0.001; opus 0.0525+0.105
    assert rows["coding"]["tokens"] == 4500
    assert rows["coding"]["baseline_per_1k"] == approx(0.035)
    assert rows["coding"]["cost_per_1k"] == approx(0.0015 / 4.5)
    assert rows["coding"]["saving_pct"] == approx(100 * (1 - 0.0015 / 0.1575))
    # documentation: one paid (0.0005), one cache hit (0); opus 0.09 each
    assert rows["documentation"]["cost_usd"] == approx(0.0005)
    assert rows["documentation"]["baseline_per_1k"] == approx(0.045)
    assert rows["documentation"]["cost_per_1k"] == approx(0.000125)
    # reasoning: free model plus a quota rejection that used no tokens
    assert rows["reasoning"]["requests"] == 2
    assert rows["reasoning"]["saving_pct"] == approx(100.0)
    total = rows["TOTAL (weighted)"]
    assert total["tokens"] == 9500
    assert total["baseline_per_1k"] == approx(0.3825 / 9.5)
    assert total["cost_per_1k"] == approx(0.002 / 9.5)
    assert total["saving_pct"] == approx(100 * (1 - 0.002 / 0.3825))


async def test_grouping_and_buckets(recorder: UsageRecorder, settings: Any) -> None:
    for e in priced_traffic(settings.catalog):
        recorder.record(e)
    await recorder.flush()
    assert recorder.store is not None
    by_hour = await reports.usage_summary(recorder.store, "model", "hour", 7 * 86400, now=NOW)
    cells = {(r["bucket"], r["model"]): r for r in by_hour}
    assert set(cells) == {(HOUR, "coder"), (HOUR, "flash"), (HOUR + 3600, "coder"), (HOUR + 3600, "flash"),
                          (HOUR + 3600, "freebie"), (HOUR + 3600, "(none)")}  # fmt: skip
    assert cells[(HOUR + 3600, "flash")]["cache_hits"] == 1
    assert cells[(HOUR + 3600, "coder")]["fallback_requests"] == 1
    assert cells[(HOUR + 3600, "(none)")]["quota_rejections"] == 1
    by_key = {
        r["key"]: r for r in await reports.usage_summary(recorder.store, "key", None, 7 * 86400, now=NOW)
    }
    assert by_key["k2"]["requests"] == 1 and by_key["k1"]["requests"] == 5
    # The window: 9.5 hours back excludes the first hour's two requests.
    recent = await reports.usage_summary(recorder.store, "all", None, 9.5 * 3600, now=NOW)
    assert recent[0]["requests"] == 4
    lat = {r["model"]: r for r in await reports.latency_by(recorder.store, "model", 7 * 86400, now=NOW)}
    assert lat["coder"]["p50_ms"] == 100.0 and lat["coder"]["p95_ms"] == 300.0
    assert "(none)" not in lat  # failures and cache hits are not model latency
    assert lat["flash"]["n"] == 1 and lat["flash"]["ttft_p50_ms"] == 50.0


async def test_sqlite_and_postgres_give_the_same_reports(
    tmp_path: Path, pg_prefix: str, settings: Any
) -> None:
    recs = [
        build_recorder(UsageConfig(sqlite_path=str(tmp_path / "a.db"), spill_dir=str(tmp_path / "s1")), UsageMetrics()),
        build_recorder(UsageConfig(database_url=PG_URL, table_prefix=pg_prefix, spill_dir=str(tmp_path / "s2")),
                       UsageMetrics()),
    ]  # fmt: skip
    traffic = priced_traffic(settings.catalog)
    for r in recs:
        await r.start()
        for e in traffic:
            r.record(e)
        await r.flush()
    outs = []
    for r in recs:
        assert r.store is not None
        out: dict[str, Any] = {"savings": await reports.task_savings(r.store, 7 * 86400, now=NOW)}
        for by in ("model", "provider", "task", "key", "cache"):
            for bucket in (None, "hour", "day"):
                rows = await reports.usage_summary(r.store, by, bucket, 7 * 86400, now=NOW)
                out[f"{by}/{bucket}"] = sorted(rows, key=lambda x: (x.get("bucket", 0), x[by]))
        out["latency"] = sorted(
            await reports.latency_by(r.store, "model", 7 * 86400, now=NOW), key=lambda x: x["model"]
        )
        outs.append(out)
        await r.close()
    assert outs[0].keys() == outs[1].keys()
    for k in outs[0]:
        assert outs[0][k] == approx(outs[1][k]) if not isinstance(outs[0][k], list) else True
        assert len(outs[0][k]) == len(outs[1][k]), k
        for a, b in zip(outs[0][k], outs[1][k], strict=True):
            assert a.keys() == b.keys(), k
            for f in a:
                assert a[f] == (approx(b[f]) if isinstance(b[f], float) else b[f]), (k, f)


async def test_admin_api(recorder: UsageRecorder, settings: Any) -> None:
    now = time.time()
    for e in priced_traffic(settings.catalog):
        e.ts = e.ts - HOUR + now - 7200  # recent, so the default 7d window holds it
        recorder.record(e)
    app = web.Application()
    app.add_routes(admin_routes(recorder, headroom=lambda: {"openai/coder": {"limit": 200, "remaining": 50}}))
    app.add_routes(ui_routes(recorder))
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/admin/usage", params={"by": "task"})
        assert r.status == 200
        data = {row["task"]: row for row in (await r.json())["data"]}
        assert data["coding"]["cost_usd"] == approx(0.0015)
        r = await client.get("/admin/usage", params={"by": "provider", "bucket": "hour", "since": "1d"})
        assert {row["provider"] for row in (await r.json())["data"]} == {"openai", "gemini", "(none)"}
        r = await client.get("/admin/usage/savings")
        assert (await r.json())["data"][-1]["saving_pct"] == approx(100 * (1 - 0.002 / 0.3825))
        r = await client.get("/admin/usage/dashboard", params={"since": "7d", "bucket": "day"})
        d = await r.json()
        assert d["cache"]["hit_rate"] == approx(1 / 6)
        assert d["headroom"]["openai/coder"] == {
            "remaining_pct": 25.0,
            "binding": "quota",
            "all": {"quota": 25.0},
        }
        r = await client.get("/ui/static/vendor/chart.js.LICENSE.md")
        assert r.status == 200 and "MIT License" in await r.text()
        for sneaky in (
            "/ui/static/../admin.py",
            "/ui/static/%2e%2e/admin.py",
            "/ui/static/vendor/../../config.py",
        ):
            assert (await client.get(sneaky)).status == 404, sneaky
        r = await client.get("/ui/data", params={"since": "30d"})
        assert r.status == 200 and (await r.json())["task_savings"][-1]["tokens"] == 9500
        for bad, param in (
            ({"by": "color"}, "by"),
            ({"since": "forever"}, "since"),
            ({"bucket": "week"}, "bucket"),
        ):
            r = await client.get("/admin/usage", params=bad)
            assert r.status == 400
            err = (await r.json())["error"]
            assert (
                err["param"] == param and param in err["message"] and err["type"] == "invalid_request_error"
            )


async def record_recent(db: Path, settings: Any) -> None:
    rec = build_recorder(UsageConfig(sqlite_path=str(db), spill_dir=str(db.parent / "s")), UsageMetrics())
    await rec.start()
    now = time.time()
    for e in priced_traffic(settings.catalog):
        e.ts = e.ts - HOUR + now - 7200
        rec.record(e)
    await rec.close()


def test_report_cli_prints_the_tables(tmp_path: Path, settings: Any) -> None:
    # A plain (sync) test: the command runs its own event loop, as it does from a shell.
    db = tmp_path / "cli.db"
    asyncio.run(record_recent(db, settings))
    res = CliRunner().invoke(usage_cli["report"], ["--sqlite-path", str(db), "--since", "7d", "--by", "task"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    coding = next(ln for ln in lines if ln.startswith("coding") and "%" in ln)
    assert coding.split()[1:] == ["2", "4,500", "$0.03500", "$0.00033", "99.0%"]
    total = next(ln for ln in lines if ln.startswith("TOTAL"))
    assert total.split()[2:] == ["6", "9,500", "$0.04026", "$0.00021", "99.5%"]
    assert "Usage by task" in res.output
    res = CliRunner().invoke(usage_cli["report"], ["--sqlite-path", str(db), "--since", "soon"])
    assert res.exit_code == 2 and "--since" in res.output
    res = CliRunner().invoke(usage_cli["report"], ["--sqlite-path", str(tmp_path / "missing.db")])
    assert res.exit_code == 1 and "no usage database" in res.output


async def test_pg_prefix_fixture_drops_tables(pg_prefix: str) -> None:
    rec = build_recorder(UsageConfig(database_url=PG_URL, table_prefix=pg_prefix + "d_"), UsageMetrics())
    await rec.start()
    await rec.close()
    await drop_prefix(pg_prefix + "d_")
    import psycopg

    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        cur = await conn.execute("SELECT to_regclass(%s)", (pg_prefix + "d_usage_events",))
        assert (await cur.fetchone())[0] is None  # type: ignore[index]


async def test_reports_while_traffic_flows(recorder: UsageRecorder) -> None:
    # Reports flush the queue themselves, concurrently with the background flusher: every record
    # must land exactly once, and no report may fail on the shared connection.
    from usage_helpers import make_event

    assert recorder.store is not None
    n = 0
    for round_ in range(20):
        for i in range(100):
            recorder.record(make_event(round_ * 100 + i, ts=NOW - 60))
            n += 1
        rows = await asyncio.gather(*[reports.usage_summary(recorder.store, "all", None, 3600, now=NOW)
                                      for _ in range(3)], recorder.flush(), recorder.flush())  # fmt: skip
        assert rows[0][0]["requests"] <= n
    await recorder.flush()
    total = await reports.usage_summary(recorder.store, "all", None, 3600, now=NOW)
    assert total[0]["requests"] == n == 2000
