"""Run a ``Plan``: try its attempts in order with retries, quotas, cooldowns and a deadline.

For each attempt: skip a deployment that is cooled down or already tried in this request (so a
fallback loop cannot happen at run time), take its quota, call the adapter, and on failure retry
the same deployment (retryable errors, backoff honouring Retry-After) or move to the next one.
A caller error (malformed request, content policy) goes straight back to the client: no other
deployment would answer it differently. Streams fall back only until their first chunk arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

from tierroute.config.schema import RetryConfig
from tierroute.errors import (
    AllAttemptsFailed,
    ContextTooLong,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    Timeout,
)
from tierroute.execution.backoff import retry_delay
from tierroute.providers import get_adapter
from tierroute.providers.base import Adapter
from tierroute.types import (
    AttemptRecord,
    CallInfo,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    Deployment,
    EmbeddingRequest,
    EmbeddingResponse,
    Plan,
)

T = TypeVar("T")


class Done(Generic[T]):
    """A successful attempt: what it returned, where, and everything tried on the way."""

    __slots__ = ("value", "deployment", "attempts", "info", "lease", "errors")

    def __init__(self, value: T, deployment: Deployment, attempts: list[AttemptRecord], info: CallInfo,
                 lease: Any, errors: list[ProviderError]) -> None:
        self.value = value
        self.deployment = deployment
        self.attempts = attempts
        self.info = info
        self.lease = lease
        self.errors = errors


class Opened:
    """A stream whose first chunk has arrived: from here on it cannot fall back."""

    __slots__ = ("first", "rest")

    def __init__(self, first: ChatChunk, rest: AsyncIterator[ChatChunk]) -> None:
        self.first = first
        self.rest = rest


class Cancelled(asyncio.CancelledError):
    """The request was cancelled (its client left) during an attempt; carries the attempts so far."""

    def __init__(self, attempts: list[AttemptRecord]) -> None:
        super().__init__("cancelled by the client")
        self.attempts = attempts


class Failed(Exception):
    """Raised out of ``Executor`` when a request ends in error; carries the attempts for accounting."""

    def __init__(self, error: Exception, attempts: list[AttemptRecord]) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts


Call = Callable[[Adapter, Deployment, CallInfo], Awaitable[T]]


class Executor:
    def __init__(self, retry: RetryConfig, *, limits: Any = None, health: Any = None) -> None:
        self.retry = retry
        self.limits = limits
        self.health = health

    async def complete(self, plan: Plan, req: ChatRequest, deadline: float, est_tokens: int) -> Done[ChatResponse]:
        return await self._run(plan, lambda a, d, i: a.send(req, d, i), deadline, est_tokens)

    async def embed(self, plan: Plan, req: EmbeddingRequest, deadline: float, est_tokens: int
                    ) -> Done[EmbeddingResponse]:
        return await self._run(plan, lambda a, d, i: a.embed(req, d, i), deadline, est_tokens)

    async def open_stream(self, plan: Plan, req: ChatRequest, deadline: float, est_tokens: int) -> Done[Opened]:
        async def first_chunk(adapter: Adapter, dep: Deployment, info: CallInfo) -> Opened:
            it = adapter.stream(req, dep, info).__aiter__()
            try:
                first = await it.__anext__()
            except StopAsyncIteration:
                raise ProviderError("the stream ended before its first chunk", deployment=dep.id) from None
            return Opened(first, it)

        return await self._run(plan, first_chunk, deadline, est_tokens)

    async def finish(self, done: Done[Any], total_tokens: int | None, error: ProviderError | None = None) -> None:
        """Settle a successful attempt once its answer is complete (streams: after the last chunk)."""
        if self.limits is not None and done.lease is not None:
            await self.limits.release(done.lease, total_tokens=total_tokens)
        if error is not None and self.health is not None:
            self.health.record(done.deployment.id, False, error, 0.0)

    async def _run(self, plan: Plan, call: Call[T], deadline: float, est_tokens: int) -> Done[T]:
        cfg = self.retry
        records: list[AttemptRecord] = []
        errors: list[ProviderError] = []
        quota_waits: list[float] = []
        tried: set[str] = set()
        for attempt in plan.attempts:
            dep = attempt.deployment
            if dep.id in tried:
                continue
            if len(tried) >= cfg.max_attempts:
                break
            tried.add(dep.id)
            if self.health is not None and not self.health.allow(dep.id):
                records.append(AttemptRecord(deployment=dep.id, outcome="cooled-down", latency_ms=0.0))
                continue
            adapter = get_adapter(dep.dialect)
            for retry in range(cfg.max_retries + 1):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    errors.append(Timeout("the request deadline passed", deployment=dep.id))
                    raise Failed(self._exhausted(errors, records, quota_waits, plan), records)
                lease = None
                if self.limits is not None:
                    try:
                        lease = await self.limits.acquire(dep, est_tokens)
                    except QuotaExhausted as q:
                        records.append(AttemptRecord(deployment=dep.id, outcome="quota", latency_ms=0.0,
                                                     detail=q.message))
                        if q.retry_after is not None:
                            quota_waits.append(q.retry_after)
                        break
                info = CallInfo()
                t0 = time.perf_counter()
                try:
                    if remaining < dep.timeout_s:
                        async with asyncio.timeout(remaining):
                            value = await call(adapter, dep, info)
                    else:
                        value = await call(adapter, dep, info)
                except asyncio.CancelledError:
                    # The client went away (aiohttp cancels the handler): the upstream call is dropped
                    # with it, and its quota slot is given back now rather than when the lease expires.
                    records.append(AttemptRecord(deployment=dep.id, outcome="cancelled",
                                                 latency_ms=(time.perf_counter() - t0) * 1000))
                    if self.limits is not None and lease is not None:
                        await self.limits.release(lease, total_tokens=0)
                    raise Cancelled(records) from None
                except (ProviderError, TimeoutError) as exc:
                    err = exc if isinstance(exc, ProviderError) else Timeout(
                        "no answer before the request deadline", deployment=dep.id)
                    ms = (time.perf_counter() - t0) * 1000
                    records.append(AttemptRecord(deployment=dep.id, outcome=type(err).__name__, latency_ms=ms,
                                                 detail=err.message[:300]))
                    errors.append(err)
                    await self._settle_failure(dep, lease, err, ms, info)
                    if not err.fallback:
                        raise Failed(err, records) from None
                    if isinstance(err, ContextTooLong) or not err.retryable or retry >= cfg.max_retries:
                        break
                    ra = err.retry_after if isinstance(err, RateLimited) else None
                    if ra is not None and ra > cfg.max_retry_after_s:
                        break
                    delay = retry_delay(retry, cfg.backoff_base_s, cfg.backoff_max_s, ra)
                    if delay >= deadline - time.monotonic():
                        break
                    await asyncio.sleep(delay)
                    continue
                ms = (time.perf_counter() - t0) * 1000
                records.append(AttemptRecord(deployment=dep.id, outcome="ok", latency_ms=ms))
                if self.health is not None:
                    self.health.record(dep.id, True, None, ms)
                if self.limits is not None and info.ratelimit is not None:
                    self.limits.observe_vendor(dep, info.ratelimit, None)
                return Done(value, dep, records, info, lease, errors)
        raise Failed(self._exhausted(errors, records, quota_waits, plan), records)

    async def _settle_failure(self, dep: Deployment, lease: Any, err: ProviderError, ms: float,
                              info: CallInfo) -> None:
        if self.limits is not None:
            if lease is not None:
                await self.limits.release(lease, total_tokens=0)
            if isinstance(err, RateLimited) or info.ratelimit is not None:
                self.limits.observe_vendor(dep, info.ratelimit,
                                           (err.retry_after or 0.0) if isinstance(err, RateLimited) else None)
        if self.health is not None:
            self.health.record(dep.id, False, err, ms)

    @staticmethod
    def _exhausted(errors: list[ProviderError], records: list[AttemptRecord], quota_waits: list[float],
                   plan: Plan) -> Exception:
        wait = min(quota_waits) if quota_waits else None
        dropped = [c for c in plan.candidates if not c.kept]
        skipped_by_router = "" if not dropped else " Not tried: " + "; ".join(
            f"{c.model} ({c.reason})" for c in dropped[:8]) + "."
        if not errors:
            skipped = ", ".join(f"{r.deployment} ({r.outcome})" for r in records) or "none"
            if quota_waits:
                return QuotaExhausted(f"Every candidate's quota is spent; tried: {skipped}.{skipped_by_router}",
                                      retry_after=wait)
            return AllAttemptsFailed(f"No deployment could take the request; tried: {skipped}.{skipped_by_router}",
                                     [], wait)
        tried = "; ".join(f"{r.deployment}: {r.outcome}" + (f" ({r.detail})" if r.detail else "") for r in records)
        return AllAttemptsFailed(f"All {len(records)} attempts failed. {tried}{skipped_by_router}", errors, wait)
