"""Liveness (is the process up), readiness (are the stores reachable) and per-deployment health."""

from __future__ import annotations

import asyncio
import time

import msgspec
from aiohttp import web

from tierroute.api.keys import GATEWAY
from tierroute.errors import ProviderError
from tierroute.providers import get_adapter
from tierroute.types import CallInfo, ChatRequest, Deployment, Message

_encode = msgspec.json.encode


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(body=_encode(data), status=status, content_type="application/json")


async def liveness(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readiness(request: web.Request) -> web.Response:
    """Behind the master key (mounted with ``auth.guarded``), like ``health``."""
    gw = request.app[GATEWAY]
    stores = await gw.ready()
    ok = all(v is True or (isinstance(v, dict) and v.get("ok", True)) for v in stores.values())
    return _json({"status": "ready" if ok else "degraded", "stores": stores,
                  "simulator": gw.sim.base_url if gw.sim else None}, 200 if ok else 503)


async def _probe(dep: Deployment, model_kind: str) -> dict[str, object]:
    """One small real call: the cheapest request that proves the deployment answers."""
    if model_kind != "chat":
        return {"probe": "skipped (embedding model)"}
    req = ChatRequest(model=dep.upstream_model, messages=[Message(role="user", content="ping")], max_tokens=1)
    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(get_adapter(dep.dialect).send(req, dep, CallInfo()), timeout=min(dep.timeout_s, 15))
    except ProviderError as e:
        return {"probe": "failed", "error": type(e).__name__, "detail": e.message[:200]}
    except TimeoutError:
        return {"probe": "failed", "error": "Timeout"}
    return {"probe": "ok", "latency_ms": round((time.perf_counter() - t0) * 1000, 1)}


async def health(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    probe = request.query.get("probe", "").lower() in ("1", "true", "yes")
    deps = [(d, m.kind) for m in gw.catalog.models.values() if m.enabled for d in m.deployments]
    probes = await asyncio.gather(*(_probe(d, k) for d, k in deps)) if probe else [None] * len(deps)
    out = []
    for (dep, _), p in zip(deps, probes, strict=True):
        entry: dict[str, object] = {"deployment": dep.id, "model": dep.model, "provider": dep.provider}
        if gw.health is not None:
            entry.update(gw.health.state(dep.id))
        if gw.limits is not None:
            available, retry_after, why = gw.limits.headroom(dep.id)
            entry["quota"] = {"available": available, "retry_after_s": retry_after, "why": why}
        if p is not None:
            entry.update(p)
        out.append(entry)
    healthy = sum(1 for e in out if e.get("state", "closed") == "closed")
    return _json({"healthy": healthy, "unhealthy": len(out) - healthy, "deployments": out,
                  "simulated": gw.settings.offline})
