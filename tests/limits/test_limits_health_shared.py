"""Breaker state shared through the real Redis: a trip on one instance cools the deployment
down on all of them, one instance probes, and the probe's success reopens it everywhere."""

from __future__ import annotations

import asyncio

from limits_helpers import REDIS_URL, FakeClock

from tierroute.errors import Timeout
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits


async def request(h, ok: bool) -> bool:  # noqa: ANN001
    """One gateway request in a task of its own: ask, and if admitted call and record the outcome."""

    async def run() -> bool:
        if not h.allow("p/x"):
            return False
        h.record("p/x", ok, None if ok else Timeout("still nothing"), 100.0)
        return True

    return await asyncio.create_task(run())


async def make(prefix: str, clock: FakeClock):
    cfg = LimitsConfig(redis_url=REDIS_URL, redis_prefix=prefix, state_path=None, cooldown_base_s=10,
                       consecutive_failures=3)
    limits, health = build_limits(cfg, parse_rate_limits({}), clock=clock)
    await limits.state.start()  # no background sync: the test drives each exchange
    return limits, health


async def test_trip_probe_and_close_are_shared(redis_prefix: str, clock: FakeClock) -> None:
    la, a = await make(redis_prefix, clock)
    lb, b = await make(redis_prefix, clock)
    try:
        assert a.allow("p/x") and b.allow("p/x")
        for _ in range(3):
            a.record("p/x", False, Timeout("no answer"), 30000.0)
        assert not a.allow("p/x")
        assert b.allow("p/x")  # b has not heard yet
        await a.sync()
        await b.sync()
        assert not b.allow("p/x")
        st = b.state("p/x")
        assert st["state"] == "open" and "3 consecutive failures" in st["why"]

        clock.advance(10.5)
        # Cooldown over: nobody probes until one instance has claimed the probe in Redis...
        assert not a.allow("p/x") and not b.allow("p/x")
        await b.sync()
        await a.sync()
        # ...and then exactly one probe goes out across both instances. It fails: cooled down
        # again, for longer, everywhere.
        winners = [name for _ in range(5) for name, h in (("a", a), ("b", b)) if await request(h, ok=False)]
        assert len(winners) == 1
        owner, other = (a, b) if winners[0] == "a" else (b, a)
        await owner.sync()
        await other.sync()
        assert other.state("p/x")["state"] == "open"
        assert other.state("p/x")["cooldown_until"] - clock.now == 20

        clock.advance(20.5)
        await other.sync()
        await owner.sync()
        # One probe again; it succeeds and the prober takes traffic at once, the other is still
        # refused until it hears the news.
        probers = [h for h in (a, b) if await request(h, ok=True)]
        assert len(probers) == 1
        prober = probers[0]
        rest = b if prober is a else a
        assert prober.state("p/x")["state"] == "closed"
        assert all([await request(prober, ok=True) for _ in range(5)])
        assert not await request(rest, ok=True)
        await prober.sync()
        await rest.sync()
        assert rest.state("p/x")["state"] == "closed"
        assert all(rest.allow("p/x") for _ in range(10))
    finally:
        await la.close()
        await lb.close()
