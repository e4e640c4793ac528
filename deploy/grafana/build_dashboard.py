"""Writes deploy/grafana/dashboards/tierroute.json. Edit the panels here and re-run; the JSON is
checked in so Grafana provisions it without running anything."""

from __future__ import annotations

import json
from pathlib import Path

R = "$__rate_interval"
PANELS: list[tuple[str, str, list[tuple[str, str]], str]] = [
    # (title, type, [(expr, legend)], unit)
    ("Spend by provider (USD/hour)", "timeseries",
     [(f"sum by (provider) (rate(tierroute_cost_usd_total[{R}])) * 3600", "{{provider}}")], "currencyUSD"),
    ("Spend by model (USD/hour)", "timeseries",
     [(f"sum by (model) (rate(tierroute_cost_usd_total[{R}])) * 3600", "{{model}}")], "currencyUSD"),
    ("Actual spend vs premium-only baseline (USD/hour)", "timeseries",
     [(f"sum(rate(tierroute_baseline_cost_usd_total[{R}])) * 3600", "premium-only baseline"),
      (f"sum(rate(tierroute_cost_usd_total[{R}])) * 3600", "tierroute actual")], "currencyUSD"),
    ("Saved in range (USD)", "stat",
     [("sum(increase(tierroute_savings_usd_total[$__range]))", "saved")], "currencyUSD"),
    ("Cost per task type in range (USD)", "bargauge",
     [("sum by (task) (increase(tierroute_cost_usd_total[$__range]))", "{{task}} actual"),
      ("sum by (task) (increase(tierroute_baseline_cost_usd_total[$__range]))", "{{task}} premium-only")],
     "currencyUSD"),
    ("Requests per second by model", "timeseries",
     [(f"sum by (model) (rate(tierroute_requests_total[{R}]))", "{{model}}")], "reqps"),
    ("Tokens per second by provider", "timeseries",
     [(f"sum by (provider, direction) (rate(tierroute_tokens_total[{R}]))", "{{provider}} {{direction}}")],
     "short"),
    ("Latency p50 / p95 by model", "timeseries",
     [(f"histogram_quantile(0.5, sum by (le, model) (rate(tierroute_request_latency_seconds_bucket[{R}])))",
       "p50 {{model}}"),
      (f"histogram_quantile(0.95, sum by (le, model) (rate(tierroute_request_latency_seconds_bucket[{R}])))",
       "p95 {{model}}")], "s"),
    ("Time to first token p95 by model", "timeseries",
     [(f"histogram_quantile(0.95, sum by (le, model) (rate(tierroute_ttft_seconds_bucket[{R}])))",
       "{{model}}")], "s"),
    ("Cache hit rate", "timeseries",
     [(f'sum(rate(tierroute_cache_lookups_total{{cache=~"hit.*"}}[{R}])) / '
       f"sum(rate(tierroute_cache_lookups_total[{R}]))", "hit rate")], "percentunit"),
    ("Cache outcomes by type", "timeseries",
     [(f"sum by (cache) (rate(tierroute_cache_lookups_total[{R}]))", "{{cache}}")], "reqps"),
    ("Fallback frequency by model", "timeseries",
     [(f"sum by (model) (rate(tierroute_fallback_requests_total[{R}])) / "
       f"sum by (model) (rate(tierroute_requests_total[{R}]))", "{{model}}")], "percentunit"),
    ("Escalations per second", "timeseries",
     [(f"sum by (model, task) (rate(tierroute_escalations_total[{R}]))", "{{model}} {{task}}")], "reqps"),
    ("Quota rejections by key", "timeseries",
     [(f"sum by (key) (rate(tierroute_quota_rejections_total[{R}]))", "{{key}}")], "reqps"),
    ("Errors by class", "timeseries",
     [(f'sum by (status) (rate(tierroute_requests_total{{status!="ok"}}[{R}]))', "{{status}}")], "reqps"),
    ("Upstream attempts by deployment and outcome", "timeseries",
     [(f"sum by (deployment, outcome) (rate(tierroute_attempts_total[{R}]))", "{{deployment}} {{outcome}}")],
     "reqps"),
    ("Usage recorder: queue, spill, drops", "timeseries",
     [("tierroute_usage_queue_depth", "queue depth"),
      ("tierroute_usage_spill_pending", "in spill files"),
      ("increase(tierroute_usage_dropped_total[$__range])", "dropped"),
      ("tierroute_usage_store_up", "store up")], "short"),
]  # fmt: skip


def build() -> dict:
    panels = []
    for i, (title, kind, targets, unit) in enumerate(PANELS):
        panels.append({
            "id": i + 1,
            "title": title,
            "type": kind,
            "datasource": {"type": "prometheus", "uid": "tierroute-prometheus"},
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                {"refId": chr(65 + j), "expr": expr, "legendFormat": legend,
                 "datasource": {"type": "prometheus", "uid": "tierroute-prometheus"}}
                for j, (expr, legend) in enumerate(targets)
            ],
        })  # fmt: skip
    return {
        "uid": "tierroute-usage",
        "title": "tierroute: usage, cost and savings",
        "tags": ["tierroute"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).parent / "dashboards" / "tierroute.json"
    out.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {out}")
