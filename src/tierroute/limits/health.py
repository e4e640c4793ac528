"""``Health``: per-deployment rolling window of outcomes, a half-open circuit breaker with growing
back-off, and EWMA latency / error rate for the router's ranking.

All decisions are local and synchronous (``allow`` and ``record`` cost microseconds). With Redis, a
background task exchanges breaker state every ``health_sync_s``: a trip on one instance cools the
deployment down on all of them, the half-open probe is claimed in Redis so one instance probes,
and a successful probe closes the breaker everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import msgspec

from tierroute.errors import (
    AuthFailed,
    BadRequest,
    ContentFiltered,
    ContextTooLong,
    ProviderError,
    RateLimited,
)

from .config import LimitsConfig
from .shared import SharedState

log = logging.getLogger("tierroute.limits")

# The caller's fault, or a quota matter (handled by Limits.observe_vendor): not the deployment's health.
_NOT_COUNTED = (BadRequest, ContentFiltered, ContextTooLong, RateLimited)


class DeploymentStats(msgspec.Struct, kw_only=True):
    latency_ms: float | None = None  # EWMA of successful calls
    error_rate: float = 0.0  # EWMA of counted failures, in [0, 1]
    samples: int = 0


class _Breaker:
    __slots__ = ("state", "why", "until", "opens", "closed_at", "probe_at", "probe_task", "probe_claimed", "outcomes",
                 "fails", "consec", "lat", "err", "samples", "ver", "pending")

    def __init__(self) -> None:
        self.state = "closed"
        self.why = "healthy"
        self.until = 0.0
        self.opens = 0
        self.closed_at = 0.0
        self.probe_at: float | None = None
        self.probe_task: weakref.ref[asyncio.Task[Any]] | None = None  # the request holding the probe
        self.probe_claimed = False
        self.outcomes: deque[tuple[float, bool]] = deque()
        self.fails = 0
        self.consec = 0
        self.lat: float | None = None
        self.err = 0.0
        self.samples = 0
        self.ver = 0  # last shared version adopted
        self.pending: str | None = None  # "open" | "close": to tell the other instances


def _current_task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


def _drop_probe(b: _Breaker, task: asyncio.Task[Any]) -> None:
    if b.state == "half-open" and b.probe_task is not None and b.probe_task() is task:
        b.probe_at, b.probe_task = None, None


def _describe(error: ProviderError | None) -> str:
    if error is None:
        return "failure"
    msg = error.message if len(error.message) <= 80 else error.message[:77] + "..."
    return f"{type(error).__name__}: {msg}"


class Health:
    def __init__(self, cfg: LimitsConfig, state: SharedState | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.cfg = cfg
        self.store = state
        self.clock = clock
        self._b: dict[str, _Breaker] = {}
        self._sync_task: asyncio.Task[None] | None = None

    def _get(self, dep_id: str) -> _Breaker:
        b = self._b.get(dep_id)
        if b is None:
            b = self._b[dep_id] = _Breaker()
        return b

    def _shared(self) -> bool:
        return self.store is not None and self.store.shared

    # ------------------------------------------------------------------ hot path

    def allow(self, dep_id: str) -> bool:
        """False while cooled down; once the cooldown is over, True for exactly one probe at a time.
        The probe belongs to the request (asyncio task) that got it: that request asking again is
        still the probe, any other request is refused until the probe's outcome is recorded."""
        b = self._b.get(dep_id)
        if b is None:
            self._b[dep_id] = _Breaker()  # so the sync task learns of trips elsewhere
            return True
        if b.state == "closed":
            return True
        now = self.clock()
        if b.state == "open":
            if now < b.until:
                return False
            b.state, b.why = "half-open", f"cooldown over, probing ({b.why})"
        task = _current_task()
        if b.probe_at is not None and now - b.probe_at < self.cfg.probe_timeout_s:
            # The one probe is out. The request holding it may ask again (router, then executor).
            return task is not None and b.probe_task is not None and b.probe_task() is task
        if self._shared() and not b.probe_claimed:
            return False  # another instance may hold the probe; the sync task claims it for us
        b.probe_at, b.probe_claimed = now, False
        b.probe_task = None
        if task is not None:
            b.probe_task = weakref.ref(task)
            # A request that took the probe but ended without calling the deployment (it was
            # only planned as a later fallback) hands the probe back instead of holding it.
            task.add_done_callback(lambda t, b=b: _drop_probe(b, t))
        return True

    def available(self, dep_id: str) -> bool:
        """What ``allow`` would answer, without taking the probe: for the router's filtering, so
        planning a request does not use up the single half-open probe that execution then needs."""
        b = self._b.get(dep_id)
        if b is None or b.state == "closed":
            return True
        now = self.clock()
        if b.state == "open" and now < b.until:
            return False
        if b.probe_at is not None and now - b.probe_at < self.cfg.probe_timeout_s:
            return False
        return not (self._shared() and not b.probe_claimed)

    def record(self, dep_id: str, ok: bool, error: ProviderError | None, latency_ms: float) -> None:
        """One finished attempt. 5xx, timeouts, 529 and auth failures count against the deployment;
        the caller's errors and 429s do not."""
        b = self._get(dep_id)
        if not ok and isinstance(error, _NOT_COUNTED):
            if b.state == "half-open" and b.probe_at is not None:
                b.probe_at, b.probe_task = None, None  # the probe told us nothing: admit another
            return
        failed = not ok
        a = self.cfg.ewma_alpha
        b.samples += 1
        b.err += a * ((1.0 if failed else 0.0) - b.err)
        if ok:
            b.lat = latency_ms if b.lat is None else b.lat + a * (latency_ms - b.lat)
        now = self.clock()
        if b.state == "half-open":
            if b.probe_at is None:
                return
            if failed:
                self._trip(b, now, f"probe failed: {_describe(error)}")
            else:
                self._close(b, now)
            return
        if b.state == "open":
            return  # a straggler from before the trip
        b.outcomes.append((now, failed))
        if failed:
            b.fails += 1
            b.consec += 1
        else:
            b.consec = 0
        self._prune(b, now)
        n = len(b.outcomes)
        if failed and self.cfg.auth_failure_trips and isinstance(error, AuthFailed):
            self._trip(b, now, f"auth failure: {_describe(error)}")
        elif b.consec >= self.cfg.consecutive_failures:
            self._trip(b, now, f"{b.consec} consecutive failures (last: {_describe(error)})")
        elif failed and n >= self.cfg.min_requests and b.fails / n >= self.cfg.failure_ratio:
            self._trip(b, now, f"{b.fails} of {n} calls failed in {self.cfg.window_s:g}s (last: {_describe(error)})")

    def _prune(self, b: _Breaker, now: float) -> None:
        horizon = now - self.cfg.window_s
        q = b.outcomes
        while q and q[0][0] < horizon:
            if q.popleft()[1]:
                b.fails -= 1

    def _trip(self, b: _Breaker, now: float, why: str) -> None:
        if b.state == "closed" and b.closed_at and now - b.closed_at > self.cfg.backoff_reset_s:
            b.opens = 0
        b.opens += 1
        cooldown = min(self.cfg.cooldown_base_s * 2 ** (b.opens - 1), self.cfg.cooldown_max_s)
        b.state, b.why, b.until = "open", f"{why}; cooling down {cooldown:g}s", now + cooldown
        b.probe_at, b.probe_task, b.probe_claimed = None, None, False
        b.outcomes.clear()
        b.fails = b.consec = 0
        b.pending = "open"
        log.warning("limits: circuit opened: %s", b.why)

    def _close(self, b: _Breaker, now: float) -> None:
        b.state, b.why, b.closed_at = "closed", "probe succeeded", now
        b.probe_at, b.probe_task, b.probe_claimed = None, None, False
        b.outcomes.clear()
        b.fails = b.consec = 0
        b.pending = "close"

    # ------------------------------------------------------------------ visibility

    def state(self, dep_id: str) -> dict[str, Any]:
        b = self._b.get(dep_id)
        if b is None:
            return {"state": "closed", "why": "no calls yet", "cooldown_until": None}
        now = self.clock()
        st = b.state
        if st == "open" and now >= b.until:
            st = "half-open"
        self._prune(b, now)
        return {"state": st, "why": b.why, "cooldown_until": b.until if st != "closed" else None,
                "opens": b.opens, "probe_in_flight": b.probe_at is not None,
                "window": {"requests": len(b.outcomes), "failures": b.fails}}

    def stats(self, dep_id: str) -> DeploymentStats:
        b = self._b.get(dep_id)
        if b is None:
            return DeploymentStats()
        return DeploymentStats(latency_ms=b.lat, error_rate=b.err, samples=b.samples)

    def snapshot(self) -> dict[str, Any]:
        out = {}
        for dep_id in sorted(self._b):
            st = self.state(dep_id)
            s = self.stats(dep_id)
            st["latency_ms"] = None if s.latency_ms is None else round(s.latency_ms, 1)
            st["error_rate"] = round(s.error_rate, 4)
            out[dep_id] = st
        return out

    # ------------------------------------------------------------------ sharing

    async def start(self) -> None:
        if self.store is not None and self.store.redis is not None and self._sync_task is None:
            self._sync_task = asyncio.create_task(self._sync_loop())

    async def close(self) -> None:
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._sync_task
            self._sync_task = None

    async def _sync_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.health_sync_s)
            try:
                await self.sync()
            except Exception as e:  # never let sharing stop the gateway
                log.warning("limits: health sync failed: %s", type(e).__name__)

    async def sync(self, extra: list[str] | None = None) -> None:
        """One exchange with Redis: push local trips / closes, claim due probes, adopt shared state."""
        if self.store is None or not self.store.shared:
            return
        now = self.clock()
        ops: list[tuple[str, str, int, int, str, int]] = []
        ids = list(self._b) + [d for d in (extra or []) if d not in self._b]
        sent: dict[str, str | None] = {}
        for dep_id in ids:
            b = self._get(dep_id)
            op = b.pending or "none"
            if op == "none" and b.state != "closed" and now >= b.until and not b.probe_claimed and (
                    b.probe_at is None or now - b.probe_at >= self.cfg.probe_timeout_s):
                op = "claim"
            sent[dep_id] = b.pending
            b.pending = None
            ops.append((dep_id, op, int(b.until * 1000), b.opens, b.why, b.ver))
        res = await self.store.health_sync(ops, int(now * 1000))
        if res is None:
            for dep_id, p in sent.items():  # Redis away: keep the news for the next exchange
                if p and self._b[dep_id].pending is None:
                    self._b[dep_id].pending = p
            return
        me = self.store.instance_id
        now = self.clock()
        for (dep_id, *_), r in zip(ops, res, strict=True):
            self._adopt(self._b[dep_id], r, me, now)

    def _adopt(self, b: _Breaker, r: list[Any], me: str, now: float) -> None:
        state, until_ms, opens, why, ver, probe = str(r[0]), int(r[1]), int(r[2]), str(r[3]), int(r[4]), str(r[5])
        if b.pending is not None:
            return  # a newer local change is on its way; adopt next time
        if ver > b.ver:
            b.ver = ver
            if state == "open":
                until = until_ms / 1000
                if b.state == "closed" or until > b.until:
                    b.state, b.until, b.why, b.opens = "open", until, why, max(b.opens, opens)
                    b.probe_at, b.probe_claimed = None, False
                    b.outcomes.clear()
                    b.fails = b.consec = 0
            elif b.state != "closed":
                b.state, b.why, b.closed_at = "closed", why or "probe succeeded elsewhere", now
                b.probe_at, b.probe_claimed = None, False
        stale = b.probe_at is not None and now - b.probe_at >= self.cfg.probe_timeout_s
        if state == "open" and b.state != "closed" and probe == me and (b.probe_at is None or stale):
            b.probe_claimed = True
