"""``Limits``: per-deployment quotas (rpm, tpm, rpd with the vendor's reset time, concurrency)
taken around every upstream attempt, plus what vendors' own 429s and headers say."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tierroute.errors import QuotaExhausted
from tierroute.types import Deployment, RateLimitInfo

from .config import LimitsConfig, Quota, RateLimits
from .grant import Grant, Lease
from .shared import SharedState

if TYPE_CHECKING:
    from .health import Health


class Limits:
    def __init__(self, cfg: LimitsConfig, rate_limits: RateLimits, state: SharedState,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.rate_limits = rate_limits
        self.state = state
        self.clock = clock
        self._ids = itertools.count()
        self._quota: dict[str, Quota] = {}
        self._days: dict[str, tuple[str, float]] = {}  # dep -> (vendor day id, next reset unix s)
        # What this instance last learned, for the sync headroom() and snapshot():
        self._blocked: dict[str, tuple[float, str]] = {}  # dep -> (until unix s, why)
        self._used: dict[str, dict[str, Any]] = {}
        self._vendor: dict[str, dict[str, Any]] = {}
        self.health: Health | None = None  # set by build_limits, so start()/close() cover both

    # ------------------------------------------------------------------ helpers

    def quota(self, dep_id: str) -> Quota:
        q = self._quota.get(dep_id)
        if q is None:
            q = self._quota[dep_id] = self.rate_limits.for_deployment(dep_id)
        return q

    def _day(self, dep_id: str, q: Quota, now: float) -> tuple[str, float]:
        d = self._days.get(dep_id)
        if d is None or now >= d[1]:
            d = self._days[dep_id] = q.daily_reset.day(now)
        return d

    # ------------------------------------------------------------------ the hot path

    async def acquire(self, dep: Deployment, est_tokens: int) -> Lease:
        """Take one request (and ``est_tokens``) from every quota of ``dep`` in one atomic step.
        Raises QuotaExhausted(retry_after=seconds until it frees) if any quota is spent."""
        dep_id = dep.id
        q = self.quota(dep_id)
        now = self.clock()
        lease_id = f"{self.state.instance_id}:{next(self._ids)}"
        est = max(0, int(est_tokens))
        # Even with no quota configured the store is asked: a vendor's 429 seen by any instance stops it.
        day_id, reset_at = self._day(dep_id, q, now)
        now_ms = int(now * 1000)
        g, shared = await self.state.acquire(
            dep_id, rpm=q.rpm, tpm=q.tpm, rpd=q.rpd, conc=q.max_concurrent, est_tokens=est, day_id=day_id,
            ms_to_reset=max(1, int((reset_at - now) * 1000)), lease_id=lease_id, now_ms=now_ms)
        if not g.ok:
            if g.retry_ms is None:  # concurrency: frees when a call ends, here or on another instance
                self._blocked[dep_id] = (now + self.cfg.concurrency_retry_s, g.why)
                raise QuotaExhausted(f"{dep_id}: {g.why}", retry_after=self.cfg.concurrency_retry_s)
            retry = g.retry_ms / 1000
            self._blocked[dep_id] = (now + retry, g.why)
            raise QuotaExhausted(f"{dep_id}: {g.why}; frees in {retry:.1f}s", retry_after=retry)
        self._note_grant(dep_id, q, g, now, reset_at)
        return Lease(dep_id, lease_id, est, g.charged, g.bucket, shared)

    async def release(self, lease: Lease, *, total_tokens: int | None) -> None:
        """Reconcile the token estimate with the real usage (``None`` = unknown: the estimate stands)
        and free the concurrency slot. Releasing twice is harmless."""
        if lease.released:
            return
        lease.released = True
        q = self.quota(lease.dep_id)
        blk = self._blocked.get(lease.dep_id)
        if blk is not None and blk[1].startswith("max_concurrent"):
            del self._blocked[lease.dep_id]  # a concurrency slot just freed
        if q.empty():
            return
        delta = 0
        if total_tokens is not None and q.tpm:
            delta = min(int(total_tokens), q.tpm) - lease.charged
        if delta == 0 and not q.max_concurrent:
            return
        await self.state.release(lease.dep_id, shared=lease.shared, bucket=lease.bucket, token_delta=delta,
                                 lease_id=lease.lease_id)

    def _note_grant(self, dep_id: str, q: Quota, g: Grant, now: float, reset_at: float) -> None:
        self._used[dep_id] = {"rpm_used": g.rpm_used, "tpm_used": g.tpm_used, "rpd_used": g.rpd_used,
                              "concurrent": g.concurrent, "at": now}
        if q.rpd and g.rpd_used >= q.rpd:
            self._blocked[dep_id] = (reset_at, f"rpd limit {q.rpd} reached")
        elif dep_id in self._blocked and self._blocked[dep_id][0] <= now:
            del self._blocked[dep_id]

    # ------------------------------------------------------------------ for the router

    def headroom(self, dep_id: str) -> tuple[bool, float | None, str]:
        """(available, retry_after seconds, why) from what this instance last saw. Fast and local;
        may be stale by one request in Redis mode, and ``acquire`` has the final word."""
        blk = self._blocked.get(dep_id)
        if blk is None:
            return True, None, "ok"
        until, why = blk
        left = until - self.clock()
        if left <= 0:
            self._blocked.pop(dep_id, None)
            return True, None, "ok"
        return False, left, why

    def observe_vendor(self, dep: Deployment, info: RateLimitInfo | None, rate_limited: float | None) -> None:
        """A vendor 429 (``rate_limited`` = its Retry-After in seconds; 0 when it gave none) or its
        ``x-ratelimit-remaining-*`` headers. Blocks the deployment for every instance until it frees."""
        now = self.clock()
        block_s, why = 0.0, ""
        if rate_limited is not None:
            block_s = rate_limited if rate_limited > 0 else self.cfg.vendor_429_default_s
            why = f"vendor answered 429, retry after {block_s:g}s"
        if info is not None:
            self._vendor[dep.id] = {"remaining_requests": info.remaining_requests,
                                    "remaining_tokens": info.remaining_tokens,
                                    "reset_requests_s": info.reset_requests_s,
                                    "reset_tokens_s": info.reset_tokens_s, "at": now}
            if info.remaining_requests == 0:
                s = info.reset_requests_s if info.reset_requests_s else self.cfg.vendor_429_default_s
                if s > block_s:
                    block_s, why = s, f"vendor reports 0 requests left, resets in {s:g}s"
            if info.remaining_tokens == 0:
                s = info.reset_tokens_s if info.reset_tokens_s else self.cfg.vendor_429_default_s
                if s > block_s:
                    block_s, why = s, f"vendor reports 0 tokens left, resets in {s:g}s"
        if block_s <= 0:
            return
        until = now + block_s
        old = self._blocked.get(dep.id)
        if old is None or old[0] < until:
            self._blocked[dep.id] = (until, why)
        self.state.block(dep.id, int(until * 1000), int(block_s * 1000), why)

    # ------------------------------------------------------------------ visibility

    def known(self) -> list[str]:
        return sorted(set(self.rate_limits.deployments) | set(self._quota) | set(self._blocked))

    def snapshot(self) -> dict[str, Any]:
        """Quota headroom per deployment, for /health and the dashboard."""
        now = self.clock()
        out: dict[str, Any] = {}
        for dep_id in self.known():
            q = self.quota(dep_id)
            available, retry, why = self.headroom(dep_id)
            day_id, reset_at = self._day(dep_id, q, now)
            if self.state.shared:
                used = dict(self._used.get(dep_id) or {})
            else:
                used = self.state.local.usage(dep_id, day_id, int(now * 1000))
            out[dep_id] = {"available": available, "retry_after": retry, "why": why, "limits": q.describe(),
                           "used": used, "day": day_id, "daily_reset_in_s": round(reset_at - now, 1),
                           "vendor": self._vendor.get(dep_id)}
        return out

    async def usage(self, dep_id: str) -> dict[str, int]:
        """Exact current usage of ``dep_id`` from the store (one round trip with Redis)."""
        now = self.clock()
        day_id, _ = self._day(dep_id, self.quota(dep_id), now)
        return await self.state.usage(dep_id, day_id, int(now * 1000))

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect to Redis (if configured), start the daily-counter flusher and the health sync."""
        await self.state.start()
        if self.health is not None:
            await self.health.start()

    async def close(self) -> None:
        if self.health is not None:
            await self.health.close()
        await self.state.close()

    async def ready(self) -> dict[str, Any]:
        """For /health/readiness: always ok (local state is the fallback); ``shared`` says
        whether this instance is currently sharing state through Redis."""
        return await self.state.ready()
