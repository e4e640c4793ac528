"""Affinity fixtures: the shipped config (offline), and the real Redis on 127.0.0.1:6379 under a unique
key prefix (deleted afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from affinity_helpers import REDIS_URL

from tierroute.config.loader import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "config" / "tierroute.yaml"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load_settings(str(CONFIG), environ={"TIERROUTE_SIMULATOR": "on"})


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other run uses; fails (never skips) when Redis is not there."""
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        await r.ping()
    except Exception as e:
        pytest.fail(f"Redis at {REDIS_URL} is required for the affinity tests and is unreachable: {e}")
    prefix = f"trtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    async for k in r.scan_iter(match=prefix + "*", count=500):
        await r.delete(k)
    await r.aclose()
