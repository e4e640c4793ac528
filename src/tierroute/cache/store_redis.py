"""The shared store: entries live in Redis with a fixed TTL; every instance keeps a local mirror.

Layout under the configured prefix ``P``:

    P:e:<id>   the encoded entry, with a TTL set once at store time (a hit never renews it)
    P:ids      sorted set id -> expiry time, for eviction when the cache outgrows max_entries
    P:ev       stream of changes: ``put`` (the whole entry) and ``del`` (ids)

Each instance loads the live entries at start and then follows the stream, so the nearest-neighbour
search runs on a local index that holds what Redis holds. Before every lookup it reads whatever
arrived since (one non-blocking XREAD), and before serving a hit it checks that the entry still
exists in Redis, so an entry that expired or was purged by another instance is never served.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from .entry import CacheEntry, decode_entry, encode_entry
from .local_index import LocalIndex


class RedisStore:
    kind = "redis"

    def __init__(self, local: LocalIndex, url: str, prefix: str = "tierroute:cache") -> None:
        self.local = local
        self._r = aioredis.Redis.from_url(url, decode_responses=False)
        self._p = prefix.rstrip(":") + ":"
        self._last_id = b"0-0"
        self._sync_lock = asyncio.Lock()
        self._stream_cap = max(10_000, 2 * local.max_entries)

    def _ek(self, entry_id: str) -> str:
        return f"{self._p}e:{entry_id}"

    async def start(self) -> None:
        last = await self._r.xrevrange(self._p + "ev", count=1)
        self._last_id = last[0][0] if last else b"0-0"
        now = time.time()
        ids = await self._r.zrangebyscore(self._p + "ids", now, "+inf")
        for i in range(0, len(ids), 1000):
            chunk = [x.decode() for x in ids[i : i + 1000]]
            for blob in await self._r.mget([self._ek(x) for x in chunk]):
                if blob is not None:
                    self.local.add(decode_entry(blob))

    async def sync(self) -> None:
        async with self._sync_lock:
            while True:
                res = await self._r.xread({self._p + "ev": self._last_id}, count=5000)
                if not res:
                    return
                events = res[0][1]
                for eid, fields in events:
                    self._last_id = eid
                    op = fields.get(b"op")
                    if op == b"put":
                        e = decode_entry(fields[b"b"])
                        if e.expires_at > time.time():
                            self.local.add(e)
                    elif op == b"del":
                        for x in fields[b"ids"].decode().split(","):
                            self.local.remove(x)
                if len(events) < 5000:
                    return

    async def verify(self, e: CacheEntry) -> CacheEntry | None:
        if e.expires_at > time.time() and await self._r.exists(self._ek(e.id)):
            return e
        self.local.remove(e.id)
        return None

    async def put(self, e: CacheEntry) -> list[str]:
        old = self.local.exact_id(e.exact_key)
        ttl_ms = max(1, int((e.expires_at - time.time()) * 1000))
        blob = encode_entry(e)
        now = time.time()
        pipe = self._r.pipeline(transaction=True)
        pipe.set(self._ek(e.id), blob, px=ttl_ms)
        pipe.zadd(self._p + "ids", {e.id: e.expires_at})
        pipe.zremrangebyscore(self._p + "ids", "-inf", now)
        pipe.xadd(self._p + "ev", {"op": "put", "b": blob}, maxlen=self._stream_cap, approximate=True)
        pipe.zcard(self._p + "ids")
        *_, size = await pipe.execute()
        self.local.add(e)
        gone = [old] if old is not None and old != e.id else []
        excess = int(size) - self.local.max_entries
        if excess > 0:
            # The sorted set orders by expiry; with one TTL for all that is oldest first.
            gone += [x.decode() for x, _ in await self._r.zpopmin(self._p + "ids", excess)]
        if gone:
            await self._delete(gone)
        return gone

    async def _delete(self, ids: list[str]) -> None:
        for i in range(0, len(ids), 1000):
            chunk = ids[i : i + 1000]
            pipe = self._r.pipeline(transaction=True)
            pipe.delete(*[self._ek(x) for x in chunk])
            pipe.zrem(self._p + "ids", *chunk)
            pipe.xadd(self._p + "ev", {"op": "del", "ids": ",".join(chunk)}, maxlen=self._stream_cap,
                      approximate=True)
            await pipe.execute()
        for x in ids:
            self.local.remove(x)

    async def remove(self, ids: list[str]) -> None:
        if ids:
            await self._delete(ids)

    async def purge(self, tenant: str | None, model: str | None) -> int:
        await self.sync()
        ids = self.local.matching(tenant, model)
        await self._delete(ids)
        return len(ids)

    async def ready(self) -> bool:
        try:
            return bool(await self._r.ping())
        except Exception:  # noqa: BLE001 - readiness reports any connection failure as not ready
            return False

    async def close(self) -> None:
        await self._r.aclose()
