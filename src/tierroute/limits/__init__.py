"""Quotas, health (circuit breaker) and the state they share between gateway instances.

    limits, health = build_limits(LimitsConfig(redis_url=...), load_rate_limits("config/rate_limits.yaml"))
    await limits.start()
    if health.allow(dep.id) and limits.headroom(dep.id)[0]:
        lease = await limits.acquire(dep, est_tokens)      # QuotaExhausted(retry_after) if spent
        ... call the vendor ...
        health.record(dep.id, ok, error, latency_ms)
        limits.observe_vendor(dep, info.ratelimit, retry_after_if_429)
        await limits.release(lease, total_tokens=usage.total_tokens)
"""

from .build import build_limits
from .config import (
    DailyReset,
    LimitsConfig,
    Quota,
    RateLimits,
    RateLimitsError,
    load_rate_limits,
    parse_rate_limits,
)
from .grant import Lease
from .health import DeploymentStats, Health
from .quotas import Limits
from .shared import SharedState

__all__ = [
    "DailyReset",
    "DeploymentStats",
    "Health",
    "Lease",
    "Limits",
    "LimitsConfig",
    "Quota",
    "RateLimits",
    "RateLimitsError",
    "SharedState",
    "build_limits",
    "load_rate_limits",
    "parse_rate_limits",
]
