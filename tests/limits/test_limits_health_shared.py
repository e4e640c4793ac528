"""Breaker state shared through the real Redis: a trip on one instance cools the deployment
down on all of them, one instance probes, and the probe's success reopens it everywhere."""

from __future__ import annotations

import asyncio

from limits_helpers import REDIS_URL, FakeClock

from tierroute.errors import Timeout
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits


async def ask(h) -> bool:  # noqa: ANN001
    """allow() from a request of its own (its own asyncio task), as the gateway calls it."""
    return await asyncio.create_task(_allow(h))


async def _allow(h) -> bool:  # noqa: ANN001
    return h.allow("p/x")


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
        # ...and then exactly one probe goes out across both instances.
        grants = [(name, await ask(h)) for _ in range(5) for name, h in (("a", a), ("b", b))]
        winners = [name for name, ok in grants if ok]
        assert len(winners) == 1
        owner, other = (a, b) if winners[0] == "a" else (b, a)

        # The probe fails: cooled down again, for longer, everywhere.
        owner.record("p/x", False, Timeout("still nothing"), 30000.0)
        await owner.sync()
        await other.sync()
        assert other.state("p/x")["state"] == "open"
        assert other.state("p/x")["cooldown_until"] - clock.now == 20

        clock.advance(20.5)
        await other.sync()
        await owner.sync()
        grants = [(h, await ask(h)) for _ in range(5) for h in (a, b)]
        probers = [h for h, ok in grants if ok]
        assert len(probers) == 1
        prober = probers[0]
        rest = b if prober is a else a
        prober.record("p/x", True, None, 200.0)
        assert prober.allow("p/x")
        await prober.sync()
        await rest.sync()
        assert rest.state("p/x")["state"] == "closed"
        assert all(rest.allow("p/x") for _ in range(10))
    finally:
        await la.close()
        await lb.close()
