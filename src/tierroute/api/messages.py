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
from tierroute.api.exchange import run_exchange
from tierroute.errors import TierrouteError
from tierroute.types import ChatResponse

log = logging.getLogger("tierroute")


def _error(e: TierrouteError, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=error_body(e), status=error_status(e), content_type="application/json",
                        headers={**(headers or {}), **e.headers()})


async def messages(request: web.Request) -> web.StreamResponse:
    headers, req, result = await run_exchange(request, decode_messages_request, "messages")
    if isinstance(result, TierrouteError):
        return _error(result, headers)
    assert req is not None  # an answer implies a decoded request
    if isinstance(result, ChatResponse):
        return web.Response(body=encode_message(result, req.model), headers=headers,
                            content_type="application/json")
    resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        async for event in stream_events(result.__aiter__(), req.model):
            await resp.write(event)
    except ConnectionResetError:
        log.info("client left stream %s", headers["X-Request-Id"])
    finally:
        await result.finish()
    return resp
