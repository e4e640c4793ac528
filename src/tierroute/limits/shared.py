"""``SharedState``: the one store interface behind quotas and health, with two backends.

In-process (``redis_url`` unset): ``LocalQuotaStore`` only. With Redis: every counter lives in
Redis and changes inside a Lua script; the local store stays warm as the fallback. When a Redis
call fails the instance logs it once, serves on local state, reports ``shared: false`` in
``ready()``, and a background task pings Redis until it answers, then sharing resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import lua
from .config import LimitsConfig
from .daily_file import DailyFile
from .grant import Grant
from .store_local import LocalQuotaStore

log = logging.getLogger("tierroute.limits")

_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError)


def redacted_url(url: str) -> str:
    """A connection URL (Redis, PostgreSQL) without its password, for logs, /health and the CLI."""
    return re.sub(r"//[^@/]*@", "//***@", url)


class SharedState:
    def __init__(self, cfg: LimitsConfig) -> None:
        self.cfg = cfg
        self.instance_id = uuid.uuid4().hex[:12]
        self.bucket_ms = int(60_000 // cfg.window_buckets)
        # In-process, daily counters persist to SQLite; with Redis they live in Redis.
        self.daily = DailyFile(cfg.state_path) if cfg.state_path and not cfg.redis_url else None
        self.local = LocalQuotaStore(buckets=cfg.window_buckets, bucket_ms=self.bucket_ms,
                                     lease_ttl_ms=int(cfg.lease_ttl_s * 1000), daily=self.daily)
        self.redis: aioredis.Redis | None = None
        self.redis_up = False
        self.last_error: str | None = None
        self._p = cfg.redis_prefix
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconnect: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        if cfg.redis_url:
            # A blocking pool: a burst queues briefly for a connection instead of failing over.
            pool = aioredis.BlockingConnectionPool.from_url(
                cfg.redis_url, max_connections=cfg.redis_max_connections, timeout=2.0,
                socket_timeout=cfg.redis_timeout_s, socket_connect_timeout=cfg.redis_timeout_s,
                decode_responses=True, health_check_interval=0,
                # No client-side retries: a failed call falls back to local state at once, and the
                # reconnect task owns retrying.
                retry=Retry(NoBackoff(), 0))
            self.redis = aioredis.Redis(connection_pool=pool)
            self._acquire = self.redis.register_script(lua.ACQUIRE)
            self._release = self.redis.register_script(lua.RELEASE)
            self._block = self.redis.register_script(lua.BLOCK)
            self._usage = self.redis.register_script(lua.USAGE)
            self._health = self.redis.register_script(lua.HEALTH_SYNC)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self.redis is not None:
            try:
                await self._load_scripts()
                self.redis_up = True
                log.info("limits: sharing quotas and health through Redis at %s", redacted_url(self.cfg.redis_url or ""))
            except _REDIS_DOWN as e:
                self._went_down(e)
        if self.daily is not None and self._flusher is None:
            self._flusher = asyncio.create_task(self._flush_daily())

    async def _load_scripts(self) -> None:
        # Loaded up front (and again after an outage: a restarted Redis forgot them), so a burst
        # of first calls does not stampede on NOSCRIPT.
        assert self.redis is not None
        for script in (self._acquire, self._release, self._block, self._usage, self._health):
            await self.redis.script_load(script.script)

    async def close(self) -> None:
        self._closed = True
        for t in [self._reconnect, self._flusher, *self._tasks]:
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if self.daily is not None:
            await asyncio.to_thread(self.daily.flush_sync)
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()

    async def ready(self) -> dict[str, Any]:
        # Always ok: local state is a working fallback, so the instance should stay in rotation.
        if self.redis is None:
            return {"ok": True, "backend": "in-process", "shared": False}
        return {"ok": True, "backend": "redis", "shared": self.redis_up,
                "redis": redacted_url(self.cfg.redis_url or ""),
                "detail": None if self.redis_up else f"Redis unreachable ({self.last_error}); serving on local state"}

    @property
    def shared(self) -> bool:
        return self.redis_up

    def _went_down(self, e: BaseException) -> None:
        self.last_error = type(e).__name__
        if self.redis_up or self._reconnect is None:
            log.warning("limits: Redis at %s unreachable (%s); serving on local state until it is back",
                        redacted_url(self.cfg.redis_url or ""), type(e).__name__)
        self.redis_up = False
        if not self._closed and (self._reconnect is None or self._reconnect.done()):
            self._reconnect = asyncio.get_running_loop().create_task(self._reconnect_loop())

    async def _reconnect_loop(self) -> None:
        assert self.redis is not None
        while not self._closed:
            await asyncio.sleep(self.cfg.redis_retry_s)
            try:
                await self._load_scripts()
            except _REDIS_DOWN:
                continue
            self.redis_up = True
            self.last_error = None
            log.warning("limits: Redis at %s is back; sharing resumed", redacted_url(self.cfg.redis_url or ""))
            return

    async def _flush_daily(self) -> None:
        assert self.daily is not None
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.daily.flush()
            except Exception as e:  # a full disk must not stop the gateway
                log.warning("limits: could not save daily counters to %s: %s", self.daily.path, e)

    def spawn(self, coro: Any) -> None:
        """Run a fire-and-forget Redis write without holding the caller."""
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the fire-and-forget writes in flight (tests, shutdown)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ------------------------------------------------------------------ keys

    def _keys(self, dep_id: str, day_id: str) -> list[str]:
        base = f"{self._p}q:{{{dep_id}}}:"
        return [base + "rpm", base + "tpm", f"{base}rpd:{day_id}", base + "conc", base + "block"]

    # ------------------------------------------------------------------ quotas

    async def acquire(self, dep_id: str, *, rpm: int | None, tpm: int | None, rpd: int | None,
                      conc: int | None, est_tokens: int, day_id: str, ms_to_reset: int, lease_id: str,
                      now_ms: int) -> tuple[Grant, bool]:
        """(the grant, whether it came from Redis)."""
        if self.redis_up:
            try:
                r = await self._acquire(
                    keys=self._keys(dep_id, day_id),
                    args=[now_ms, self.bucket_ms, self.cfg.window_buckets, rpm or 0, tpm or 0, est_tokens,
                          rpd or 0, ms_to_reset, conc or 0, lease_id, int(self.cfg.lease_ttl_s * 1000)])
            except _REDIS_DOWN as e:
                self._went_down(e)
            else:
                if int(r[0]) == 1:
                    return Grant(True, None, "ok", int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]),
                                 int(r[6])), True
                wait = int(r[1])
                return Grant(False, wait if wait >= 0 else None, str(r[2])), True
        g = self.local.acquire(dep_id, rpm=rpm, tpm=tpm, rpd=rpd, conc=conc, est_tokens=est_tokens,
                               day_id=day_id, ms_to_reset=ms_to_reset, lease_id=lease_id, now_ms=now_ms)
        return g, False

    async def release(self, dep_id: str, *, shared: bool, bucket: int, token_delta: int, lease_id: str) -> None:
        if not shared:
            self.local.release(dep_id, bucket=bucket, token_delta=token_delta, lease_id=lease_id)
            return
        if not self.redis_up:
            return  # the slot expires by itself in Redis (lease_ttl_s)
        k = self._keys(dep_id, "")
        try:
            await self._release(keys=[k[1], k[3]], args=[bucket, token_delta, lease_id])
        except _REDIS_DOWN as e:
            self._went_down(e)

    def block(self, dep_id: str, until_ms: int, ms: int, why: str) -> None:
        self.local.block(dep_id, until_ms, why)
        if self.redis_up:
            self.spawn(self._block_remote(dep_id, ms, why))

    async def _block_remote(self, dep_id: str, ms: int, why: str) -> None:
        try:
            await self._block(keys=[self._keys(dep_id, "")[4]], args=[max(1, ms), why])
        except _REDIS_DOWN as e:
            self._went_down(e)

    async def usage(self, dep_id: str, day_id: str, now_ms: int) -> dict[str, int]:
        if self.redis_up:
            k = self._keys(dep_id, day_id)
            try:
                r = await self._usage(keys=k[:4], args=[now_ms, self.bucket_ms, self.cfg.window_buckets])
                return {"rpm_used": int(r[0]), "tpm_used": int(r[1]), "rpd_used": int(r[2]), "concurrent": int(r[3])}
            except _REDIS_DOWN as e:
                self._went_down(e)
        return self.local.usage(dep_id, day_id, now_ms)

    # ------------------------------------------------------------------ health

    async def health_sync(self, ops: list[tuple[str, str, int, int, str, int]], now_ms: int) -> list[list[Any]] | None:
        """Exchange breaker state: ops are (dep_id, op, until_ms, opens, why, seen_ver). Returns the
        shared state per dep (state, until_ms, opens, why, ver, probe_owner), None if Redis is away."""
        if not self.redis_up or not ops:
            return None
        keys = [f"{self._p}cb:{{{d}}}" for d, *_ in ops]
        args: list[Any] = [now_ms, self.instance_id, int(self.cfg.probe_timeout_s * 1000)]
        for _d, op, until_ms, opens, why, ver in ops:
            args += [op, until_ms, opens, why, ver]
        try:
            return await self._health(keys=keys, args=args)
        except _REDIS_DOWN as e:
            self._went_down(e)
            return None
