"""Every field of a usage record survives SQLite and PostgreSQL; migrations run once."""

from __future__ import annotations

from pathlib import Path

from usage_helpers import PG_URL, all_events, drop_prefix, full_event, make_event

from tierroute.usage import UsageConfig, UsageMetrics, UsageRecorder, build_recorder, schema
from tierroute.usage.store_postgres import PostgresStore
from tierroute.usage.store_sqlite import SQLiteStore


async def test_every_field_round_trips(recorder: UsageRecorder) -> None:
    full = full_event()
    failed = make_event(7, model=None, provider=None, deployment=None, complexity=None, ttft_ms=None,
                        status=429, error_class="QuotaExhausted", cost_usd=0.0, baseline_cost_usd=0.0,
                        key_id=None, cache="off", route=None, task=None)  # fmt: skip
    recorder.record(full)
    recorder.record(failed)
    await recorder.flush()
    got = {e.request_id: e for e in await all_events(recorder)}
    assert got[full.request_id] == full
    assert got[failed.request_id] == failed


async def test_content_kept_only_when_turned_on(tmp_path: Path) -> None:
    for log_content in (False, True):
        cfg = UsageConfig(sqlite_path=str(tmp_path / f"c{log_content}.db"), log_content=log_content,
                          spill_dir=str(tmp_path / "spill"))  # fmt: skip
        rec = build_recorder(cfg, UsageMetrics())
        await rec.start()
        rec.record(make_event(1), content='{"prompt": "secret question"}')
        await rec.flush()
        assert rec.store is not None
        rows = await rec.store.query(f"SELECT content FROM {rec.store.table}")
        await rec.close()
        assert rows == [('{"prompt": "secret question"}',) if log_content else (None,)]


async def test_migrations_run_once_and_are_versioned(tmp_path: Path, pg_prefix: str) -> None:
    stores = [SQLiteStore(str(tmp_path / "m.db"), "x_"), PostgresStore(PG_URL, pg_prefix)]
    for store in stores:
        await store.open()
        await store.close()
    for store in [SQLiteStore(str(tmp_path / "m.db"), "x_"), PostgresStore(PG_URL, pg_prefix)]:
        await store.open()  # a second start must not re-run (or fail on) the migration
        prefix = "x_" if store.dialect == "sqlite" else pg_prefix
        every = [(v,) for v in range(1, schema.SCHEMA_VERSION + 1)]
        assert await store.query(f"SELECT version FROM {prefix}schema_version ORDER BY version") == every
        await store.close()


async def test_close_flushes_everything(tmp_path: Path) -> None:
    cfg = UsageConfig(sqlite_path=str(tmp_path / "f.db"), flush_interval_s=60, batch_size=10_000,
                      spill_dir=str(tmp_path / "spill"))  # fmt: skip
    rec = build_recorder(cfg, UsageMetrics())
    await rec.start()
    for i in range(1234):
        rec.record(make_event(i))
    await rec.close()  # the flusher never woke: close alone must write them
    store = SQLiteStore(cfg.sqlite_path)
    await store.open()
    assert await store.query(f"SELECT COUNT(*) FROM {store.table}") == [(1234,)]
    await store.close()


async def test_disabled_store_still_feeds_metrics(tmp_path: Path) -> None:
    m = UsageMetrics()
    rec = build_recorder(UsageConfig(enabled=False, spill_dir=str(tmp_path / "s")), m)
    await rec.start()
    rec.record(make_event(1, completion_tokens=77))
    await rec.flush()
    await rec.close()
    assert rec.store is None
    assert m.registry.get_sample_value(
        "tierroute_tokens_total", {"model": "coder", "provider": "openai", "task": "coding", "key": "k1",
                                   "direction": "completion"}) == 77  # fmt: skip
    assert not (tmp_path / "tierroute-usage.db").exists()


async def test_pg_prefix_isolated(pg_prefix: str, tmp_path: Path) -> None:
    other = pg_prefix.replace("t_", "o_")
    try:
        recs = []
        for p in (pg_prefix, other):
            rec = build_recorder(
                UsageConfig(database_url=PG_URL, table_prefix=p, spill_dir=str(tmp_path / p)), UsageMetrics()
            )
            await rec.start()
            recs.append(rec)
        recs[0].record(make_event(1))
        for r in recs:
            await r.flush()
        assert len(await all_events(recs[0])) == 1
        assert len(await all_events(recs[1])) == 0
        for r in recs:
            await r.close()
    finally:
        await drop_prefix(other)


def test_config_section_errors_name_the_key(config_dir: Path) -> None:
    import pytest

    from tierroute.config.loader import ConfigError, load_settings

    cfg = config_dir / "tierroute.yaml"
    for usage, needle in (("{batch_size: 0}", "batch_size"), ("{database_url: 'mysql://x'}", "postgresql://"),
                          ("{flush_every: 3}", "flush_every")):  # fmt: skip
        cfg.write_text(cfg.read_text().split("usage:")[0] + f"usage: {usage}\n")
        settings = load_settings(str(cfg), environ={})
        with pytest.raises(ConfigError) as e:
            settings.section("usage", UsageConfig)
        assert needle in str(e.value) and "usage" in str(e.value) and str(cfg) in str(e.value)
