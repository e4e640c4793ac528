"""The production stack as far as it can be checked without a Docker engine: the compose file and
Prometheus config parse and wire the services together, and every Grafana query names a metric
the gateway's /metrics really serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from usage_helpers import full_event

from tierroute.usage import default_metrics, metrics_handler

ROOT = Path(__file__).resolve().parents[2]
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",)}  # fmt: skip


def test_compose_wires_the_stack() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]
    assert set(svc) == {"gateway", "redis", "postgres", "prometheus", "grafana"}
    assert "4000:4000" in svc["gateway"]["ports"]
    env = svc["gateway"]["environment"]
    assert (
        env["TIERROUTE_DATABASE_URL"].startswith("postgresql://")
        and "@postgres:5432/" in env["TIERROUTE_DATABASE_URL"]
    )
    assert env["TIERROUTE_REDIS_URL"] == "redis://redis:6379/0"
    assert set(svc["gateway"]["depends_on"]) == {"redis", "postgres"}
    for name, vol in [(v.split(":")[0], v) for s in svc.values() for v in s.get("volumes", [])]:
        if name.startswith("./"):
            assert (ROOT / name).exists(), vol
        else:
            assert name in compose["volumes"], vol
    assert (ROOT / "Dockerfile").read_text().count("EXPOSE 4000") == 1


def test_prometheus_scrapes_the_gateway() -> None:
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    (job,) = prom["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["gateway:4000"]
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"


async def test_every_dashboard_query_names_an_exported_metric() -> None:
    # Scrape the real handler (the registry the gateway serves) after one event has gone through.
    default_metrics.observe([full_event()])
    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    async with TestClient(TestServer(app)) as client:
        text = await (await client.get("/metrics")).text()
    exported = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    # Labelled series that no event has touched yet still have a family: count their names too.
    for fam in default_metrics.registry.collect():
        exported |= {fam.name + suf for suf in SUFFIXES.get(fam.type, ("",))}

    dash = json.loads((ROOT / "deploy/grafana/dashboards/tierroute.json").read_text())
    assert dash["uid"] and dash["panels"]
    used = set()
    for panel in dash["panels"]:
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            expr = t["expr"]
            assert expr.count("(") == expr.count(")"), expr
            names = set(re.findall(r"\btierroute_[a-z_]+\b", expr))
            assert names, expr
            missing = names - exported
            assert not missing, f"panel {panel['title']!r} queries {missing}, which /metrics does not export"
            used |= names
    # The dashboard covers what the issue asks for.
    for needed in ("tierroute_cost_usd_total", "tierroute_savings_usd_total", "tierroute_request_latency_seconds_bucket",
                   "tierroute_cache_lookups_total", "tierroute_fallback_requests_total", "tierroute_quota_rejections_total",
                   "tierroute_tokens_total", "tierroute_ttft_seconds_bucket", "tierroute_escalations_total"):  # fmt: skip
        assert needed in used, needed


def test_compose_env_reaches_the_gateway_config() -> None:
    # A variable compose sets that config/tierroute.yaml never reads would leave the stack on SQLite
    # and in-process state while looking configured.
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    shipped = (ROOT / "config" / "tierroute.yaml").read_text()
    for var in compose["services"]["gateway"]["environment"]:
        assert "${" + var in shipped, (
            f"docker-compose.yml sets {var} but config/tierroute.yaml never reads it"
        )


def test_image_command_exists() -> None:
    from click import Context

    from tierroute.cli import main

    (cmd,) = re.findall(r"^CMD (\[.*\])$", (ROOT / "Dockerfile").read_text(), re.M)
    argv = json.loads(cmd)
    assert argv[0] == "tierroute"
    serve = main.get_command(Context(main), argv[1])
    assert serve is not None
    assert "--config" in {o for p in serve.params for o in p.opts}
