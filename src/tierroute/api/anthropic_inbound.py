"""Our answers in the Anthropic Messages dialect: the Message JSON, its SSE events, its errors.

A forwarded answer (an Anthropic model answered an Anthropic request, ``ChatResponse.raw`` /
``ChatChunk.raw`` set) goes back byte for byte: thinking blocks with their signatures, cache usage,
fields tierroute does not know. A translated one is built here from our types: text, tool_use and
(Anthropic-written) thinking blocks, ``stop_reason`` and ``stop_sequence``, and usage with
``cache_creation_input_tokens`` / ``cache_read_input_tokens`` apart. The request side is in
``anthropic_request``. Only the first choice is returned.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web
from msgspec import UNSET

from tierroute.api.relay import first_chunk, follow
from tierroute.errors import TierrouteError
from tierroute.types import ChatChunk, ChatResponse, ThinkingPart, Usage

_encode = msgspec.json.encode
_decode = msgspec.json.decode


_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def _msg_id(raw: str) -> str:
    if raw.startswith("msg_"):
        return raw
    return "msg_" + (raw.removeprefix("chatcmpl-") or uuid.uuid4().hex[:24])


def _tool_input(arguments: str) -> Any:
    try:
        return _decode(arguments) if arguments.strip() else {}
    except msgspec.DecodeError:
        return {"_raw": arguments}  # the model wrote broken JSON; keep it visible rather than lose it


def usage_json(u: Usage) -> dict[str, int]:
    """Anthropic counts uncached input, cache writes and cache reads apart (``input_tokens`` excludes both)."""
    write, read = u.cache_write(), u.cache_read()
    return {"input_tokens": max(0, u.prompt_tokens - write - read), "output_tokens": u.completion_tokens,
            "cache_creation_input_tokens": write, "cache_read_input_tokens": read}


def _thinking_json(t: ThinkingPart) -> dict[str, Any] | None:
    if t.origin != "anthropic":
        return None  # another vendor's reasoning has no signature Anthropic clients could send back
    if t.redacted is not UNSET:
        return {"type": "redacted_thinking", "data": t.redacted}
    return {"type": "thinking", "thinking": t.thinking, "signature": t.signature if t.signature is not UNSET else ""}


def encode_message(resp: ChatResponse) -> bytes:
    """Our response as an Anthropic Message (first choice only); a forwarded one as the vendor sent it."""
    if resp.raw is not UNSET:
        return resp.raw  # type: ignore[return-value]
    content: list[dict[str, Any]] = []
    stop = "end_turn"
    stop_sequence = resp.stop_sequence if resp.stop_sequence is not UNSET else None
    if resp.choices:
        ch = resp.choices[0]
        for t in ch.message.reasoning if ch.message.reasoning is not UNSET else ():
            if (block := _thinking_json(t)) is not None:
                content.append(block)
        if ch.message.content:
            content.append({"type": "text", "text": ch.message.content})
        for tc in ch.message.tool_calls or ():
            content.append({"type": "tool_use", "id": tc.id, "name": tc.function.name,
                            "input": _tool_input(tc.function.arguments)})
        stop = _STOP.get(ch.finish_reason or "stop", "end_turn")
        if stop == "end_turn" and stop_sequence is not None:
            stop = "stop_sequence"
    return _encode({
        "id": _msg_id(resp.id), "type": "message", "role": "assistant", "model": resp.model,
        "content": content, "stop_reason": stop, "stop_sequence": stop_sequence,
        "usage": usage_json(resp.usage),
    })


def _event(name: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


_ERROR_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
                413: "request_too_large", 429: "rate_limit_error", 503: "overloaded_error", 529: "overloaded_error",
                504: "timeout_error"}


def error_status(err: TierrouteError) -> int:
    """The HTTP status Anthropic would use: 529 for overload (Claude clients retry it specially)."""
    return 529 if err.type == "overloaded_error" else err.status


def error_body(err: TierrouteError) -> bytes:
    """Anthropic's error JSON for any of our errors: the caller's other 4xx are
    ``invalid_request_error``, and ``api_error`` is Anthropic's own failure (5xx)."""
    etype = _ERROR_TYPES.get(err.status, "invalid_request_error" if err.status < 500 else "api_error")
    return _encode({"type": "error", "error": {"type": etype, "message": err.message}})


def error_response(err: TierrouteError, headers: dict[str, str] | None = None) -> web.Response:
    """The whole HTTP answer for an error on an Anthropic path (the handler's, a guard's, the router's)."""
    return web.Response(body=error_body(err), status=error_status(err), content_type="application/json",
                        headers={**(headers or {}), **err.headers()})


async def _relay(first: ChatChunk, it: AsyncIterator[ChatChunk]) -> AsyncIterator[bytes]:
    """A forwarded stream: the vendor's own events, in order; tierroute adds nothing."""
    try:
        async for chunk in follow(first, it):
            if chunk.raw is not UNSET:
                yield chunk.raw  # type: ignore[misc]
    except TierrouteError as err:
        yield b"event: error\ndata: " + error_body(err) + b"\n\n"


async def stream_events(chunks: AsyncIterator[ChatChunk]) -> AsyncIterator[bytes]:
    """Anthropic SSE events from our chunks (first choice only), or a forwarded stream's own.

    Nothing is emitted until the first chunk arrives, so an error before it propagates to the
    caller, who can still answer with an HTTP error. A ``TierrouteError`` after that becomes an
    ``event: error`` and ends the stream (never a silent clean end)."""
    first, it = await first_chunk(chunks)
    if first is not None and first.raw is not UNSET:
        async for event in _relay(first, it):
            yield event
        return
    model = first.model if first else ""
    msg_id = _msg_id(first.id if first else "")
    yield _event("message_start", {"type": "message_start", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 0, "output_tokens": 0}}})
    block = -1  # index of the open content block, -1 when none
    open_kind: str | None = None
    open_tool: int | None = None
    finish: str | None = None
    usage = None
    try:
        async for chunk in follow(first, it):
            if chunk.usage is not None:
                usage = chunk.usage
            for ch in chunk.choices:
                if ch.index != 0:
                    continue
                d = ch.delta
                if d.content:
                    if open_kind != "text":
                        if open_kind is not None:
                            yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
                        block += 1
                        open_kind, open_tool = "text", None
                        yield _event("content_block_start", {"type": "content_block_start", "index": block,
                                                             "content_block": {"type": "text", "text": ""}})
                    yield _event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                         "delta": {"type": "text_delta", "text": d.content}})
                for tcd in d.tool_calls or ():
                    fn = tcd.function or {}
                    if open_kind != "tool" or tcd.index != open_tool:
                        if open_kind is not None:
                            yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
                        block += 1
                        open_kind, open_tool = "tool", tcd.index
                        yield _event("content_block_start", {"type": "content_block_start", "index": block,
                                                             "content_block": {
                                                                 "type": "tool_use",
                                                                 "id": tcd.id or "toolu_" + uuid.uuid4().hex[:24],
                                                                 "name": fn.get("name", ""), "input": {}}})
                    if fn.get("arguments"):
                        yield _event("content_block_delta", {"type": "content_block_delta", "index": block,
                                                             "delta": {"type": "input_json_delta",
                                                                       "partial_json": fn["arguments"]}})
                if ch.finish_reason is not None:
                    finish = ch.finish_reason
    except TierrouteError as err:
        yield b"event: error\ndata: " + error_body(err) + b"\n\n"
        return
    if open_kind is not None:
        yield _event("content_block_stop", {"type": "content_block_stop", "index": block})
    u: dict[str, int] = usage_json(usage) if usage is not None else {"output_tokens": 0}
    yield _event("message_delta", {"type": "message_delta",
                                   "delta": {"stop_reason": _STOP.get(finish or "stop", "end_turn"),
                                             "stop_sequence": None},
                                   "usage": u})
    yield _event("message_stop", {"type": "message_stop"})
