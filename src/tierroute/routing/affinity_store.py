"""Where session affinity lives: in process (default), or in Redis next to the quotas when
``limits.redis_url`` is set, so every gateway instance sees the same warm deployments.

One session is one small map deployment id -> ``WarmEntry`` (in Redis a hash ``<prefix>aff:<session>``
whose fields are deployment ids, expiring with its longest-lived entry). A lookup is one dict get or one
HGETALL; a write one dict update or one pipelined HSET + PEXPIRE. When Redis is away (the limits'
``SharedState`` says so, or a call fails) reads and writes use the in-process map, so one instance
keeps its affinity through an outage.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

from tierroute.routing.affinity import WarmEntry

log = logging.getLogger("tierroute.routing")


class LocalAffinityStore:
    """Sessions in an LRU map, bounded to ``max_sessions``."""

    shared = False

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._m: OrderedDict[str, dict[str, WarmEntry]] = OrderedDict()

    def get_now(self, key: str) -> list[WarmEntry]:
        hit = self._m.get(key)
        return list(hit.values()) if hit else []

    async def get(self, key: str) -> list[WarmEntry]:
        return self.get_now(key)

    def put_now(self, key: str, e: WarmEntry) -> None:
        now = time.time()
        hit = self._m.get(key)
        if hit is None:
            hit = self._m[key] = {}
            if len(self._m) > self.max_sessions:
                self._m.popitem(last=False)
        else:
            self._m.move_to_end(key)
            for dep in [d for d, x in hit.items() if x.expires <= now]:
                del hit[dep]
        hit[e.dep] = e

    async def put(self, key: str, e: WarmEntry) -> None:
        self.put_now(key, e)

    async def close(self) -> None:
        return None


class RedisAffinityStore:
    """Sessions in Redis, through the limits' connection pool (``SharedState.redis``)."""

    def __init__(self, state: Any, max_sessions: int = 100_000) -> None:
        self.state = state  # tierroute.limits.SharedState
        self.local = LocalAffinityStore(max_sessions)
        self.prefix = f"{state.cfg.redis_prefix}aff:"
        self._warned = False

    @property
    def shared(self) -> bool:
        return bool(self.state.redis is not None and self.state.redis_up)

    def get_now(self, key: str) -> list[WarmEntry]:
        return self.local.get_now(key)

    async def get(self, key: str) -> list[WarmEntry]:
        if not self.shared:
            return self.local.get_now(key)
        try:
            raw = await self.state.redis.hgetall(self.prefix + key)
        except Exception as e:  # noqa: BLE001 - any Redis failure: serve on local state
            self._down(e)
            return self.local.get_now(key)
        out = [e for dep, s in raw.items() if (e := WarmEntry.decode(dep, s)) is not None]
        return out

    async def put(self, key: str, e: WarmEntry) -> None:
        self.local.put_now(key, e)
        if not self.shared:
            return
        ms = max(1, int((e.expires - time.time()) * 1000))
        k = self.prefix + key
        try:
            pipe = self.state.redis.pipeline(transaction=False)
            pipe.hset(k, e.dep, e.encode())
            pipe.pexpire(k, ms, nx=True)  # a new key gets the entry's TTL ...
            pipe.pexpire(k, ms, gt=True)  # ... an existing one keeps the longest
            await pipe.execute()
        except Exception as err:  # noqa: BLE001
            self._down(err)

    def _down(self, e: BaseException) -> None:
        if not self._warned:
            log.warning("routing: session affinity could not reach Redis (%s); using this instance's own", type(e).__name__)
            self._warned = True

    async def close(self) -> None:
        return None


def build_affinity_store(limits: Any, max_sessions: int = 100_000) -> LocalAffinityStore | RedisAffinityStore:
    """Redis when the limits share state through Redis, else in process."""
    state = getattr(limits, "state", None)
    if state is not None and getattr(state, "redis", None) is not None:
        return RedisAffinityStore(state, max_sessions)
    return LocalAffinityStore(max_sessions)
