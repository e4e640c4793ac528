"""One running gateway instance: the components the request path uses, wired from ``Settings``.

Start-up order matters only for the offline mode: the built-in simulator starts first, then every
deployment is pointed at it, then the stores connect. ``close()`` flushes usage records last so that
nothing recorded during shutdown is lost.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tierroute import __version__
from tierroute.cache import CacheConfig, ResponseCache, build_cache
from tierroute.catalog import Catalog
from tierroute.config import ConfigError, Settings
from tierroute.execution.run import Executor
from tierroute.keys import KeysConfig, KeyStore, period_start
from tierroute.limits import LimitsConfig, RateLimits, RateLimitsError, build_limits, load_rate_limits
from tierroute.providers import close_http, errmap
from tierroute.routing import Router, RoutingConfig, load_rules
from tierroute.usage import UsageConfig, UsageRecorder, build_recorder, metrics_handler, ui_routes
from tierroute.usage import admin_routes as usage_admin_routes
from tierroute.usage.reports import usage_summary
from tierroute.usage.responses_store import ResponseStore

log = logging.getLogger("tierroute")


def simulator_config(catalog: Catalog, path: str | None = None) -> dict[str, Any]:
    """The simulator's config for offline mode: the user's simulator YAML (if any), with each catalog
    model's real context window and vision support, so the offline demo refuses what the vendor would."""
    data: dict[str, Any] = yaml.safe_load(Path(path).read_text()) if path else {}
    models = data.setdefault("models", {}) or {}
    data["models"] = models
    for m in catalog.models.values():
        for d in m.deployments:
            entry = models.setdefault(d.upstream_model, {})
            entry.setdefault("context_window", m.context_window)
            entry.setdefault("vision", m.vision)
            entry.setdefault("max_output_tokens", max(1, m.max_output))
    return data


def _rate_limits(settings: Settings) -> RateLimits:
    path = settings.rate_limits_path
    try:
        rl = load_rate_limits(str(path))
    except RateLimitsError as e:  # its problem names the key path
        raise ConfigError(path, "", e.problem, e.fix) from None
    for dep_id in rl.deployments:
        provider, _, model = dep_id.partition("/")
        if provider not in settings.gateway.providers or model not in settings.catalog.models:
            raise ConfigError(path, f"deployments.{dep_id}", f"no deployment '{dep_id}' in the catalog",
                              "write provider/model with a provider of tierroute.yaml and a model of models.yaml,"
                              " e.g. gemini/gemini-2.0-flash")
    for prov in rl.providers:
        if prov not in settings.gateway.providers:
            raise ConfigError(path, f"providers.{prov}", f"unknown provider '{prov}'",
                              f"use one of {sorted(settings.gateway.providers)}")
    return rl


class Gateway:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.catalog = settings.catalog
        self.master_key = settings.gateway.server.master_key
        self.sim: Any = None
        self.limits_cfg = settings.section("limits", LimitsConfig)
        self.cache_cfg = settings.section("cache", CacheConfig)
        self.usage_cfg = settings.section("usage", UsageConfig)
        self.routing_cfg = settings.section("routing", RoutingConfig)
        self.rules = load_rules(settings.routing_rules_path)
        self.keys = KeyStore(settings.section("keys", KeysConfig).path)
        rate_limits = _rate_limits(settings)  # validated even when limits are off
        if settings.offline:
            # The quotas in rate_limits.yaml are the vendors' account limits; the simulator answering
            # in their place has none, and applying them would stall an agent after two turns.
            rate_limits = RateLimits(source=f"{rate_limits.source} (not applied to the simulator)")
        self.limits, self.health = (build_limits(self.limits_cfg, rate_limits) if self.limits_cfg.enabled
                                    else (None, None))
        self.router = Router(settings, self.rules, self.routing_cfg, health=self.health, limits=self.limits)
        self.executor = Executor(settings.gateway.retry, limits=self.limits, health=self.health)
        self.cache: ResponseCache | None = build_cache(self.cache_cfg) if self.cache_cfg.enabled else None
        # Built even when disabled: it then stores nothing but still feeds /metrics.
        self.usage: UsageRecorder = build_recorder(self.usage_cfg)
        self.responses = ResponseStore(self.usage.store, self.usage_cfg.responses_ttl_s)
        self.baseline = self.catalog.get(settings.gateway.baseline_model)
        errmap.remember(self.catalog.deployments())  # every key masked in upstream error text from the start

    async def start(self) -> None:
        if self.settings.offline:
            from tierroute.sim.config import config_from_dict
            from tierroute.sim.server import start_background

            path = self.settings.gateway.simulator.config
            self.sim = await start_background(config_from_dict(simulator_config(self.catalog, path), path or "catalog"))
            self.settings.point_at_simulator(self.sim.base_url)
        for component in (self.limits, self.usage):
            start = getattr(component, "start", None)
            if start is not None:
                await start()
        await self._seed_key_spend()

    async def _seed_key_spend(self) -> None:
        """Budgets start from what the usage store already recorded in the current period."""
        budgeted = [k for k in self.keys.list() if k.budget_usd is not None and k.revoked is None]
        if not budgeted or self.usage.store is None:
            return
        for period in {k.budget_period for k in budgeted}:
            rows = await usage_summary(self.usage.store, "key", None, period_start(period))
            spent = {r["key"]: r["cost_usd"] for r in rows}
            for k in budgeted:
                if k.budget_period == period:
                    self.keys.seed_spend(k.id, float(spent.get(k.id, 0.0)), period)

    def extra_routes(self) -> list[list[web.RouteDef]]:
        """Routes other packages serve (usage reports, metrics, dashboard, cache admin)."""
        from tierroute.api.admin import admin_routes

        mounts = [admin_routes(self)]
        headroom = self.limits.snapshot if self.limits else None
        mounts.append(usage_admin_routes(self.usage, headroom=headroom))
        mounts.append(ui_routes(self.usage, quota=headroom))
        mounts.append([web.get("/metrics", metrics_handler)])
        return mounts

    def banner(self, host: str, port: int) -> str:
        s = self.settings
        n = len(self.catalog.enabled())
        lines = [f"tierroute {__version__} listening on http://{host}:{port}/v1",
                 f"  config: {s.path} ({n} chat models; model may be a name, an alias, a tier or 'auto')"]
        if s.offline:
            lines.append("  OFFLINE MODE: no provider API key is set, so every model is answered by the built-in "
                         f"simulator at {self.sim.base_url if self.sim else '?'} (not a real LLM). "
                         "Put keys in .env to use the real vendors. The quotas of rate_limits.yaml apply to "
                         "the real vendors only.")
        else:
            provs = sorted({d.provider for m in self.catalog.enabled() for d in m.deployments})
            lines.append(f"  providers: {', '.join(provs)}")
        lines.append("  auth: master key required" if self.master_key
                     else "  auth: none (no TIERROUTE_MASTER_KEY; loopback only)")
        return "\n".join(lines)

    async def ready(self) -> dict[str, Any]:
        """Each store's reachability, for /health/readiness."""
        out: dict[str, Any] = {}
        for name, component in (("limits", self.limits), ("cache", self.cache), ("usage", self.usage)):
            if component is None:
                continue
            probe = getattr(component, "ready", None)
            out[name] = await probe() if probe is not None else True
        return out

    async def close(self) -> None:
        for component in (self.cache, self.limits):
            close = getattr(component, "close", None)
            if close is not None:
                try:
                    await close()
                except Exception:  # shutting down: log and keep closing the rest
                    log.exception("closing %s failed", type(component).__name__)
        await close_http()
        await self.responses.close()
        if self.sim is not None:
            await self.sim.close()
        await self.usage.close()
