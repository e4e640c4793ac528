"""POST /v1/messages: Anthropic's Messages dialect in and out, so Claude-based agents can point
their Anthropic base URL at tierroute. Translation lives in ``anthropic_inbound``; the request
goes through the same ``Exchange`` as an OpenAI one."""

from __future__ import annotations

import logging

from aiohttp import web

from tierroute.api.anthropic_inbound import (
    decode_messages_request,
    encode_message,
    error_body,
    error_status,
    stream_events,
)
from tierroute.api.auth import authenticate
from tierroute.api.errors import read_body
from tierroute.api.exchange import Exchange
from tierroute.api.keys import GATEWAY
from tierroute.errors import TierrouteError
from tierroute.types import ChatResponse

log = logging.getLogger("tierroute")


def _error(e: TierrouteError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=error_body(e), status=error_status(e), content_type="application/json",
                        headers={**(headers or {}), **e.headers()})


async def messages(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]
    try:
        caller = authenticate(request, gw)
        req = decode_messages_request(await read_body(request))
        ex = Exchange(gw, request.headers, req, "messages", caller)
        result = await ex.run()
    except TierrouteError as e:
        return _error(e)
    if isinstance(result, ChatResponse):
        return web.Response(body=encode_message(result, req.model), headers=ex.headers,
                            content_type="application/json")
    resp = web.StreamResponse(headers={**ex.headers, "Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        async for event in stream_events(result.__aiter__(), req.model):
            await resp.write(event)
    except ConnectionResetError:
        log.info("client left stream %s", ex.request_id)
    finally:
        await result.finish()
    return resp
