"""The circuit breaker a single instance keeps: trips on real failures only, cools down with
growing back-off, admits exactly one probe, closes when the probe succeeds."""

from __future__ import annotations

import asyncio

import pytest
from limits_helpers import FakeClock

from tierroute.errors import (
    AuthFailed,
    BadRequest,
    ContentFiltered,
    Overloaded,
    RateLimited,
    Timeout,
    UpstreamError,
)
from tierroute.limits import Health, LimitsConfig

CFG = LimitsConfig(cooldown_base_s=10, cooldown_max_s=35, consecutive_failures=3, min_requests=6,
                   failure_ratio=0.5, window_s=60, backoff_reset_s=100, probe_timeout_s=30)


def fail(h: Health, dep_id: str, n: int, err: Exception | None = None) -> None:
    for _ in range(n):
        h.record(dep_id, False, err or UpstreamError("HTTP 502", deployment=dep_id), 50.0)


def test_cooldown_then_exactly_one_probe_then_traffic(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    assert h.allow("a/m")
    fail(h, "a/m", 3, Timeout("no answer in 30s"))
    st = h.state("a/m")
    assert st["state"] == "open" and "3 consecutive failures" in st["why"] and "Timeout" in st["why"]
    assert st["cooldown_until"] == pytest.approx(clock.now + 10)
    assert not h.allow("a/m")
    clock.advance(9.9)
    assert not h.allow("a/m")
    clock.advance(0.2)
    assert h.state("a/m")["state"] == "half-open"
    # the router may look without taking the probe...
    assert h.available("a/m") and h.available("a/m")
    # ...and exactly one probe goes out, however many ask
    grants = [h.allow("a/m") for _ in range(20)]
    assert grants.count(True) == 1 and grants[0]
    assert not h.available("a/m")
    h.record("a/m", True, None, 120.0)
    assert h.state("a/m")["state"] == "closed"
    assert all(h.allow("a/m") for _ in range(20))


def test_failed_probe_doubles_the_cooldown_up_to_the_max(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    fail(h, "a/m", 3)
    cooldowns = []
    for _ in range(4):
        st = h.state("a/m")
        cooldowns.append(round(st["cooldown_until"] - clock.now, 3))
        clock.now = st["cooldown_until"]
        assert h.allow("a/m")
        fail(h, "a/m", 1, Overloaded("529 overloaded"))
        assert "probe failed: Overloaded" in h.state("a/m")["why"]
    assert cooldowns == [10, 20, 35, 35]
    # A probe that succeeds closes it; after a long healthy stretch the back-off starts over.
    clock.now = h.state("a/m")["cooldown_until"]
    assert h.allow("a/m")
    h.record("a/m", True, None, 80.0)
    clock.advance(150)
    fail(h, "a/m", 3)
    assert h.state("a/m")["cooldown_until"] - clock.now == pytest.approx(10)


def test_lost_probe_is_replaced_after_probe_timeout(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    fail(h, "a/m", 3)
    clock.advance(10)
    assert h.allow("a/m")
    clock.advance(29)
    assert not h.allow("a/m")
    clock.advance(2)
    assert h.allow("a/m")


def test_callers_errors_and_429s_do_not_count(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    for err in [BadRequest("bad"), ContentFiltered("no"), RateLimited("slow down", retry_after=3)] * 10:
        h.record("a/m", False, err, 10.0)
    assert h.state("a/m")["state"] == "closed"
    assert h.stats("a/m").error_rate == 0.0
    # and a 429 answering the probe neither closes nor re-opens: another probe may go
    fail(h, "a/m", 3)
    clock.advance(10)
    assert h.allow("a/m")
    h.record("a/m", False, RateLimited("slow down"), 10.0)
    assert h.state("a/m")["state"] == "half-open"
    assert h.allow("a/m")


def test_failure_ratio_in_window_trips_and_old_failures_age_out(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    # alternating ok / fail never makes 3 in a row, but 50% of >= 6 calls trips it
    for i in range(5):
        h.record("a/m", i % 2 == 0, None if i % 2 == 0 else UpstreamError("500"), 10.0)
    assert h.state("a/m")["state"] == "closed"
    h.record("a/m", False, UpstreamError("500"), 10.0)
    assert h.state("a/m")["state"] == "open"
    assert "3 of 6 calls failed" in h.state("a/m")["why"]
    # the same failures spread over more than the window do not trip it
    h2 = Health(CFG, clock=clock)
    for i in range(12):
        h2.record("b/m", i % 4 != 0, None if i % 4 != 0 else UpstreamError("500"), 10.0)
        clock.advance(1)
    fail(h2, "b/m", 2)
    assert h2.state("b/m")["state"] == "closed"


def test_auth_failure_trips_at_once(clock: FakeClock) -> None:
    h = Health(CFG, clock=clock)
    h.record("a/m", False, AuthFailed("HTTP 401: invalid key"), 5.0)
    st = h.state("a/m")
    assert st["state"] == "open" and "auth failure" in st["why"]


def test_ewma_latency_and_error_rate(clock: FakeClock) -> None:
    h = Health(LimitsConfig(ewma_alpha=0.5), clock=clock)
    assert h.stats("x/y").latency_ms is None
    h.record("x/y", True, None, 100.0)
    h.record("x/y", True, None, 200.0)
    h.record("x/y", False, Timeout("t"), 5000.0)  # a failure's latency does not skew the ranking
    s = h.stats("x/y")
    assert s.latency_ms == pytest.approx(150.0)
    assert s.error_rate == pytest.approx(0.5)
    assert s.samples == 3
    snap = h.snapshot()["x/y"]
    assert snap["latency_ms"] == 150.0 and snap["state"] == "closed"


async def test_the_probe_belongs_to_one_request(clock: FakeClock) -> None:
    """The router and then the executor both ask for the same request: both get True; any
    other request in the meantime is refused."""
    h = Health(CFG, clock=clock)
    fail(h, "a/m", 3)
    clock.advance(10)

    async def request(started: asyncio.Event | None = None, go: asyncio.Event | None = None) -> list[bool]:
        seen = [h.allow("a/m")]  # routing
        if started is not None and go is not None:
            started.set()
            await go.wait()
        seen.append(h.allow("a/m"))  # execution
        return seen

    started, go = asyncio.Event(), asyncio.Event()
    probe = asyncio.create_task(request(started, go))
    await started.wait()
    others = [await asyncio.create_task(request()) for _ in range(3)]
    go.set()
    assert await probe == [True, True]
    assert others == [[False, False]] * 3
    h.record("a/m", True, None, 50.0)
    assert await asyncio.create_task(request()) == [True, True]


async def test_a_request_that_never_used_its_probe_hands_it_back(clock: FakeClock) -> None:
    """Planning may take the probe for a deployment that is only a later fallback; when that
    request ends without calling it, the next request may probe."""
    h = Health(CFG, clock=clock)
    fail(h, "a/m", 3)
    clock.advance(10)

    async def plan_only() -> bool:
        return h.allow("a/m")

    assert await asyncio.create_task(plan_only()) is True
    await asyncio.sleep(0)  # the done-callback runs on the next loop turn
    assert h.state("a/m")["probe_in_flight"] is False
    assert await asyncio.create_task(plan_only()) is True
