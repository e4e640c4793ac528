"""The ``cache:`` section of config/tierroute.yaml."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct


class CacheConfig(Struct, kw_only=True, forbid_unknown_fields=True):
    # Master switch. Off: lookup always misses and store keeps nothing.
    enabled: bool = True
    # memory: this process only (persisted to sqlite_path when set); redis: shared by every instance.
    backend: Literal["memory", "redis"] = "memory"
    # Used when backend is redis, e.g. redis://127.0.0.1:6379/0.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Key prefix in Redis, so several gateways (or tests) can share one server without colliding.
    redis_prefix: str = "tierroute:cache"
    # SQLite file the memory backend persists to; empty = nothing survives a restart.
    sqlite_path: str = ""
    # How long an answer is kept, in seconds. Fixed at store time: a hit does not extend it.
    # A request's X-Tierroute-Cache-TTL header can only shorten it.
    ttl_s: Annotated[float, Meta(gt=0)] = 3600.0
    # Upper bound on stored answers (across all tenants); the least recently used go first
    # (memory), or the oldest (redis).
    max_entries: Annotated[int, Meta(ge=1)] = 100_000
    # Serve answers to similar (not identical) questions. Off = exact matches only.
    semantic: bool = True
    # The share of should-miss lookups you accept being answered from a different question.
    # The cache picks its decision threshold from the shipped calibration to stay within it.
    # Lower = fewer hits. Calibrated range 0.001..0.05.
    target_false_hit_rate: Annotated[float, Meta(gt=0, lt=1)] = 0.01
    # Requests with a temperature above this skip the semantic layer (the caller wants variety);
    # requests that do not set a temperature are served.
    max_temperature: Annotated[float, Meta(ge=0, le=2)] = 0.7
    # The embedder for the semantic layer: "minilm" = tierroute.embedding.default_embedder().
    embedder: Literal["minilm"] = "minilm"
    # Calibration file (scoring model + thresholds); empty = the one shipped with tierroute.
    calibration: str = ""
