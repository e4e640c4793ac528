"""Quotas with the in-process store: what a gateway running alone enforces."""

from __future__ import annotations

from pathlib import Path

import pytest
from limits_helpers import FakeClock, dep

from tierroute.errors import QuotaExhausted
from tierroute.limits import LimitsConfig, build_limits, parse_rate_limits
from tierroute.types import RateLimitInfo


def make(clock: FakeClock, deployments: dict, state_path: str | None = None):
    cfg = LimitsConfig(state_path=state_path)
    return build_limits(cfg, parse_rate_limits({"deployments": deployments}), clock=clock)


async def test_rpm_refuses_the_extra_request_and_says_when_it_frees(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"rpm": 5}})
    d = dep("p/m")
    for _ in range(5):
        await limits.acquire(d, 10)
        clock.advance(1)
    with pytest.raises(QuotaExhausted) as e:
        await limits.acquire(d, 10)
    assert e.value.status == 429
    # The first request (made 5 s ago) leaves the 60 s window in 55..60 s, plus a bucket's width.
    assert 55 <= e.value.retry_after <= 65
    assert "rpm limit 5" in e.value.message
    assert limits.headroom("p/m")[0] is False
    clock.advance(e.value.retry_after)
    assert limits.headroom("p/m") == (True, None, "ok")
    await limits.acquire(d, 10)


async def test_rpm_never_passes_more_than_the_limit_in_any_60s(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"rpm": 7}})
    d = dep("p/m")
    passed: list[float] = []
    for _ in range(600):  # one request every 0.7 s for 7 minutes
        try:
            await limits.acquire(d, 1)
            passed.append(clock.now)
        except QuotaExhausted:
            pass
        clock.advance(0.7)
    worst = max(sum(1 for t in passed if s <= t < s + 60) for s in passed)
    assert worst == 7
    # and it is not starved either: 7 minutes hold at least 6 full windows' worth
    assert len(passed) >= 6 * 7


async def test_tpm_reconciles_estimate_with_real_usage(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"tpm": 1000}})
    d = dep("p/m")
    lease = await limits.acquire(d, 600)
    # 600 + 600 would not fit; after the answer reports only 100 tokens, it does.
    await limits.release(lease, total_tokens=100)
    lease2 = await limits.acquire(d, 600)
    assert (await limits.usage("p/m"))["tpm_used"] == 700
    # An underestimate is charged in full: 700 - 600 + 950 = 1050 > 1000 ...
    await limits.release(lease2, total_tokens=950)
    assert (await limits.usage("p/m"))["tpm_used"] == 1050
    with pytest.raises(QuotaExhausted, match="tpm limit 1000"):
        await limits.acquire(d, 1)
    # ... and unknown usage (None) keeps the estimate.
    clock.advance(70)
    lease3 = await limits.acquire(d, 300)
    await limits.release(lease3, total_tokens=None)
    assert (await limits.usage("p/m"))["tpm_used"] == 300


async def test_concurrency_slot_frees_on_release(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"max_concurrent": 2}})
    d = dep("p/m")
    a = await limits.acquire(d, 1)
    await limits.acquire(d, 1)
    with pytest.raises(QuotaExhausted, match="max_concurrent 2"):
        await limits.acquire(d, 1)
    assert limits.headroom("p/m")[0] is False
    await limits.release(a, total_tokens=1)
    await limits.release(a, total_tokens=1)  # twice is harmless
    assert limits.headroom("p/m")[0] is True
    await limits.acquire(d, 1)
    with pytest.raises(QuotaExhausted):
        await limits.acquire(d, 1)


async def test_daily_quota_survives_a_restart_and_resets_at_the_vendor_midnight(
        tmp_path: Path, clock: FakeClock) -> None:
    db = str(tmp_path / "limits.db")
    clock.now = 1_795_000_000.0  # 2026-11-18T09:46:40Z, 01:46 in Los Angeles
    spec = {"gemini/flash": {"rpd": 3, "daily_reset": "00:00 America/Los_Angeles"}}
    limits, _ = make(clock, spec, db)
    await limits.start()
    d = dep("gemini/flash")
    for _ in range(3):
        await limits.acquire(d, 1)
    await limits.close()

    clock.advance(120)
    again, _ = make(clock, spec, db)
    await again.start()
    try:
        with pytest.raises(QuotaExhausted, match="rpd limit 3") as e:
            await again.acquire(d, 1)
        # Next Pacific midnight is 08:00 UTC on the 19th: 22 h 11 min 20 s after the restart.
        assert e.value.retry_after == pytest.approx(1_795_075_200 - clock.now, abs=1)
        assert again.snapshot()["gemini/flash"]["used"]["rpd_used"] == 3
        clock.now = 1_795_075_201.0
        await again.acquire(d, 1)
    finally:
        await again.close()


async def test_vendor_429_blocks_until_retry_after(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"rpm": 100}})
    d = dep("p/m")
    limits.observe_vendor(d, None, 7.0)
    ok, retry, why = limits.headroom("p/m")
    assert not ok and retry == pytest.approx(7.0) and "429" in why
    with pytest.raises(QuotaExhausted) as e:
        await limits.acquire(d, 1)
    assert e.value.retry_after == pytest.approx(7.0, abs=0.01)
    clock.advance(7.1)
    await limits.acquire(d, 1)


async def test_vendor_headers_with_nothing_left_block_and_unlimited_deployments_too(clock: FakeClock) -> None:
    limits, _ = make(clock, {})  # no configured quota at all: only the vendor can say stop
    d = dep("x/unlisted")
    limits.observe_vendor(d, RateLimitInfo(remaining_requests=3, remaining_tokens=5000), None)
    await limits.acquire(d, 1)
    limits.observe_vendor(d, RateLimitInfo(remaining_requests=0, reset_requests_s=12.0), None)
    with pytest.raises(QuotaExhausted, match="0 requests left") as e:
        await limits.acquire(d, 1)
    assert e.value.retry_after == pytest.approx(12.0)
    assert limits.snapshot()["x/unlisted"]["vendor"]["remaining_requests"] == 0
    clock.advance(12.5)
    await limits.acquire(d, 1)


async def test_snapshot_reports_headroom_without_secrets(clock: FakeClock) -> None:
    limits, _ = make(clock, {"p/m": {"rpm": 2, "tpm": 100}})
    d = dep("p/m")
    await limits.acquire(d, 10)
    await limits.acquire(d, 10)
    with pytest.raises(QuotaExhausted):
        await limits.acquire(d, 10)
    snap = limits.snapshot()["p/m"]
    assert snap["available"] is False and snap["used"]["rpm_used"] == 2 and snap["used"]["tpm_used"] == 20
    assert snap["limits"]["rpm"] == 2
    assert "sk-secret" not in repr(limits.snapshot())
