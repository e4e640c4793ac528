"""POST /v1/chat/completions: OpenAI's chat dialect in, JSON or SSE out."""

from __future__ import annotations

import logging

import msgspec
from aiohttp import web

from tierroute.api.errors import error_response
from tierroute.api.exchange import run_exchange
from tierroute.api.inbound import decode_chat
from tierroute.errors import TierrouteError
from tierroute.types import ChatResponse

log = logging.getLogger("tierroute")
_encode = msgspec.json.encode
_UNSET = msgspec.UNSET
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def chat_completions(request: web.Request) -> web.StreamResponse:
    headers, _, result = await run_exchange(request, decode_chat, "chat", "openai-chat")
    if isinstance(result, TierrouteError):
        return error_response(result, headers)
    if isinstance(result, ChatResponse):
        return web.Response(body=_encode(result), headers=headers, content_type="application/json")
    resp = web.StreamResponse(headers={**headers, **SSE_HEADERS})
    await resp.prepare(request)
    try:
        async for chunk in result:
            # a forwarded stream's chunks go out as the vendor wrote them
            await resp.write(chunk.raw if chunk.raw is not _UNSET else b"data: " + _encode(chunk) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
    except TierrouteError as e:
        # Past the first byte there is no falling back: end with an error event (OpenAI SDKs raise on
        # it), never with a clean [DONE] that would pass a cut answer off as complete.
        log.warning("stream %s broke after its first chunk: %s", headers["X-Request-Id"], e.message)
        await resp.write(b"data: " + _encode(e.body()) + b"\n\n")
    except ConnectionResetError:
        log.info("client left stream %s", headers["X-Request-Id"])
    finally:
        await result.finish()
    return resp
