"""Vendor rate-limit headers and Retry-After, read the way execution needs them."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from tierroute.providers.ratelimit import parse_duration, parse_ratelimit, parse_retry_after


@pytest.mark.parametrize(("text", "seconds"), [
    ("6m0s", 360.0), ("1s", 1.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.5", 0.5), ("17", 17.0),
    ("", None), ("soon", None), ("5x", None),
])
def test_durations(text: str, seconds: float | None) -> None:
    got = parse_duration(text)
    assert got == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "12"}) == 12.0
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    later = formatdate(time.time() + 30, usegmt=True)
    got = parse_retry_after({"retry-after": later})
    assert got is not None and 28 <= got <= 31
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "junk"}) is None


def test_anthropic_headers_with_rfc3339_resets() -> None:
    now = 1_800_000_000.0
    info = parse_ratelimit({
        "anthropic-ratelimit-requests-remaining": "49",
        "anthropic-ratelimit-requests-reset": "2027-01-15T08:00:10Z",
        "anthropic-ratelimit-tokens-remaining": "39000",
        "anthropic-ratelimit-tokens-reset": "2027-01-15T08:00:00+00:00",
    }, now=now)
    assert info is not None and info.remaining_requests == 49 and info.remaining_tokens == 39000
    from datetime import datetime
    base = datetime.fromisoformat("2027-01-15T08:00:00+00:00").timestamp()
    assert info.reset_tokens_s == pytest.approx(base - now)
    assert info.reset_requests_s == pytest.approx(base + 10 - now)


def test_no_headers_no_info() -> None:
    assert parse_ratelimit({"content-type": "application/json"}) is None
