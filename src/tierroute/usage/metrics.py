"""Prometheus metrics for usage, fed by the recorder's background flusher (never by ``record()``).

Quota rejections always produce a usage event (status 429, error_class ``QuotaExhausted``), so
they are counted from events like everything else rather than through a second API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from tierroute.types import UsageEvent

_LAT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
_TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)
_L = ("model", "provider", "task", "key")
_LH = ("model", "provider", "task")


class UsageMetrics:
    def __init__(self, registry: CollectorRegistry | None = None, by_key: bool = True) -> None:
        self.registry = registry or CollectorRegistry()
        self.by_key = by_key
        r = self.registry
        self.requests = Counter("tierroute_requests", "Requests finished", (*_L, "status"), registry=r)
        self.tokens = Counter("tierroute_tokens", "Tokens processed", (*_L, "direction"), registry=r)
        self.cost = Counter("tierroute_cost_usd", "Spend in USD, priced from the catalog", _L, registry=r)
        self.baseline = Counter(
            "tierroute_baseline_cost_usd", "What the same requests would have cost on the baseline model", _L,
            registry=r,
        )  # fmt: skip
        self.savings = Counter(
            "tierroute_savings_usd", "Baseline cost minus actual cost (routing plus cache)", _L, registry=r
        )
        self.cache_saved = Counter("tierroute_cache_saved_usd", "Spend avoided by cache hits", _L, registry=r)
        self.provider_cache_saved = Counter(
            "tierroute_provider_cache_saved_usd",
            "Spend the vendors' prompt caches saved (the same tokens at the full input price, minus the cost)",
            _L, registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "tierroute_request_latency_seconds",
            "End-to-end request latency",
            _LH,
            buckets=_LAT_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "tierroute_ttft_seconds", "Time to first token (streams)", _LH, buckets=_TTFT_BUCKETS, registry=r
        )
        self.cache = Counter(
            "tierroute_cache_lookups", "Cache outcome per request", ("cache", "task"), registry=r
        )
        self.fallbacks = Counter("tierroute_fallbacks", "Fallbacks to another deployment", _L, registry=r)
        self.fallback_requests = Counter(
            "tierroute_fallback_requests", "Requests that needed at least one fallback", _L, registry=r
        )
        self.escalations = Counter(
            "tierroute_escalations", "Cascade escalations to a stronger model", _L, registry=r
        )
        self.quota_rejections = Counter(
            "tierroute_quota_rejections", "Requests refused because a quota or budget was spent",
            ("requested_model", "task", "key"), registry=r,
        )  # fmt: skip
        self.attempt_outcomes = Counter(
            "tierroute_attempts",
            "Upstream attempts by deployment and outcome",
            ("deployment", "outcome"),
            registry=r,
        )
        # The recorder's own health.
        self.queue_depth = Gauge(
            "tierroute_usage_queue_depth", "Usage events waiting to be written", registry=r
        )
        self.written = Counter("tierroute_usage_written", "Usage events written to the store", registry=r)
        self.spilled = Counter(
            "tierroute_usage_spilled", "Usage events written to the spill file", ("reason",), registry=r
        )
        self.replayed = Counter(
            "tierroute_usage_replayed", "Spilled usage events replayed into the store", registry=r
        )
        self.dropped = Counter(
            "tierroute_usage_dropped", "Usage events lost (spill file unwritable or overflow)", registry=r
        )
        self.spill_pending = Gauge("tierroute_usage_spill_pending", "Usage events in spill files", registry=r)
        self.store_up = Gauge(
            "tierroute_usage_store_up", "1 if the last write to the usage store succeeded", registry=r
        )
        self.flush_seconds = Histogram(
            "tierroute_usage_flush_seconds", "Time to write one batch to the store",
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5), registry=r,
        )  # fmt: skip

    def observe(self, events: Iterable[UsageEvent]) -> None:
        """Count a batch. Counter increments are summed per label set first, so a batch of
        thousands costs one ``labels().inc()`` per distinct series instead of a dozen per event."""
        sums: dict[tuple[Any, tuple[str, ...]], float] = defaultdict(float)
        lat: dict[tuple[str, ...], list[float]] = defaultdict(list)
        ttft: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for e in events:
            task = e.task or "unknown"
            key = (e.key_id or "master") if self.by_key else ""
            lv = (e.model or "", e.provider or "", task, key)
            sums[(self.requests, (*lv, e.error_class or "ok"))] += 1
            if e.prompt_tokens:
                sums[(self.tokens, (*lv, "prompt"))] += e.prompt_tokens
            if e.completion_tokens:
                sums[(self.tokens, (*lv, "completion"))] += e.completion_tokens
            if e.cache_read_tokens:
                sums[(self.tokens, (*lv, "cache_read"))] += e.cache_read_tokens
            if e.cache_write_tokens:
                sums[(self.tokens, (*lv, "cache_write"))] += e.cache_write_tokens
            if e.nocache_cost_usd > e.cost_usd:
                sums[(self.provider_cache_saved, lv)] += e.nocache_cost_usd - e.cost_usd
            sums[(self.cost, lv)] += max(e.cost_usd, 0.0)
            sums[(self.baseline, lv)] += max(e.baseline_cost_usd, 0.0)
            sums[(self.savings, lv)] += max(e.baseline_cost_usd - e.cost_usd, 0.0)
            if e.saved_usd > 0:
                sums[(self.cache_saved, lv)] += e.saved_usd
            lat[lv[:3]].append(e.latency_ms / 1000.0)
            if e.ttft_ms is not None:
                ttft[lv[:3]].append(e.ttft_ms / 1000.0)
            sums[(self.cache, (e.cache, task))] += 1
            if e.fallbacks:
                sums[(self.fallbacks, lv)] += e.fallbacks
                sums[(self.fallback_requests, lv)] += 1
            if e.escalated:
                sums[(self.escalations, lv)] += 1
            if e.error_class == "QuotaExhausted":
                sums[(self.quota_rejections, (e.requested_model, task, key))] += 1
            for a in e.attempts:
                sums[(self.attempt_outcomes, (a.deployment, a.outcome))] += 1
        for (metric, labels), v in sums.items():
            metric.labels(*labels).inc(v)
        for hist, groups in ((self.latency, lat), (self.ttft, ttft)):
            for labels, values in groups.items():
                child = hist.labels(*labels)
                for v in values:
                    child.observe(v)


default_metrics = UsageMetrics()


def make_metrics_handler(metrics: UsageMetrics = default_metrics) -> web.RequestHandler:  # type: ignore[type-arg]
    async def handle(_request: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


metrics_handler = make_metrics_handler(default_metrics)
