"""A database that goes away, a full queue or an unwritable spill: no record is lost, and every
record that did not reach the database is counted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg
from tcp_proxy import TCPProxy, free_port
from usage_helpers import PG_URL, all_events, make_event

from tierroute.usage import UsageConfig, UsageMetrics, build_recorder


def _pg_via(port: int) -> str:
    return PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{port}")


async def _count(prefix: str) -> int:
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as conn:
        cur = await conn.execute(f"SELECT COUNT(DISTINCT request_id), COUNT(*) FROM {prefix}usage_events")
        distinct, total = await cur.fetchone()  # type: ignore[misc]
        assert distinct == total
        return int(total)


async def _produce(rec, n: int, per_tick: int = 50) -> list[str]:  # type: ignore[no-untyped-def]
    ids = []
    for i in range(n):
        e = make_event(i)
        ids.append(e.request_id)
        rec.record(e)
        if i % per_tick == 0:
            await asyncio.sleep(0.01)  # let the flusher run, as a live gateway would
    return ids


async def test_database_killed_mid_run_loses_nothing(pg_prefix: str, tmp_path: Path) -> None:
    proxy = TCPProxy(5432)
    await proxy.start()
    m = UsageMetrics()
    cfg = UsageConfig(database_url=_pg_via(proxy.port), table_prefix=pg_prefix, spill_dir=str(tmp_path / "spill"),
                      flush_interval_s=0.02, batch_size=100, connect_timeout_s=1)  # fmt: skip
    rec = build_recorder(cfg, m)
    await rec.start()
    n1 = await _produce(rec, 1500)
    await asyncio.sleep(0.1)
    await proxy.stop()  # the database "crashes": live connections cut, new ones refused
    n2 = await _produce(rec, 1500)
    await asyncio.sleep(0.3)
    await proxy.start()  # ... and comes back
    n3 = await _produce(rec, 1500)
    # Replay happens while running, not only at shutdown.
    deadline = time.monotonic() + 15
    while (rec.spill.pending() or rec.stats()["queue"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not rec.spill.pending(), rec.stats()
    assert await _count(pg_prefix) == len(n1) + len(n2) + len(n3)
    assert m.spilled.labels("store_down")._value.get() > 0  # the outage was seen and counted
    assert m.dropped._value.get() == 0
    assert m.replayed._value.get() == m.spilled.labels("store_down")._value.get()
    await rec.close()
    await proxy.stop()


async def test_backend_terminated_mid_run_loses_nothing(pg_prefix: str, tmp_path: Path) -> None:
    m = UsageMetrics()
    cfg = UsageConfig(database_url=PG_URL, table_prefix=pg_prefix, spill_dir=str(tmp_path / "spill"),
                      flush_interval_s=0.02, batch_size=50)  # fmt: skip
    rec = build_recorder(cfg, m)
    await rec.start()
    assert rec.store is not None
    app = rec.store.application_name  # type: ignore[attr-defined]
    ids = await _produce(rec, 1000)
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s) t", (app,))  # fmt: skip
        killed = (await cur.fetchone())[0]  # type: ignore[index]
    assert killed >= 1
    ids += await _produce(rec, 1000)
    await rec.close()
    assert await _count(pg_prefix) == len(ids)
    assert m.dropped._value.get() == 0


async def test_down_at_shutdown_replays_on_next_start(pg_prefix: str, tmp_path: Path) -> None:
    dead = _pg_via(free_port())
    spill = str(tmp_path / "spill")
    rec = build_recorder(UsageConfig(database_url=dead, table_prefix=pg_prefix, spill_dir=spill,
                                     connect_timeout_s=1), UsageMetrics())  # fmt: skip
    await rec.start()  # must not raise although the database is unreachable
    assert not await rec.ready()
    for i in range(300):
        rec.record(make_event(i))
    await rec.close()
    assert rec.counts["spilled"] == 300 and rec.counts["dropped"] == 0
    assert rec.spill.count_pending() == 300

    rec2 = build_recorder(UsageConfig(database_url=PG_URL, table_prefix=pg_prefix, spill_dir=spill,
                                      flush_interval_s=0.02), UsageMetrics())  # fmt: skip
    await rec2.start()
    deadline = time.monotonic() + 5
    while rec2.spill.pending() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await rec2.ready()
    assert len(await all_events(rec2)) == 300
    await rec2.close()


async def test_full_queue_spills_instead_of_blocking(tmp_path: Path) -> None:
    m = UsageMetrics()
    cfg = UsageConfig(sqlite_path=str(tmp_path / "q.db"), spill_dir=str(tmp_path / "spill"), queue_max=100,
                      batch_size=50, flush_interval_s=0.02)  # fmt: skip
    rec = build_recorder(cfg, m)
    await rec.start()
    t0 = time.perf_counter()
    for i in range(5000):  # no await: the flusher cannot run, so the queue must overflow
        rec.record(make_event(i))
    assert time.perf_counter() - t0 < 1.0
    assert rec.stats()["queue"] == 100
    await rec.close()
    assert len(await _sqlite_ids(cfg)) == 5000
    assert m.spilled.labels("queue_full")._value.get() == 4900
    assert m.dropped._value.get() == 0


async def test_unwritable_spill_counts_drops(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    m = UsageMetrics()
    cfg = UsageConfig(
        database_url=_pg_via(free_port()), spill_dir=str(blocker / "spill"), connect_timeout_s=1
    )
    rec = build_recorder(cfg, m)
    await rec.start()
    for i in range(20):
        rec.record(make_event(i))
    await rec.close()
    assert m.dropped._value.get() == 20  # lost, but never silently
    assert rec.stats()["dropped"] == 20


async def _sqlite_ids(cfg: UsageConfig) -> set[str]:
    from tierroute.usage.store_sqlite import SQLiteStore

    s = SQLiteStore(cfg.sqlite_path)
    await s.open()
    rows = await s.query(f"SELECT request_id FROM {s.table}")
    await s.close()
    return {r[0] for r in rows}


async def test_record_after_close_is_spilled_and_replayed(tmp_path: Path) -> None:
    cfg = UsageConfig(
        sqlite_path=str(tmp_path / "late.db"), spill_dir=str(tmp_path / "spill"), flush_interval_s=0.02
    )
    rec = build_recorder(cfg, UsageMetrics())
    await rec.start()
    rec.record(make_event(1))
    await rec.close()
    rec.record(make_event(2))  # a request that finished during shutdown
    assert rec.counts["spilled"] == 1
    rec2 = build_recorder(cfg, UsageMetrics())
    await rec2.start()
    await rec2.flush()
    assert len(await all_events(rec2)) == 2
    await rec2.close()
