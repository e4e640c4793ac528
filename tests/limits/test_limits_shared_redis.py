"""Quotas shared through the real Redis: several instances enforce one limit."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from limits_helpers import REDIS_URL, FakeClock, dep, hammer

from tierroute.errors import QuotaExhausted
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits
from tierroute.types import RateLimitInfo


def make(prefix: str, deployments: dict, clock: FakeClock | None = None):
    cfg = LimitsConfig(redis_url=REDIS_URL, redis_prefix=prefix, state_path=None)
    kw = {"clock": clock} if clock else {}
    return build_limits(cfg, parse_rate_limits({"deployments": deployments}), **kw)


def test_two_processes_pass_exactly_the_limit_between_them(redis_prefix: str) -> None:
    ctx = mp.get_context("spawn")
    ready_q, out_q, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=hammer, args=(REDIS_URL, redis_prefix, "p/shared", 100, 150, ready_q, go, out_q))
             for _ in range(2)]
    for p in procs:
        p.start()
    try:
        for _ in procs:
            ready_q.get(timeout=30)
        go.set()
        passed = [out_q.get(timeout=30) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    assert sum(passed) == 100, passed
    assert all(n > 0 for n in passed), passed  # both instances really served


async def test_daily_quota_lives_in_redis_across_a_restart(redis_prefix: str) -> None:
    spec = {"p/daily": {"rpd": 2}}
    first, _ = make(redis_prefix, spec)
    await first.start()
    for _ in range(2):
        await first.acquire(dep("p/daily"), 1)
    await first.close()
    second, _ = make(redis_prefix, spec)
    await second.start()
    try:
        with pytest.raises(QuotaExhausted, match="rpd limit 2") as e:
            await second.acquire(dep("p/daily"), 1)
        assert 0 < e.value.retry_after <= 86400
    finally:
        await second.close()


async def test_tpm_reconciliation_in_redis(redis_prefix: str, clock: FakeClock) -> None:
    a, _ = make(redis_prefix, {"p/tok": {"tpm": 1000}}, clock)
    b, _ = make(redis_prefix, {"p/tok": {"tpm": 1000}}, clock)
    await a.start()
    await b.start()
    try:
        lease = await a.acquire(dep("p/tok"), 900)
        with pytest.raises(QuotaExhausted, match="tpm"):
            await b.acquire(dep("p/tok"), 200)
        await a.release(lease, total_tokens=300)
        await b.acquire(dep("p/tok"), 700)
        assert (await b.usage("p/tok"))["tpm_used"] == 1000
        with pytest.raises(QuotaExhausted) as e:
            await b.acquire(dep("p/tok"), 1)
        assert 0 < e.value.retry_after <= 65
    finally:
        await a.close()
        await b.close()


async def test_vendor_429_on_one_instance_stops_the_others(redis_prefix: str) -> None:
    a, _ = make(redis_prefix, {"p/v": {"rpm": 1000}})
    b, _ = make(redis_prefix, {"p/v": {"rpm": 1000}})
    await a.start()
    await b.start()
    try:
        await b.acquire(dep("p/v"), 1)
        a.observe_vendor(dep("p/v"), None, 30.0)
        assert a.headroom("p/v")[0] is False
        await a.state.drain()
        with pytest.raises(QuotaExhausted, match="429") as e:
            await b.acquire(dep("p/v"), 1)
        assert 29 < e.value.retry_after <= 30
        # having been refused, b's own headroom now knows too, without a round trip
        assert b.headroom("p/v")[0] is False
        # headers saying "0 tokens left" do the same
        a.observe_vendor(dep("p/other"), RateLimitInfo(remaining_tokens=0, reset_tokens_s=9), None)
        await a.state.drain()
        with pytest.raises(QuotaExhausted, match="0 tokens left"):
            await b.acquire(dep("p/other"), 1)
    finally:
        await a.close()
        await b.close()


async def test_concurrency_cap_is_shared(redis_prefix: str) -> None:
    a, _ = make(redis_prefix, {"p/c": {"max_concurrent": 2}})
    b, _ = make(redis_prefix, {"p/c": {"max_concurrent": 2}})
    await a.start()
    await b.start()
    try:
        la = await a.acquire(dep("p/c"), 1)
        await b.acquire(dep("p/c"), 1)
        with pytest.raises(QuotaExhausted, match="max_concurrent"):
            await b.acquire(dep("p/c"), 1)
        await a.release(la, total_tokens=1)
        await b.acquire(dep("p/c"), 1)
    finally:
        await a.close()
        await b.close()
