"""GET /v1/models, GET /v1/models/{id} and POST /v1/embeddings."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from tierroute.api.auth import authenticate
from tierroute.api.errors import error_response, invalid_body, read_body
from tierroute.api.keys import GATEWAY
from tierroute.catalog import TIERS, ModelInfo
from tierroute.errors import InvalidRequest, ModelNotFound, TierrouteError
from tierroute.execution.run import Failed
from tierroute.types import Attempt, EmbeddingRequest, Plan

if TYPE_CHECKING:
    from tierroute.gateway import Gateway

_decode_embed = msgspec.json.Decoder(EmbeddingRequest).decode
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
    gw = request.app[GATEWAY]
    try:
        authenticate(request, gw)
        try:
            req = _decode_embed(await read_body(request))
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise invalid_body(e) from None
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
    except TierrouteError as e:
        return error_response(e)
    return web.Response(body=_encode(done.value), content_type="application/json",
                        headers={"X-Tierroute-Model": model.name, "X-Tierroute-Provider": done.deployment.provider})
