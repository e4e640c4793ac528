"""The shared Redis store (two instances, TTL, purge, bound) and the SQLite-persisted memory store."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from cache_helpers import REDIS_URL, answer, ctx, req

from tierroute.cache import CacheConfig, build_cache

Q = ("How can I improve my English writing skills?", "How do I improve my English writing skills?")


def redis_cfg(prefix: str, **kw) -> CacheConfig:
    return CacheConfig(backend="redis", redis_url=REDIS_URL, redis_prefix=prefix, **kw)


async def test_two_instances_share_one_redis_cache(embedder, redis_prefix):
    a = build_cache(redis_cfg(redis_prefix), embedder)
    b = build_cache(redis_cfg(redis_prefix), embedder)
    try:
        assert await a.ready() and await b.ready()
        await a.store(req(Q[0]), ctx(), answer("from instance a"))
        hit = await b.lookup(req(Q[0]), ctx())
        assert hit is not None and hit.kind == "exact"
        assert hit.response.choices[0].message.content == "from instance a"
        sem = await b.lookup(req(Q[1]), ctx())
        assert sem is not None and sem.kind == "semantic"
        assert await b.lookup(req(Q[0]), ctx(tenant="someone-else")) is None
        # A third instance started later loads what is already there.
        c = build_cache(redis_cfg(redis_prefix), embedder)
        assert (await c.lookup(req(Q[1]), ctx())).kind == "semantic"
        await c.close()
        # Purge on one instance is seen by the other.
        assert await b.purge(tenant="team-a") == 1
        assert await a.lookup(req(Q[0]), ctx()) is None
    finally:
        await a.close()
        await b.close()


async def test_ttl_expires_and_a_hit_does_not_renew_it(embedder, redis_prefix):
    a = build_cache(redis_cfg(redis_prefix), embedder)
    b = build_cache(redis_cfg(redis_prefix), embedder)
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        t0 = time.monotonic()
        await a.store(req(Q[0]), ctx(ttl_s=2.0), answer("short-lived"))
        entry_keys = [k async for k in r.scan_iter(match=f"{redis_prefix}:e:*")]
        assert len(entry_keys) == 1
        assert 0 < await r.pttl(entry_keys[0]) <= 2000
        await asyncio.sleep(0.3)
        assert await b.lookup(req(Q[0]), ctx()) is not None
        assert await r.pttl(entry_keys[0]) <= 1700  # the hit did not push the expiry back
        await asyncio.sleep(max(0.0, t0 + 2.2 - time.monotonic()))
        assert await a.lookup(req(Q[0]), ctx()) is None
        assert await b.lookup(req(Q[1]), ctx()) is None
    finally:
        await r.aclose()
        await a.close()
        await b.close()


async def test_redis_cache_is_bounded(embedder, redis_prefix):
    a = build_cache(redis_cfg(redis_prefix, max_entries=3, semantic=False), embedder)
    r = aioredis.Redis.from_url(REDIS_URL)
    try:
        for i in range(5):
            await a.store(req(f"question {i}?"), ctx(), answer(str(i)))
        assert await r.zcard(f"{redis_prefix}:ids") == 3
        assert len([k async for k in r.scan_iter(match=f"{redis_prefix}:e:*")]) == 3
        assert await a.lookup(req("question 0?"), ctx()) is None
        assert await a.lookup(req("question 4?"), ctx()) is not None
    finally:
        await r.aclose()
        await a.close()


async def test_sqlite_cache_survives_a_restart(embedder, tmp_path):
    cfg = CacheConfig(sqlite_path=str(tmp_path / "cache.db"))
    first = build_cache(cfg, embedder)
    await first.store(req(Q[0]), ctx(), answer("persisted"))
    await first.store(req("Gone soon?"), ctx(ttl_s=0.2), answer("expired"))
    await first.close()
    await asyncio.sleep(0.3)
    second = build_cache(cfg, embedder)
    try:
        hit = await second.lookup(req(Q[1]), ctx())
        assert hit is not None and hit.kind == "semantic"
        assert hit.response.choices[0].message.content == "persisted"
        assert await second.lookup(req("Gone soon?"), ctx()) is None
        assert second.stats()["entries"] == 1
        assert await second.purge() == 1
    finally:
        await second.close()
    third = build_cache(cfg, embedder)
    try:
        assert await third.lookup(req(Q[0]), ctx()) is None  # the purge reached the file too
    finally:
        await third.close()


async def test_unreachable_redis_degrades_to_misses(embedder):
    # Port 1 on loopback: nothing listens there. The cache must report not-ready and never raise.
    c = build_cache(CacheConfig(backend="redis", redis_url="redis://127.0.0.1:1/0"), embedder)
    try:
        assert await c.ready() is False
        await c.store(req(Q[0]), ctx(), answer("x"))
        assert await c.lookup(req(Q[0]), ctx()) is None
        assert c.stats()["errors"] >= 2
    finally:
        await c.close()
