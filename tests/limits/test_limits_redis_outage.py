"""Redis going away mid-traffic: no call fails, readiness and the log say so, and sharing resumes
by itself once Redis is back."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis.asyncio as aioredis
from limits_helpers import SpareRedis, dep

from tierroute.errors import Timeout
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits


async def test_redis_stopped_mid_test_does_not_fail_calls(spare_redis: SpareRedis,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="tierroute.limits")
    cfg = LimitsConfig(redis_url=spare_redis.url, state_path=None, redis_retry_s=0.1, redis_timeout_s=0.5)
    limits, health = build_limits(cfg, parse_rate_limits({"deployments": {"p/x": {"rpm": 1000, "tpm": 10**6}}}))
    await limits.start()
    d = dep("p/x")
    try:
        lease = await limits.acquire(d, 10)
        assert lease.shared
        await limits.release(lease, total_tokens=12)

        spare_redis.stop()
        for _ in range(20):
            t0 = time.perf_counter()
            lease = await limits.acquire(d, 10)
            assert time.perf_counter() - t0 < 0.6
            assert health.allow(d.id)
            health.record(d.id, True, None, 5.0)
            await limits.release(lease, total_tokens=8)
        assert not lease.shared
        ready = await limits.ready()
        assert ready["ok"] is True and ready["shared"] is False and "unreachable" in ready["detail"]
        down_logs = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(down_logs) == 1
        # the breaker still works on local state
        for _ in range(5):
            health.record(d.id, False, Timeout("t"), 1.0)
        assert not health.allow(d.id)

        spare_redis.start()  # same port, empty
        deadline = time.monotonic() + 5
        while not (await limits.ready())["shared"]:
            assert time.monotonic() < deadline, "sharing did not resume"
            await asyncio.sleep(0.05)
        assert any("sharing resumed" in r.getMessage() for r in caplog.records)
        lease = await limits.acquire(d, 10)
        assert lease.shared
        r = aioredis.Redis(port=spare_redis.port, decode_responses=True)
        counts = await r.hgetall("tierroute:q:{p/x}:rpm")
        await r.aclose()
        assert sum(int(v) for v in counts.values()) == 1
        # the breaker opened during the outage reached the other instances once Redis was back
        await asyncio.sleep(cfg.health_sync_s * 3)
        r = aioredis.Redis(port=spare_redis.port, decode_responses=True)
        assert await r.hget("tierroute:cb:{p/x}", "state") == "open"
        await r.aclose()
    finally:
        await limits.close()
