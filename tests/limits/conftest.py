"""Fixtures for the limits tests: the real Redis on 127.0.0.1:6379 under a unique key prefix
(deleted afterwards), a spare redis-server on a free port that a test may kill and restart, and a
clock the test moves by hand so minute windows and cooldowns need no sleeping."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from limits_helpers import REDIS_URL, FakeClock, SpareRedis


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix no other run uses; fails (never skips) when Redis is not there."""
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        await r.ping()
    except Exception as e:
        pytest.fail(f"Redis at {REDIS_URL} is required for the limits tests and is unreachable: {e}")
    prefix = f"trtest:{uuid.uuid4().hex[:10]}:"
    yield prefix
    async for k in r.scan_iter(match=prefix + "*", count=500):
        await r.delete(k)
    await r.aclose()


@pytest.fixture
def spare_redis(tmp_path: Path) -> Iterator[SpareRedis]:
    s = SpareRedis(tmp_path)
    s.start()
    yield s
    s.stop()
