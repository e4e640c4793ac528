from __future__ import annotations

import uuid

import pytest
import redis
from cache_helpers import REDIS_URL

from tierroute.cache import CacheConfig, build_cache
from tierroute.embedding import default_embedder


@pytest.fixture(scope="session")
def embedder():
    e = default_embedder()
    e.embed(["warm up"])
    return e


@pytest.fixture
async def memory_cache(embedder):
    c = build_cache(CacheConfig(), embedder)
    yield c
    await c.close()


@pytest.fixture
def redis_prefix():
    """A key prefix of our own; every key under it is deleted afterwards. Fails if Redis is down."""
    r = redis.Redis.from_url(REDIS_URL)
    r.ping()  # raises (so the test fails, never skips) when Redis is unreachable
    prefix = f"test-tierroute-cache-{uuid.uuid4().hex[:10]}"
    yield prefix
    keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()
