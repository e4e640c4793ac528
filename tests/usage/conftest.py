"""Fixtures for the usage tests: real SQLite files, the real PostgreSQL on this machine (a unique
table prefix per run, dropped afterwards), and a small catalog with fixed prices loaded through the
real config loader, so hand-computed numbers stay valid whatever the shipped catalog says."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from usage_helpers import CONFIG_YAML, MODELS_YAML, PG_URL, RULES_YAML, drop_prefix

from tierroute.usage import UsageConfig, UsageMetrics, UsageRecorder, build_recorder


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cfg"
    d.mkdir()
    (d / "tierroute.yaml").write_text(CONFIG_YAML)
    (d / "models.yaml").write_text(MODELS_YAML)
    (d / "routing_rules.yaml").write_text(RULES_YAML)
    (d / "rate_limits.yaml").write_text("{}\n")
    return d


@pytest.fixture
def settings(config_dir: Path) -> Any:
    from tierroute.config.loader import load_settings

    return load_settings(str(config_dir / "tierroute.yaml"), environ={})


@pytest.fixture
async def pg_prefix() -> AsyncIterator[str]:
    # Fail (not skip) when PostgreSQL is down: the tests are about it.
    async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, connect_timeout=3) as conn:
        await conn.execute("SELECT 1")
    prefix = f"t_{uuid.uuid4().hex[:10]}_"
    yield prefix
    await drop_prefix(prefix)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_cfg(request: Any, tmp_path: Path) -> AsyncIterator[UsageConfig]:
    """The same test against both stores."""
    if request.param == "sqlite":
        yield UsageConfig(
            sqlite_path=str(tmp_path / "u.db"), spill_dir=str(tmp_path / "spill"), flush_interval_s=0.05
        )
    else:
        prefix = f"t_{uuid.uuid4().hex[:10]}_"
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True, connect_timeout=3):
            pass
        yield UsageConfig(database_url=PG_URL, table_prefix=prefix, spill_dir=str(tmp_path / "spill"),
                          flush_interval_s=0.05)  # fmt: skip
        await drop_prefix(prefix)


@pytest.fixture
async def recorder(store_cfg: UsageConfig) -> AsyncIterator[UsageRecorder]:
    rec = build_recorder(store_cfg, UsageMetrics())
    await rec.start()
    yield rec
    await rec.close()
