"""GET /v1/models, GET /v1/models/{id} and POST /v1/embeddings."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from tierroute.api.admission import admit
from tierroute.api.auth import authenticate
from tierroute.api.errors import error_response, invalid_body, read_body
from tierroute.api.exchange import new_request_id
from tierroute.api.inbound import parse_object
from tierroute.api.keys import GATEWAY
from tierroute.catalog import TIERS, ModelInfo
from tierroute.errors import InvalidRequest, ModelNotFound, TierrouteError
from tierroute.execution.run import Done, Failed
from tierroute.types import Attempt, EmbeddingRequest, EmbeddingResponse, Plan, UsageEvent

if TYPE_CHECKING:
    from tierroute.gateway import Gateway
    from tierroute.keys import KeyInfo

_encode = msgspec.json.encode
_STARTED = int(time.time())


def _entry(m: ModelInfo, offline: bool, model_id: str | None = None) -> dict:
    """The OpenAI model object plus tierroute's fields, as /v1/models lists a catalog model."""
    return {"id": model_id or m.name, "object": "model", "created": _STARTED,
            "owned_by": "tierroute-simulator" if offline else m.provider,
            "tier": m.tier, "kind": m.kind, "aliases": m.aliases, "context_window": m.context_window,
            "pricing": {"input_per_m": m.input_per_m, "output_per_m": m.output_per_m},
            "capabilities": [c for c, on in (("vision", m.vision), ("tools", m.tools),
                                             ("json", m.json_mode)) if on],
            "simulated": offline}


async def list_models(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        authenticate(request, gw)
    except TierrouteError as e:
        return error_response(e)
    offline = gw.settings.offline
    data = []
    for m in gw.catalog.models.values():
        if not m.enabled:
            continue
        entry = _entry(m, offline)
        data.append(entry)
        for alias in m.aliases:
            data.append({"id": alias, "object": "model", "created": _STARTED, "owned_by": entry["owned_by"],
                         "alias_of": m.name, "simulated": offline})
    for name in (*TIERS, "auto"):
        data.append({"id": name, "object": "model", "created": _STARTED, "owned_by": "tierroute",
                     "route": "auto" if name == "auto" else "tier", "simulated": offline})
    return web.Response(body=_encode({"object": "list", "data": data}), content_type="application/json")


async def get_model(request: web.Request) -> web.Response:
    """GET /v1/models/{id}: any id a request may name (catalog name, alias, vendor id, dated or
    -latest form, a family's id, a tier, auto), so a client that checks its model first (as the
    OpenAI and Anthropic SDKs' retrieve calls do) sees what a request would get. Unknown: 404."""
    gw = request.app[GATEWAY]
    model_id = request.match_info.get("id") or request.match_info.get("model", "")
    try:
        authenticate(request, gw)
        body = _describe(gw, model_id)
    except TierrouteError as e:
        return error_response(e)
    return web.Response(body=_encode(body), content_type="application/json")


def _describe(gw: Gateway, model_id: str) -> dict:
    offline = gw.settings.offline
    if model_id in (*TIERS, "auto"):
        return {"id": model_id, "object": "model", "created": _STARTED, "owned_by": "tierroute",
                "route": "auto" if model_id == "auto" else "tier", "simulated": offline}
    catalog = gw.catalog
    name = catalog.resolve(model_id)
    if name is not None and catalog.models[name].enabled:
        entry = _entry(catalog.models[name], offline, model_id)
        if model_id != name:
            entry["alias_of"] = name
        return entry
    family = catalog.family(model_id) if name is None else None
    if family is not None and family.info.enabled:
        entry = _entry(family.info, offline, model_id)
        entry.update(aliases=[], family=family.family.name, priced_as=family.info.name, route=family.route)
        return entry
    raise ModelNotFound(catalog.not_found_message(model_id), param="model")


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings under the same key controls (model list, budget) as chat, with a usage
    record (endpoint "embeddings", cost from the catalog) for every request, refusals included."""
    gw = request.app[GATEWAY]
    t0, ts, request_id = time.perf_counter(), time.time(), new_request_id()
    headers = {"X-Request-Id": request_id}
    caller = req = None
    try:
        caller = authenticate(request, gw)
        try:
            req = msgspec.convert(parse_object(await read_body(request)), EmbeddingRequest)
        except msgspec.ValidationError as e:
            raise invalid_body(e) from None
        admit(gw, caller, req.model)
        done = await _embed(gw, req)
    except TierrouteError as e:
        if req is not None:
            _record(gw, caller, req.model, None, e, t0, ts, request_id)
        return error_response(e, headers)
    u = done.value.usage
    _record(gw, caller, req.model, done, None, t0, ts, request_id, u.prompt_tokens)
    headers.update({"X-Tierroute-Model": done.deployment.model, "X-Tierroute-Provider": done.deployment.provider})
    return web.Response(body=_encode(done.value), content_type="application/json", headers=headers)


async def _embed(gw: Gateway, req: EmbeddingRequest) -> Done[EmbeddingResponse]:
    model = gw.catalog.get(req.model)
    if model.kind != "embedding":
        raise InvalidRequest(f"'{model.name}' is a chat model; use an embedding model such as "
                             f"{[m.name for m in gw.catalog.enabled('embedding')]}", param="model")
    plan = Plan(requested_model=req.model, route=f"model:{model.name}",
                attempts=[Attempt(deployment=d, reason="embedding model") for d in model.deployments])
    texts = [req.input] if isinstance(req.input, str) else req.input
    if not texts or not (all(isinstance(t, str) for t in texts) or all(isinstance(t, int) for t in texts)
                         or all(isinstance(t, list) and all(isinstance(i, int) for i in t) for t in texts)):
        raise InvalidRequest("'input' must be a non-empty string, a list of strings, or token ids "
                             "(a list of integers or of integer lists).", param="input")
    est = sum(len(t) // 4 + 1 if isinstance(t, str) else 1 for t in texts)
    deadline = time.monotonic() + gw.settings.gateway.server.request_timeout_s
    try:
        done = await gw.executor.embed(plan, req, deadline, est)
    except Failed as f:
        raise f.error from None
    await gw.executor.finish(done, done.value.usage.total_tokens)
    return done


def _record(gw: Gateway, caller: KeyInfo | None, requested: str, done: Done[EmbeddingResponse] | None,
            error: TierrouteError | None, t0: float, ts: float, request_id: str, tokens: int = 0) -> None:
    """The usage record, and the key's spend. Embeddings have no premium alternative: the baseline is
    the model itself, so no saving is claimed."""
    model = gw.catalog.models[done.deployment.model] if done is not None else None
    cost = model.cost(tokens, 0) if model is not None else 0.0
    if caller is not None and cost:
        gw.keys.add_spend(caller.id, caller.budget_period, cost)
    gw.usage.record(UsageEvent(
        request_id=request_id, ts=ts, key_id=caller.id if caller else None, endpoint="embeddings",
        requested_model=requested, model=model.name if model else None,
        provider=done.deployment.provider if done else None, deployment=done.deployment.id if done else None,
        route=f"model:{model.name}" if model else None, task=None, complexity=None, prompt_tokens=tokens,
        cost_usd=cost, baseline_model=model.name if model else None, baseline_cost_usd=cost,
        latency_ms=(time.perf_counter() - t0) * 1000, cache="off", attempts=list(done.attempts) if done else [],
        fallbacks=sum(1 for a in done.attempts if a.outcome != "ok") if done else 0,
        status=error.status if error else 200, error_class=type(error).__name__ if error else None))
