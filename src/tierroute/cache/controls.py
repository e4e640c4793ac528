"""Per-request cache controls (from headers) and the context the API layer hands the cache."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from tierroute.errors import InvalidRequest

TTL_HEADER = "X-Tierroute-Cache-TTL"
THRESHOLD_HEADER = "X-Tierroute-Cache-Threshold"


class CacheControls(msgspec.Struct, kw_only=True):
    no_cache: bool = False  # skip the lookup (the answer is still stored unless no_store)
    no_store: bool = False  # do not keep this answer
    ttl_s: float | None = None  # this entry's lifetime; capped by the configured ttl_s
    # A minimum cosine similarity for a semantic hit. It can only make matching stricter: the
    # configured policy still has to accept the hit.
    min_similarity: float | None = None


class CacheContext(msgspec.Struct, kw_only=True):
    tenant: str  # virtual key id or team; "master" for the master key
    route: str  # the model / alias / tier / "auto" asked for, plus routing hints, as one string
    controls: CacheControls = msgspec.field(default_factory=CacheControls)
    enabled: bool = True  # False for a key that opted out of caching
    # Set by a lookup that embedded the new user turn, so the router can reuse it instead of
    # embedding the same text again (numpy array, or None).
    vector: Any = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    v = headers.get(name)
    if v is None:
        low = name.lower()
        for k, val in headers.items():
            if k.lower() == low:
                return val
    return v


def parse_cache_controls(headers: Mapping[str, str]) -> CacheControls:
    """Read ``Cache-Control`` (no-cache, no-store), the TTL and the threshold headers.

    Raises ``InvalidRequest`` naming the header when a value is not usable.
    """
    c = CacheControls()
    cc = _header(headers, "Cache-Control")
    if cc:
        directives = {d.strip().lower().split("=", 1)[0] for d in cc.split(",")}
        c.no_cache = "no-cache" in directives
        c.no_store = "no-store" in directives
    ttl = _header(headers, TTL_HEADER)
    if ttl is not None:
        try:
            c.ttl_s = float(ttl)
        except ValueError:
            c.ttl_s = math.nan
        if not (math.isfinite(c.ttl_s) and c.ttl_s > 0):
            raise InvalidRequest(
                f"header {TTL_HEADER} must be a positive number of seconds, got {ttl!r}", param=TTL_HEADER
            )
    thr = _header(headers, THRESHOLD_HEADER)
    if thr is not None:
        try:
            c.min_similarity = float(thr)
        except ValueError:
            c.min_similarity = math.nan
        if not (0.0 <= c.min_similarity <= 1.0):
            raise InvalidRequest(
                f"header {THRESHOLD_HEADER} must be a similarity between 0 and 1, got {thr!r}",
                param=THRESHOLD_HEADER,
            )
    return c
