"""POST /v1/messages (and /v1/messages/count_tokens): Anthropic's Messages dialect in and out, so
Claude-based agents can point their Anthropic base URL at tierroute. The request side is
``anthropic_request``, the answer side ``anthropic_inbound``; the request goes through the same
``Exchange`` as an OpenAI one, and to an Anthropic model it is forwarded as sent."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from tierroute.api.anthropic_inbound import encode_message, error_response, stream_events
from tierroute.api.anthropic_request import decode_messages
from tierroute.api.auth import authenticate
from tierroute.api.errors import read_body
from tierroute.api.exchange import run_exchange
from tierroute.api.inbound import attach, parse_object
from tierroute.api.keys import GATEWAY
from tierroute.errors import ProviderError, TierrouteError
from tierroute.providers.count_tokens import count_tokens as upstream_count
from tierroute.routing import estimate_prompt_tokens
from tierroute.types import ChatRequest, ChatResponse

log = logging.getLogger("tierroute")
SESSION_HEADER = "X-Claude-Code-Session-Id"


def decode(doc: dict[str, Any], request: web.Request) -> tuple[ChatRequest, list[str]]:
    return decode_messages(doc, request.headers.get(SESSION_HEADER))


async def messages(request: web.Request) -> web.StreamResponse:
    headers, req, result = await run_exchange(request, decode, "messages", "anthropic")
    if isinstance(result, TierrouteError):
        return error_response(result, headers)
    assert req is not None  # an answer implies a decoded request
    if isinstance(result, ChatResponse):
        return web.Response(body=encode_message(result), headers=headers, content_type="application/json")
    resp = web.StreamResponse(headers={**headers, "Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    await resp.prepare(request)
    try:
        async for event in stream_events(result.__aiter__()):
            await resp.write(event)
    except ConnectionResetError:
        log.info("client left stream %s", headers["X-Request-Id"])
    finally:
        await result.finish()
    return resp


async def count_tokens(request: web.Request) -> web.Response:
    """Anthropic's token count. For a model an Anthropic deployment serves, the vendor counts (the
    request forwarded as sent); otherwise, and when that vendor call fails, tierroute estimates it
    locally with the router's estimator (about 4 characters a token over text, tool definitions
    and images at a fixed size), and says so in ``X-Tierroute-Token-Count``."""
    gw = request.app[GATEWAY]
    try:
        authenticate(request, gw)
        doc = parse_object(await read_body(request))
        # count_tokens takes the Messages body without max_tokens
        req, untranslatable = decode_messages({"max_tokens": 1, **doc}, request.headers.get(SESSION_HEADER))
        attach(req, "anthropic", doc, request, untranslatable)
        name = gw.catalog.resolve(req.model)
        deps = [d for d in gw.catalog.models[name].deployments if d.dialect == "anthropic"] if name else []
        t0 = time.perf_counter()
        for dep in deps:
            try:
                body = await upstream_count(req, dep)
            except ProviderError as e:
                log.info("count_tokens on %s failed (%s); estimating locally", dep.id, e.message)
                continue
            return web.Response(body=body, content_type="application/json",
                                headers={"X-Tierroute-Token-Count": f"vendor:{dep.id}",
                                         "X-Tierroute-Latency-Ms": f"{(time.perf_counter() - t0) * 1000:.1f}"})
    except TierrouteError as e:
        return error_response(e)
    n = estimate_prompt_tokens(req)
    return web.json_response({"input_tokens": n}, headers={"X-Tierroute-Token-Count": "estimate"})
