"""``/metrics`` serves what the flusher counted from recorded events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from usage_helpers import priced_traffic

from tierroute.usage import UsageConfig, UsageMetrics, build_recorder, make_metrics_handler


async def test_metrics_from_recorded_traffic(tmp_path: Path, settings: Any) -> None:
    m = UsageMetrics()
    rec = build_recorder(UsageConfig(sqlite_path=str(tmp_path / "m.db"), spill_dir=str(tmp_path / "s")), m)
    await rec.start()
    for e in priced_traffic(settings.catalog):
        rec.record(e)
    # record() itself must not touch the metrics (they are the flusher's job)
    assert m.registry.get_sample_value("tierroute_usage_written_total") == 0
    await rec.flush()
    app = web.Application()
    app.router.add_get("/metrics", make_metrics_handler(m))
    async with TestClient(TestServer(app)) as client:
        r = await client.get("/metrics")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        text = await r.text()
    await rec.close()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip

    def total(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in samples.items()
                   if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))  # fmt: skip

    assert total("tierroute_requests_total") == 6
    assert total("tierroute_requests_total", status="QuotaExhausted") == 1
    assert total("tierroute_quota_rejections_total", key="k1", task="reasoning") == 1
    assert total("tierroute_tokens_total", direction="prompt", model="coder") == 3000
    assert total("tierroute_cost_usd_total", model="coder") == pytest.approx(0.0015)
    assert total("tierroute_baseline_cost_usd_total") == pytest.approx(0.3825)
    assert total("tierroute_savings_usd_total") == pytest.approx(0.3825 - 0.002)
    assert total("tierroute_cache_lookups_total", cache="hit-exact") == 1
    assert total("tierroute_fallbacks_total", key="k2") == 1
    assert total("tierroute_escalations_total", model="freebie") == 1
    assert total("tierroute_request_latency_seconds_count", model="coder") == 2
    assert total("tierroute_request_latency_seconds_bucket", model="coder", le="0.1") == 1
    assert total("tierroute_ttft_seconds_count", model="flash") == 1
    assert total("tierroute_usage_written_total") == 6
    assert total("tierroute_usage_store_up") == 1


async def test_key_label_can_be_turned_off(tmp_path: Path, settings: Any) -> None:
    m = UsageMetrics(by_key=False)
    rec = build_recorder(UsageConfig(enabled=False, spill_dir=str(tmp_path / "s")), m)
    await rec.start()
    for e in priced_traffic(settings.catalog):
        rec.record(e)
    await rec.close()
    keys = {s.labels.get("key") for f in m.registry.collect() for s in f.samples if "key" in s.labels}
    assert keys == {""}
