"""OpenAI's Responses API: ``POST /v1/responses`` (JSON or SSE), ``GET`` / ``DELETE
/v1/responses/{id}`` and ``GET /v1/responses/{id}/input_items``.

A Responses request routes, caches, limits and accounts like chat (the same ``Exchange``). To a
provider that serves the Responses API it is forwarded as sent; to any other it is translated
(``responses_request`` / ``responses_encode``). ``previous_response_id`` is expanded from tierroute's
own store before routing, so a conversation can move between vendors from one turn to the next;
every answer with ``store`` (OpenAI's default: true) is kept for ``usage.responses_ttl_s``, scoped
to the key that made it.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from aiohttp import web

from tierroute.api.auth import authenticate
from tierroute.api.chat import SSE_HEADERS
from tierroute.api.errors import error_response
from tierroute.api.exchange import run_exchange
from tierroute.api.keys import GATEWAY
from tierroute.api.responses_encode import encode_response, output_items, stream_events
from tierroute.api.responses_request import decode_responses
from tierroute.errors import InvalidRequest, ResponseNotFound, StoreUnavailable, TierrouteError
from tierroute.keys import KeyInfo
from tierroute.types import ChatRequest, ChatResponse

log = logging.getLogger("tierroute")
_decode = msgspec.json.decode


def _as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    return [{"type": "message", "role": "user", "content": value}] if isinstance(value, str) else list(value)


def _not_found(rid: str) -> ResponseNotFound:
    return ResponseNotFound(f"No response with id '{rid}' is stored for this key (or it has expired).", param="id")


async def _stored(request: web.Request, rid: str, caller: KeyInfo | None) -> dict[str, Any] | None:
    try:
        return await request.app[GATEWAY].responses.get(rid, caller.id if caller else None)
    except Exception as exc:
        raise StoreUnavailable(f"The response store is unreachable: {type(exc).__name__}. Try again shortly.") \
            from None


async def _expand(request: web.Request, doc: dict[str, Any], caller: KeyInfo | None) -> dict[str, Any]:
    """``previous_response_id`` replaced by the conversation it names, prepended to ``input``."""
    prev = doc.get("previous_response_id")
    if prev is None:
        return doc
    if not isinstance(prev, str):
        raise InvalidRequest("previous_response_id must be a string", param="previous_response_id")
    data = await _stored(request, prev, caller)
    if data is None:
        raise InvalidRequest(f"Previous response with id '{prev}' not found.", param="previous_response_id")
    out = {k: v for k, v in doc.items() if k != "previous_response_id"}
    out["input"] = [*data["input"], *data["output"], *_as_items(doc.get("input"))]
    return out


def _continuing(doc: dict[str, Any]) -> str | None:
    prev = doc.get("previous_response_id")
    return prev if isinstance(prev, str) else None


def _keep(request: web.Request, req: ChatRequest, caller_id: str | None, response: dict[str, Any]) -> None:
    """Store the conversation this response ends, under the id its client saw."""
    if not response.get("id"):
        return
    body = req.inbound.body  # type: ignore[union-attr]
    request.app[GATEWAY].responses.put(response["id"], caller_id, {
        "input": _as_items(body.get("input")), "output": response.get("output") or [], "response": response})


async def create(request: web.Request) -> web.StreamResponse:
    seen: dict[str, Any] = {}  # what prepare learns before the body is rewritten: the caller, the id it continues

    def decode(doc: dict[str, Any], _: web.Request) -> tuple[ChatRequest, list[str]]:
        return decode_responses(doc)

    async def prepare(doc: dict[str, Any], caller: KeyInfo | None) -> dict[str, Any]:
        seen["caller"], seen["previous"] = caller, _continuing(doc)
        return await _expand(request, doc, caller)

    headers, req, result = await run_exchange(request, decode, "responses", "openai-responses", prepare=prepare)
    if isinstance(result, TierrouteError):
        return error_response(result, headers)
    assert req is not None
    previous = req.inbound.continues = seen["previous"]  # type: ignore[union-attr]
    caller_id = seen["caller"].id if seen["caller"] is not None else None
    store = req.inbound.body.get("store") is not False  # type: ignore[union-attr]
    rid = "resp_" + headers["X-Request-Id"].removeprefix("req_")
    if isinstance(result, ChatResponse):
        body, obj = encode_response(result, req, rid)
        if obj is None and (store or previous is not None):  # forwarded: the vendor's Response object
            try:
                obj = _decode(body)
            except msgspec.DecodeError:
                obj = {"id": rid, "output": output_items(result, req)}
            if previous is not None and isinstance(obj, dict):  # tierroute expanded it: say so, as OpenAI would
                obj["previous_response_id"] = previous
                body = msgspec.json.encode(obj)
        if obj is not None and store:
            _keep(request, req, caller_id, obj)
        return web.Response(body=body, headers=headers, content_type="application/json")
    resp = web.StreamResponse(headers={**headers, **SSE_HEADERS})
    await resp.prepare(request)
    done: list[dict[str, Any]] = []
    try:
        async for event in stream_events(result.__aiter__(), req, rid, done):
            await resp.write(event)
    except ConnectionResetError:
        log.info("client left stream %s", headers["X-Request-Id"])
    finally:
        await result.finish()
    if done and store:
        _keep(request, req, caller_id, done[-1])
    return resp


async def _lookup(request: web.Request) -> dict[str, Any]:
    gw = request.app[GATEWAY]
    caller = authenticate(request, gw)
    rid = request.match_info["id"]
    data = await _stored(request, rid, caller)
    if data is None:
        raise _not_found(rid)
    return data


async def retrieve(request: web.Request) -> web.Response:
    try:
        data = await _lookup(request)
    except TierrouteError as e:
        return error_response(e)
    return web.json_response(data["response"])


async def input_items(request: web.Request) -> web.Response:
    try:
        data = await _lookup(request)
    except TierrouteError as e:
        return error_response(e)
    items = data["input"]
    ids = [i.get("id") for i in items if isinstance(i, dict)]
    return web.json_response({"object": "list", "data": items, "first_id": ids[0] if ids else None,
                              "last_id": ids[-1] if ids else None, "has_more": False})


async def delete(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    rid = request.match_info["id"]
    try:
        caller = authenticate(request, gw)
        try:
            gone = await gw.responses.delete(rid, caller.id if caller else None)
        except Exception as exc:
            raise StoreUnavailable(f"The response store is unreachable: {type(exc).__name__}.") from None
        if not gone:
            raise _not_found(rid)
    except TierrouteError as e:
        return error_response(e)
    return web.json_response({"id": rid, "object": "response.deleted", "deleted": True})
