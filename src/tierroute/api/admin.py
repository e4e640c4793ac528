"""Admin calls of the gateway's own: cache purge."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from aiohttp import web

from tierroute.api.auth import require_key
from tierroute.api.errors import error_response, invalid_body, read_body
from tierroute.api.keys import GATEWAY
from tierroute.errors import InvalidRequest, TierrouteError

if TYPE_CHECKING:
    from tierroute.gateway import Gateway


class PurgeRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    key: str | None = None  # tenant: a virtual key id, or "master"
    model: str | None = None
    all: bool = False


async def purge_cache(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    try:
        require_key(request, gw.master_key)
        try:
            body = msgspec.json.decode(await read_body(request) or b"{}", type=PurgeRequest)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            raise invalid_body(e) from None
        if not (body.all or body.key or body.model):
            raise InvalidRequest("Say what to purge: {\"key\": ...}, {\"model\": ...} or {\"all\": true}.",
                                 param="all")
        if gw.cache is None:
            raise InvalidRequest("The cache is disabled in this gateway's config (cache.enabled).", param=None)
        model = gw.catalog.resolve(body.model) or body.model if body.model else None
        removed = await gw.cache.purge(tenant=body.key, model=model)
    except TierrouteError as e:
        return error_response(e)
    return web.json_response({"purged": removed})


def admin_routes(gw: Gateway) -> list[web.RouteDef]:
    return [web.post("/admin/cache/purge", purge_cache)]
