"""Vendors' rate-limit response headers, read into ``RateLimitInfo``.

OpenAI style (also Groq, Together, OpenRouter, DeepSeek): ``x-ratelimit-remaining-requests``,
``x-ratelimit-reset-requests: 6m0s`` (Go-style durations: ``1h2m3.5s``, ``20ms``, or bare seconds).
Anthropic: ``anthropic-ratelimit-requests-remaining`` and ``...-reset`` as RFC 3339 instants.
``retry-after`` is seconds or an HTTP date; ``retry-after-ms`` (OpenAI) wins when present.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from tierroute.types import RateLimitInfo

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """``6m0s`` -> 360.0, ``20ms`` -> 0.02, ``1.5`` -> 1.5; None when unreadable."""
    text = text.strip()
    if not text:
        return None
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, pos = 0.0, 0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_S[m.group(2)]
        pos = m.end()
    return total if pos == len(text) and pos > 0 else None


def _seconds_until(instant: str, now: float | None = None) -> float | None:
    try:
        dt = datetime.fromisoformat(instant.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait per ``retry-after-ms`` / ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if not ra:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        dt = parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, dt.timestamp() - (time.time() if now is None else now))


def _int(v: str | None) -> int | None:
    if v is None:
        return None
    try:
        return int(float(v))
    except ValueError:
        return None


def parse_ratelimit(headers: Mapping[str, str], now: float | None = None) -> RateLimitInfo | None:
    """The limits the headers state, or None when they state none (the common, cheap case)."""
    if "x-ratelimit-remaining-requests" in headers or "x-ratelimit-remaining-tokens" in headers:
        rr, rt = headers.get("x-ratelimit-reset-requests"), headers.get("x-ratelimit-reset-tokens")
        return RateLimitInfo(
            remaining_requests=_int(headers.get("x-ratelimit-remaining-requests")),
            remaining_tokens=_int(headers.get("x-ratelimit-remaining-tokens")),
            reset_requests_s=parse_duration(rr) if rr else None,
            reset_tokens_s=parse_duration(rt) if rt else None,
        )
    if "anthropic-ratelimit-requests-remaining" in headers or "anthropic-ratelimit-tokens-remaining" in headers:
        rr = headers.get("anthropic-ratelimit-requests-reset")
        rt = headers.get("anthropic-ratelimit-tokens-reset")
        return RateLimitInfo(
            remaining_requests=_int(headers.get("anthropic-ratelimit-requests-remaining")),
            remaining_tokens=_int(headers.get("anthropic-ratelimit-tokens-remaining")),
            reset_requests_s=_seconds_until(rr, now) if rr else None,
            reset_tokens_s=_seconds_until(rt, now) if rt else None,
        )
    return None
