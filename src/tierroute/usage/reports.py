"""Aggregations over the usage store, written once in SQL both SQLite and PostgreSQL run, so the
two stores give the same numbers. Used by ``/admin/usage``, the dashboard and ``tierroute report``."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from tierroute.usage.recorder import UsageStore

GROUPS: dict[str, str] = {
    "model": "COALESCE(model, '(none)')",
    "provider": "COALESCE(provider, '(none)')",
    "task": "COALESCE(task, 'unknown')",
    "key": "COALESCE(key_id, 'master')",
    "deployment": "COALESCE(deployment, '(none)')",
    "cache": "cache",
    "all": "'all'",
}
BUCKETS: dict[str, int] = {"hour": 3600, "day": 86400}
_SINCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_AGG = """
COUNT(*),
COALESCE(SUM(prompt_tokens), 0),
COALESCE(SUM(completion_tokens), 0),
COALESCE(SUM(cost_usd), 0),
COALESCE(SUM(baseline_cost_usd), 0),
COALESCE(SUM(saved_usd), 0),
COALESCE(SUM(CASE WHEN SUBSTR(cache, 1, 3) = 'hit' THEN 1 ELSE 0 END), 0),
COALESCE(SUM(fallbacks), 0),
COALESCE(SUM(CASE WHEN fallbacks > 0 THEN 1 ELSE 0 END), 0),
COALESCE(SUM(escalated), 0),
COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0),
COALESCE(SUM(CASE WHEN error_class = 'QuotaExhausted' THEN 1 ELSE 0 END), 0),
COALESCE(AVG(latency_ms), 0),
COALESCE(SUM(cache_read_tokens), 0),
COALESCE(SUM(cache_write_tokens), 0),
COALESCE(SUM(CASE WHEN SUBSTR(cache, 1, 3) = 'hit' THEN 0 ELSE baseline_cost_usd - cost_usd END), 0),
COALESCE(SUM(CASE WHEN nocache_cost_usd > 0 THEN nocache_cost_usd - cost_usd ELSE 0 END), 0),
COALESCE(SUM(CASE WHEN SUBSTR(cache, 1, 3) = 'hit' THEN baseline_cost_usd - cost_usd ELSE 0 END), 0)
"""
_AGG_NAMES = (
    "requests", "prompt_tokens", "completion_tokens", "cost_usd", "baseline_cost_usd", "saved_usd",
    "cache_hits", "fallbacks", "fallback_requests", "escalations", "errors", "quota_rejections",
    "latency_avg_ms", "cache_read_tokens", "cache_write_tokens",
    # Three savings apart, against the premium-only baseline (itself priced with the provider cache):
    # what routing saved on answered requests, what the vendors' prompt caches saved net of their write
    # premium (the same tokens at the full input price, minus the cost; rows before migration 4 count 0), and what tierroute's response cache saved (hits).
    "routing_saved_usd", "provider_cache_saved_usd", "response_cache_saved_usd",
)  # fmt: skip


class ReportError(ValueError):
    """A bad report parameter; ``param`` names it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


def parse_since(text: str | None, default: str = "7d") -> float:
    """'7d', '24h', '30m', '2w' -> seconds."""
    m = _SINCE.match(text or default)
    if not m:
        raise ReportError(
            f"since={text!r} is not a duration: use a number and s, m, h, d or w, e.g. 7d or 24h", "since"
        )
    return float(m.group(1)) * _UNIT[m.group(2)]


def _bucket_expr(dialect: str, seconds: int) -> str:
    if dialect == "postgresql":
        return f"(CAST(FLOOR(ts / {seconds}) AS BIGINT) * {seconds})"
    return f"(CAST(ts / {seconds} AS INTEGER) * {seconds})"


def _num(v: Any) -> float | int:
    if isinstance(v, int):
        return v
    f = float(v)
    return round(f, 10)


async def usage_summary(
    store: UsageStore, by: str = "model", bucket: str | None = None, since_s: float = 7 * 86400,
    now: float | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """One row per group (and per time bucket if ``bucket`` is hour or day), newest data included."""
    if by not in GROUPS:
        raise ReportError(f"by={by!r} is not a grouping: use one of {', '.join(GROUPS)}", "by")
    if bucket is not None and bucket not in BUCKETS:
        raise ReportError(f"bucket={bucket!r} is not a time bucket: use hour or day", "bucket")
    since_ts = (now or time.time()) - since_s
    b = _bucket_expr(store.dialect, BUCKETS[bucket]) if bucket else "0"
    # A constant is no GROUP BY term (PostgreSQL refuses one; SQLite reads an integer as a position).
    terms = ([GROUPS[by]] if by != "all" else []) + ([b] if bucket else [])
    group_by = f"GROUP BY {', '.join(terms)}" if terms else ""
    sql = (
        f"SELECT {GROUPS[by]} AS g, {b} AS b, {_AGG} FROM {store.table} "
        f"WHERE ts >= ? {group_by} ORDER BY 2, 1"
    )
    rows = await store.query(sql, (since_ts,))
    out = []
    for r in rows:
        d: dict[str, Any] = {by: r[0]}
        if bucket:
            d["bucket"] = int(r[1])
        d.update({k: _num(v) for k, v in zip(_AGG_NAMES, r[2:], strict=True)})
        d["tokens"] = d["prompt_tokens"] + d["completion_tokens"]
        d["savings_usd"] = round(d["baseline_cost_usd"] - d["cost_usd"], 10)
        out.append(d)
    return out


def savings_row(label: str, d: dict[str, Any]) -> dict[str, Any]:
    tokens = d["tokens"]
    base, cost = d["baseline_cost_usd"], d["cost_usd"]
    return {
        "task": label,
        "requests": d["requests"],
        "tokens": tokens,
        "baseline_cost_usd": round(base, 10),
        "cost_usd": round(cost, 10),
        "baseline_per_1k": round(base / tokens * 1000, 10) if tokens else 0.0,
        "cost_per_1k": round(cost / tokens * 1000, 10) if tokens else 0.0,
        "saving_pct": round((1 - cost / base) * 100, 4) if base > 0 else 0.0,
    }


async def task_savings(
    store: UsageStore, since_s: float = 7 * 86400, now: float | None = None
) -> list[dict[str, Any]]:
    """The seed's table from recorded traffic: per task type, what the baseline (premium-only) model
    would have cost per 1K tokens, what tierroute paid, and the saving; last row is the weighted total."""
    rows = await usage_summary(store, "task", None, since_s, now)
    out = [savings_row(r["task"], r) for r in rows]
    if rows:
        total = {k: sum(r[k] for r in rows) for k in ("tokens", "requests", "baseline_cost_usd", "cost_usd")}
        out.append(savings_row("TOTAL (weighted)", total))
    return out


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an already sorted list."""
    if not sorted_values:
        return 0.0
    k = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[k]


async def latency_by(
    store: UsageStore, by: str = "model", since_s: float = 7 * 86400, now: float | None = None
) -> list[dict[str, Any]]:
    """p50/p95 latency (and TTFT where streamed) of answered, uncached requests per group."""
    if by not in GROUPS:
        raise ReportError(f"by={by!r} is not a grouping: use one of {', '.join(GROUPS)}", "by")
    since_ts = (now or time.time()) - since_s
    rows = await store.query(
        f"SELECT {GROUPS[by]}, latency_ms, ttft_ms FROM {store.table} "
        "WHERE ts >= ? AND status < 400 AND SUBSTR(cache, 1, 3) <> 'hit' ORDER BY 1, 2",
        (since_ts,),
    )
    groups: dict[str, tuple[list[float], list[float]]] = {}
    for g, lat, ttft in rows:
        lats, ttfts = groups.setdefault(g, ([], []))
        lats.append(float(lat))
        if ttft is not None:
            ttfts.append(float(ttft))
    out = []
    for g, (lats, ttfts) in groups.items():
        ttfts.sort()
        out.append({
            by: g, "n": len(lats),
            "p50_ms": percentile(lats, 50), "p95_ms": percentile(lats, 95),
            "ttft_p50_ms": percentile(ttfts, 50) if ttfts else None,
            "ttft_p95_ms": percentile(ttfts, 95) if ttfts else None,
        })  # fmt: skip
    return out


async def dashboard_data(
    store: UsageStore, since_s: float, bucket: str, now: float | None = None
) -> dict[str, Any]:
    now = now or time.time()
    cache = await usage_summary(store, "cache", None, since_s, now)
    total = sum(r["requests"] for r in cache)
    hits = {r["cache"]: r["requests"] for r in cache}
    return {
        "since_s": since_s,
        "bucket": bucket,
        "spend_by_provider": await usage_summary(store, "provider", bucket, since_s, now),
        "spend_by_model": await usage_summary(store, "model", bucket, since_s, now),
        "over_time": await usage_summary(store, "all", bucket, since_s, now),
        "by_model": await usage_summary(store, "model", None, since_s, now),
        "task_savings": await task_savings(store, since_s, now),
        "latency": await latency_by(store, "model", since_s, now),
        "cache": {
            "requests": total,
            "by_outcome": hits,
            "hit_rate": (sum(v for k, v in hits.items() if k.startswith("hit")) / total) if total else 0.0,
        },
    }
